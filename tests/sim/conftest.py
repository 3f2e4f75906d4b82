"""Fixtures for the simulator behaviour tests."""

import pytest

from simarm import READONLY, Arm


@pytest.fixture
def arm(sim):
    return Arm(sim)


@pytest.fixture
def readonly_arm(sim):
    return Arm(sim, *READONLY)
