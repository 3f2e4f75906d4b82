"""Run real ``ansible-playbook`` / ``ansible`` processes against the simulator (shared by integration tests).

Every child gets: the venv's bin first on PATH, ANSIBLE_COLLECTIONS_PATH=.tmp/collections, the simulator's
AZURE_* / REQUESTS_CA_BUNDLE env (pass ``sim.env()`` merged env, e.g. the ``sim_env`` fixture), host key
checking off, the JSON callback for machine-readable results (``ansible`` ad hoc uses the ``json`` callback too via
ANSIBLE_LOAD_CALLBACK_PLUGINS), and ``-e ansible_python_interpreter=<venv python>``.

API:
- ``run_playbook(playbook, env, inventory=None, extra_vars=None, args=(), check=False, diff=False, timeout=600)``
  -> Result. ``playbook`` is YAML text or a list of plays (dicts) or a path.
- ``run_adhoc(pattern, module, module_args, env, inventory=None, extra_vars=None, args=(), check=False, diff=False,
  timeout=600)`` -> Result. ``module_args`` is a dict (sent as JSON) or a string.
- ``write_inventory(tmp_path, hosts, groups=None)`` -> path of an INI/YAML inventory; ``hosts`` maps host name to
  host vars.
- ``client_env(sim, ansible_cli=False)`` -> os.environ with ``sim.env()`` over it (the env of a child process that
  signs in to ``sim``, any simulator); ``ansible_cli=True`` also for running ``ansible-inventory`` & co. directly.
- ``strip_unsafe(value)`` -> ansible-inventory's JSON without its ``{'__ansible_unsafe': ...}`` wrappers.
- ``collection_playbook(name)`` -> path of playbooks/NAME.yml; ``published_stats(result, key)`` -> the last value
  a run published under ``key`` with set_stats.
- ``fleet_on_test_principals(resource_groups, **extra)`` -> a fleet dict on the test fleet's principals.
- ``Result``: ``rc``, ``stdout``, ``stderr``, ``data`` (parsed JSON callback output or None), ``host_results(task=-1)``
  -> {host: result dict} for one task of the (last) play, ``stats`` -> {host: {ok, changed, failures, ...}},
  ``text`` (stdout + stderr, for secret checks).
"""

import json
import os
import subprocess
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, '.tmp', 'collections')
VENV_BIN = os.path.dirname(sys.executable)
PYTHON = sys.executable


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = None
        try:
            start = self.stdout.index('{')
            self.data = json.loads(self.stdout[start:])
        except ValueError:
            self.data = None

    @property
    def text(self):
        return (self.stdout or '') + (self.stderr or '')

    def reveals(self, secret):
        """True when ``secret`` is in the output, also where a wrapped warning (ansible-core < 2.19 wraps them at
        79 columns, also at hyphens) split it across lines."""
        return secret in self.text or ''.join(secret.split()) in ''.join(self.text.split())

    def host_results(self, task=-1, play=-1):
        if not self.data:
            raise AssertionError('no JSON output (rc=%s):\n%s' % (self.rc, self.text[-4000:]))
        tasks = self.data['plays'][play]['tasks']
        return tasks[task]['hosts']

    def result(self, host='localhost', task=-1, play=-1):
        return self.host_results(task, play)[host]

    @property
    def stats(self):
        return (self.data or {}).get('stats', {})

    def __repr__(self):
        return 'Result(rc=%s)\n%s' % (self.rc, self.text[-3000:])


def _env(env):
    out = dict(env or os.environ)
    out['PATH'] = VENV_BIN + os.pathsep + out.get('PATH', '')
    out['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_DIR
    out['ANSIBLE_HOST_KEY_CHECKING'] = 'False'
    out['ANSIBLE_CALLBACK_PLUGINS'] = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'callback_plugins')
    out['ANSIBLE_STDOUT_CALLBACK'] = 'vmr_json'
    out['ANSIBLE_LOAD_CALLBACK_PLUGINS'] = '1'
    out['ANSIBLE_CALLBACK_RESULT_FORMAT'] = 'json'
    out['ANSIBLE_NOCOLOR'] = '1'
    out['ANSIBLE_RETRY_FILES_ENABLED'] = 'False'
    out['ANSIBLE_LOCAL_TEMP'] = os.path.join(REPO_ROOT, '.tmp', 'ansible-local')
    out['ANSIBLE_DEPRECATION_WARNINGS'] = 'False'
    out.pop('PYTHONPATH', None)
    return out


def _common(inventory, extra_vars, check, diff):
    args = []
    args += ['-i', inventory or 'localhost,']
    args += ['-e', 'ansible_python_interpreter=%s' % PYTHON]
    if extra_vars:
        args += ['-e', json.dumps(extra_vars)]
    if check:
        args.append('--check')
    if diff:
        args.append('--diff')
    return args


def _run(cmd, env, timeout, cwd):
    proc = subprocess.run(cmd, env=_env(env), capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return Result(proc)


def run_playbook(
    playbook, env, inventory=None, extra_vars=None, args=(), check=False, diff=False, timeout=600, workdir=None
):
    workdir = workdir or os.path.join(REPO_ROOT, '.tmp', 'integration')
    os.makedirs(workdir, exist_ok=True)
    if isinstance(playbook, (list, dict)) or (isinstance(playbook, str) and '\n' in playbook):
        text = (
            playbook
            if isinstance(playbook, str)
            else yaml.safe_dump(playbook if isinstance(playbook, list) else [playbook], sort_keys=False)
        )
        import tempfile

        fd, path = tempfile.mkstemp(suffix='.yml', dir=workdir)
        with os.fdopen(fd, 'w') as fh:
            fh.write(text)
        playbook = path
    cmd = (
        [os.path.join(VENV_BIN, 'ansible-playbook')]
        + _common(inventory, extra_vars, check, diff)
        + list(args)
        + [playbook]
    )
    return _run(cmd, env, timeout, workdir)


def run_adhoc(
    pattern,
    module,
    module_args,
    env,
    inventory=None,
    extra_vars=None,
    args=(),
    check=False,
    diff=False,
    timeout=600,
    workdir=None,
):
    workdir = workdir or os.path.join(REPO_ROOT, '.tmp', 'integration')
    os.makedirs(workdir, exist_ok=True)
    margs = json.dumps(module_args) if isinstance(module_args, dict) else (module_args or '')
    cmd = (
        [os.path.join(VENV_BIN, 'ansible'), pattern]
        + _common(inventory, extra_vars, check, diff)
        + ['-m', module]
        + (['-a', margs] if margs else [])
        + list(args)
    )
    return _run(cmd, env, timeout, workdir)


def write_inventory(tmp_path, hosts, groups=None, name='inventory.yml'):
    """YAML inventory: ``hosts`` {name: vars} in group ``all`` (or in ``groups`` {group: [names]})."""
    inv = {'all': {'hosts': {}, 'children': {}}}
    grouped = set()
    for group, names in (groups or {}).items():
        inv['all']['children'][group] = {'hosts': dict((n, hosts[n]) for n in names)}
        grouped.update(names)
    for h, v in hosts.items():
        if h not in grouped:
            inv['all']['hosts'][h] = v
    path = os.path.join(str(tmp_path), name)
    with open(path, 'w') as fh:
        yaml.safe_dump(inv, fh, sort_keys=False)
    return path


def fleet_on_test_principals(resource_groups, **extra):
    """A fleet with the given resource groups and the test fleet's tenant, subscription and principals, so that
    ``sim.env()`` of the session simulator still signs in to a simulator started with it."""
    with open(os.path.join(REPO_ROOT, 'tests', 'armsim', 'fleets', 'test.yaml')) as fh:
        base = yaml.safe_load(fh)
    fleet = {
        'tenant_id': base['tenant_id'],
        'subscription_id': base['subscription_id'],
        'principals': base['principals'],
        'resource_groups': resource_groups,
    }
    fleet.update(extra)
    return fleet


def client_env(sim, ansible_cli=False):
    """os.environ with the simulator's client variables (``sim.env()``) over it, for a child process that signs in to
    ``sim``. ``ansible_cli``: for ansible-inventory & co. run directly (run_playbook/run_adhoc set these themselves):
    the venv's bin first on PATH, the collection path, no PYTHONPATH."""
    out = dict(os.environ)
    out.update(sim.env())
    if ansible_cli:
        out['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_DIR
        out['PATH'] = VENV_BIN + os.pathsep + out.get('PATH', '')
        out.pop('PYTHONPATH', None)
    return out


def strip_unsafe(value):
    """ansible-inventory 2.19 marks plugin-provided strings as unsafe in its JSON ({'__ansible_unsafe': ...})."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:
            return value['__ansible_unsafe']
        return dict((k, strip_unsafe(v)) for k, v in value.items())
    if isinstance(value, list):
        return [strip_unsafe(v) for v in value]
    return value


def collection_playbook(name):
    return os.path.join(REPO_ROOT, 'playbooks', name + '.yml')


def published_stats(result, key):
    """The summary the run published with set_stats (the task result of the set_stats task)."""
    found = []
    for play in (result.data or {}).get('plays', []):
        for task in play['tasks']:
            for hres in task['hosts'].values():
                data = (hres.get('ansible_stats') or {}).get('data') or {}
                if key in data:
                    found.append(data[key])
    assert found, 'no set_stats %s in the run:\n%r' % (key, result)
    return found[-1]
