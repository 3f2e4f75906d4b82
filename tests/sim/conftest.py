"""Fixtures for the simulator behaviour tests."""

import os

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


RESCUE_FLEET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'armsim', 'fleets', 'rescue.yaml'
)


@pytest.fixture
def rescue(sim):
    """An ARM client on the session simulator reset to fleets/rescue.yaml (unbootable VMs, a rescue network)."""
    sim.control.reset(RESCUE_FLEET)
    return Arm(sim)
