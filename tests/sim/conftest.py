"""Fixtures for the simulator behaviour tests."""

import pytest
from refusals import REFUSALS_FLEET

from simarm import READONLY, Arm


@pytest.fixture
def arm(sim):
    return Arm(sim)


@pytest.fixture
def readonly_arm(sim):
    return Arm(sim, *READONLY)


@pytest.fixture
def ref(sim):
    """An ARM client of the automation principal on the session simulator reset to fleets/refusals.yaml."""
    sim.control.reset(REFUSALS_FLEET)
    return Arm(sim)
