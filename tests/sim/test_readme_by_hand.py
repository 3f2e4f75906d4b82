"""README's "The ARM simulator by hand" works as written from the repository root (only the port and the
/tmp paths are changed, so that parallel runs do not collide), and names every variable clients get from the
test harness."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _section():
    with open(os.path.join(REPO, 'README.md')) as fh:
        text = fh.read()
    return text.split('## The ARM simulator by hand', 1)[1].split('\n## ', 1)[0]


def _commands(section):
    block = section.split('```console\n', 1)[1].split('```', 1)[0]
    cmds, current = [], None
    for line in block.splitlines():
        if line.startswith('$ '):
            current = [line[2:]]
            cmds.append(current)
        elif current is not None:
            current.append(line)
    return ['\n'.join(c) for c in cmds]


def test_readme_simulator_commands_run_from_the_repo_root(tmp_path):
    section = _section()
    script = '\n'.join(_commands(section))
    script = script.replace('--port 8443', '--port 0').replace('/tmp/armsim', str(tmp_path / 'armsim'))
    script = 'set -e\nmkdir -p %s\n%s\nkill %%1\n' % (tmp_path / 'armsim', script)
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('AZURE_', 'ANSIBLE_', 'PYTHONPATH')))
    env['HOME'] = str(tmp_path)
    proc = subprocess.run(['bash', '-c', script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'localhost | SUCCESS' in proc.stdout and '"status": "RUNNING"' in proc.stdout, proc.stdout[-3000:]


def test_readme_names_the_client_variables():
    section = _section()
    import inspect

    from armsim.harness import Simulator

    harness_env = inspect.getsource(Simulator.env)
    needed = [
        'AZURE_CLIENT_ID',
        'AZURE_SECRET',
        'AZURE_TENANT',
        'AZURE_SUBSCRIPTION_ID',
        'AZURE_CLOUD_ENVIRONMENT',
        'REQUESTS_CA_BUNDLE',
    ]
    # the harness names each variable as a string literal (in the one quote style ruff keeps)
    assert all("'%s'" % n in harness_env or '"%s"' % n in harness_env for n in needed)
    for name in needed:
        assert re.search(r'`%s`' % name, section), name
    assert 'two\nminutes' in section or 'two minutes' in section
