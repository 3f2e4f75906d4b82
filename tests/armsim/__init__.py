"""armsim: a local Azure Resource Manager + Entra ID simulator for the vmrescue.azure tests.

Run it with ``python -m armsim --fleet FILE``; drive it from tests with :mod:`armsim.harness`.
The contract is in docs/design.md ("Simulator contract"); the Azure behaviour it reproduces is
described in the shared azure-facts.md.
"""
