"""The Azure CLI harness: where ``az`` is, the private config dir and environment it runs with, logging it in to the
ARM simulator, and running one command. Used by the fidelity tier (tests/fidelity/test_azcli.py), the unit tests
that run the CLI's own functions (tests/unit/test_vmaccess_*), and the benchmark (bench/run.py).

The CLI lives in its own cached virtualenv (``make azcli``, version AZCLI_VERSION as in the Makefile); the
``VMRESCUE_AZ`` environment variable names its ``az`` (``make`` exports it), else the cache's default path is used.

Public names:
- AZCLI_VERSION, CLOUD (the simulator's cloud name), AZ_TIMEOUT
- az_executable() -> path of az (may not exist); az_usable() -> bool; az_python() -> the CLI venv's python or None
- cli_env(az, home, ca_file, base=None) -> the environment az runs with (private HOME and AZURE_CONFIG_DIR)
- AzCli(home, ca_file, secrets, az=None, base_env=None, fail=None): run(*args), json(*args), redact(text),
  secret_file(name, value), login(sim) (cloud registration + service-principal login); a failure calls ``fail(msg)``
  (default: raise AzCliError); secrets are replaced by ``***`` in every message
- run_cli_functions(os_type, calls, args) -> the VMExtensionCreate arguments the CLI's vm commands built
"""

import json
import os
import subprocess
import sys
import time

AZCLI_VERSION = '2.91.0'  # the Makefile's AZCLI_VERSION (tests/unit/test_azcli_harness.py checks they agree)
CLOUD = 'armsim'
AZ_TIMEOUT = 120
DEFAULT_AZ = os.path.join('~', '.cache', 'vmrescue-azure', 'azcli-' + AZCLI_VERSION, 'bin', 'az')


class AzCliError(RuntimeError):
    """An az command failed (its message is already redacted)."""


def az_executable():
    return os.environ.get('VMRESCUE_AZ') or os.path.expanduser(DEFAULT_AZ)


def az_usable():
    az = az_executable()
    return os.path.isfile(az) and os.access(az, os.X_OK)


def az_python():
    """The python of the Azure CLI virtualenv (to import the CLI's own modules), or None when it is not installed."""
    py = os.path.join(os.path.dirname(az_executable()), 'python')
    return py if os.path.exists(py) else None


def cli_env(az, home, ca_file, base=None):
    """az's environment: ``base`` (default: nothing of the caller's but PATH) plus a private HOME and config dir (the
    real ~/.azure and ~/.ssh are never read or written), the simulator's CA, no telemetry, prompts or colour."""
    env = dict(base or {})
    env.update(
        {
            'PATH': os.path.dirname(az) + os.pathsep + (env.get('PATH') or os.environ.get('PATH', '/usr/bin:/bin')),
            'HOME': home,
            'AZURE_CONFIG_DIR': os.path.join(home, '.azure'),
            'REQUESTS_CA_BUNDLE': ca_file,
            'SSL_CERT_FILE': ca_file,
            'AZURE_CORE_COLLECT_TELEMETRY': 'false',
            'AZURE_CORE_ONLY_SHOW_ERRORS': 'true',
            'AZURE_CORE_NO_COLOR': 'true',
            'AZURE_CORE_SURVEY_MESSAGE': 'false',
            'NO_PROXY': '127.0.0.1,localhost',
        }
    )
    env.setdefault('LANG', 'C.UTF-8')
    return env


def _raise(msg):
    raise AzCliError(msg)


def _text(stream):
    return stream.decode(errors='replace') if isinstance(stream, bytes) else (stream or '')


class AzCli:
    """Runs az with a private config dir and the simulator's CA; never shows a secret."""

    def __init__(self, home, ca_file, secrets, az=None, base_env=None, fail=None):
        self.az = az or az_executable()
        self.home = home
        self.secrets = [s for s in secrets if s]
        self.env = cli_env(self.az, home, ca_file, base_env)
        self.fail = fail or _raise

    def redact(self, text):
        for secret in self.secrets:
            text = text.replace(secret, '***')
        return text

    def secret_file(self, name, value):
        """A 0600 file holding ``value``, for ``--password=@FILE``."""
        path = os.path.join(self.home, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as fh:
            fh.write(value)
        return path

    def run(self, *args, check=True, timeout=AZ_TIMEOUT):
        shown = self.redact('az ' + ' '.join(args))
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [self.az, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
            )
        except subprocess.TimeoutExpired as exc:
            out, err = self.redact(_text(exc.stdout)), self.redact(_text(exc.stderr))
            return self.fail('%s timed out after %ss\nstdout:\n%s\nstderr:\n%s' % (shown, timeout, out, err))
        if os.environ.get('VMRESCUE_AZ_TRACE'):
            sys.stderr.write('%.2fs %s\n' % (time.monotonic() - started, shown))
        if check and proc.returncode != 0:
            self.fail(
                '%s exited %d\nstdout:\n%s\nstderr:\n%s'
                % (shown, proc.returncode, self.redact(proc.stdout), self.redact(proc.stderr))
            )
        return proc

    def json(self, *args, timeout=AZ_TIMEOUT):
        proc = self.run(*args, '-o', 'json', timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return self.fail('az %s printed no JSON:\n%s' % (self.redact(' '.join(args)), self.redact(proc.stdout)))

    def login(self, sim, timeout=AZ_TIMEOUT):
        """Register the simulator as the cloud CLOUD, make it current, and log in with the simulator's service
        principal (the secret only in a 0600 file, removed afterwards) -> the accounts az lists."""
        self.secrets.append(sim.client_secret)
        base_url = sim.base_url.rstrip('/')
        self.run('cloud', 'register', '-n', CLOUD, '--endpoint-resource-manager', base_url, timeout=timeout)
        self.run('cloud', 'set', '-n', CLOUD, timeout=timeout)
        self.run('config', 'set', 'core.instance_discovery=false', timeout=timeout)
        secret = self.secret_file('sp-secret', sim.client_secret)
        try:
            return self.json(
                'login',
                '--service-principal',
                '-u',
                sim.client_id,
                '--password=@' + secret,
                '--tenant',
                sim.tenant_id,
                timeout=timeout,
            )
        finally:
            os.unlink(secret)


# Runs in the CLI's virtualenv: the vm command module's functions with VMShow answering a fixed VM and
# VMExtensionCreate recording its arguments instead of calling ARM. {os_type} and the calls are filled in.
_CAPTURE = r"""
import json, sys, types
import azure.cli.command_modules.vm.custom as c
import azure.cli.command_modules.vm.operations.vm_extension as ve
import azure.cli.command_modules.vm.operations.vm as vmops
args = json.loads(sys.argv[1])
captured = []
class Create:
    def __init__(self, cli_ctx=None): pass
    def __call__(self, command_args): captured.append(command_args)
VM = {"name": "vm1", "location": "westeurope", "storageProfile": {"osDisk": {"osType": "%s"}},
      "instanceView": {"extensions": args["existing"]}, "resources": []}
class Show:
    def __init__(self, cli_ctx=None): pass
    def __call__(self, command_args): return VM
ve.VMExtensionCreate = Create
vmops.VMShow = Show
c.ExtensionUpdateLongRunningOperation = lambda *a, **k: (lambda poller: poller)
cmd = types.SimpleNamespace(cli_ctx=None)
%s
print(json.dumps(captured))
"""


def run_cli_functions(os_type, calls, args):
    """Run ``calls`` (Python lines using ``c`` = the CLI's vm custom module, ``cmd`` and ``args``) on a fixed
    ``os_type`` VM whose instance view lists ``args['existing']`` -> the recorded VMExtensionCreate arguments."""
    out = subprocess.run(
        [az_python(), '-c', _CAPTURE % (os_type, calls), json.dumps(args)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
