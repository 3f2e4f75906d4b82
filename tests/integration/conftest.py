"""Integration-tier fixtures (the shared ones are in tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _private_home(monkeypatch, tmp_path):
    """Each integration test's ansible processes get their own HOME: the collection's shared token cache
    (~/.IdentityService/vmrescue.azure.*) then holds only this test's tokens (a test's token count starts at
    zero), and nothing is written to the real home directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home
