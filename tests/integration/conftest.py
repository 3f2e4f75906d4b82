"""Integration-tier fixtures (the shared ones are in tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _private_home(monkeypatch, tmp_path):
    """Each integration test's ansible processes get their own HOME: the collection's shared token cache
    (~/.IdentityService/vmrescue.azure.*) then holds only this test's tokens (a test's token count starts at
    zero), and nothing is written to the real home directory."""
    home = tmp_path / 'home'
    home.mkdir()
    monkeypatch.setenv('HOME', str(home))
    return home


# -- the RBAC actions the collection called across the tier (docs/docsite/vmrescue-azure-role.json) ------------
_SEEN_ACTIONS = {}


@pytest.fixture(autouse=True)
def _collect_rbac_actions(request):
    """After each test that used the session simulator: the RBAC actions of the ARM calls it logged."""
    yield
    if 'sim' not in request.fixturenames:
        return
    from rbac import actions_of

    sim = request.getfixturevalue('_sim_process')  # the session process behind `sim`, still running
    try:
        log = sim.control.requests()
    except Exception:  # pylint: disable=broad-except  # a test that stopped the simulator
        return
    for action in actions_of(log):
        _SEEN_ACTIONS.setdefault(action, request.node.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test saw the collection call an action the least-privilege role lacks."""
    if not _SEEN_ACTIONS:
        return
    from rbac import role_actions

    missing = sorted(set(_SEEN_ACTIONS) - role_actions())
    if missing:
        lines = ['%s (first seen in %s)' % (a, _SEEN_ACTIONS[a]) for a in missing]
        session.config.get_terminal_writer().line(
            'docs/docsite/vmrescue-azure-role.json lacks actions the collection called:\n  ' + '\n  '.join(lines),
            red=True,
        )
        session.exitstatus = 1
