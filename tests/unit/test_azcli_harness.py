"""The Azure CLI harness (tests/azcli.py) itself: it names the CLI version the Makefile installs, runs az with a
private home and the simulator's CA only, and never shows a secret. No az process is started."""

import os
import re

import pytest

import azcli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_harness_names_the_version_the_makefile_installs():
    with open(os.path.join(REPO, 'Makefile')) as fh:
        (version,) = re.findall(r'^AZCLI_VERSION := (\S+)$', fh.read(), re.M)
    assert azcli.AZCLI_VERSION == version
    assert ('azcli-%s' % version) in azcli.DEFAULT_AZ


def test_vmrescue_az_names_the_cli(monkeypatch):
    monkeypatch.setenv('VMRESCUE_AZ', '/opt/az/bin/az')
    assert azcli.az_executable() == '/opt/az/bin/az'
    monkeypatch.delenv('VMRESCUE_AZ')
    assert azcli.az_executable() == os.path.expanduser(azcli.DEFAULT_AZ)


def test_cli_env_is_private(tmp_path):
    env = azcli.cli_env('/opt/az/bin/az', str(tmp_path), '/tmp/ca.pem', base={'PATH': '/usr/bin', 'LANG': 'de_DE'})
    assert env['PATH'] == '/opt/az/bin' + os.pathsep + '/usr/bin'
    assert env['HOME'] == str(tmp_path) and env['AZURE_CONFIG_DIR'] == os.path.join(str(tmp_path), '.azure')
    assert env['REQUESTS_CA_BUNDLE'] == env['SSL_CERT_FILE'] == '/tmp/ca.pem'
    assert env['AZURE_CORE_COLLECT_TELEMETRY'] == 'false' and env['LANG'] == 'de_DE'
    assert azcli.cli_env('/opt/az/bin/az', str(tmp_path), '/tmp/ca.pem')['LANG'] == 'C.UTF-8'


def test_a_failure_never_shows_a_secret(tmp_path):
    cli = azcli.AzCli(str(tmp_path), '/tmp/ca.pem', ['s3cr3t-value', ''], az='/bin/false')
    with pytest.raises(azcli.AzCliError) as err:
        cli.run('login', '--password', 's3cr3t-value')
    assert 's3cr3t-value' not in str(err.value) and 'az login --password *** exited 1' in str(err.value)
    path = cli.secret_file('pw', 's3cr3t-value')
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
