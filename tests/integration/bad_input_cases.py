# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input table (issue 12): every case is refused with a message naming the option, before any write.

A case is ``(case_id, plugin, args, words)``: ``plugin`` is a module (``proxy_agent_key_reset``, ``vmaccess_linux``,
``vmaccess_windows``, ``batch_result``), ``lookup`` (key_latch_status: ``args`` = ``{'terms': [...], 'opts': {...}}``),
``inventory`` (vms: ``args`` = the inventory source's YAML options) or a role (``role:<name>``: ``args`` = role vars);
(``run_command``: ``_r``), ``words`` must all appear in the failure message. Values are Jinja strings where they use the known secrets
(``vm_password``, ``client_secret``, ``private_key``: play vars, never written inline) or the VM IDs (``lin``,
``win``, ``lin2``). test_bad_input_table.py runs them, many per ansible process.
"""

import base64
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

PASSWORD = 'Zq7-BadInput-Vm-Passw0rd-9313'
SHORT_RECORD_KEY = 'rk-Sh0rt-k3y'  # a record key too short (12 characters): refused, never echoed
_PRIV = ed25519.Ed25519PrivateKey.generate()
PRIVATE_KEY = _PRIV.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
).decode()
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_RSA_PEM = _RSA.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()
PUTTY_KEY = (
    'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key\nPublic-Lines: 2\n'
    'AAAAC3NzaC1lZDI1NTE5AAAAIDLD+lODql6zyvSYMiI7cpaf5tezh2fApbOXBlQThDPZ\nPrivate-Lines: 1\n'
    'AAAAIBzQ3mXWbTqz1uVlFpSxBz9cGzY2YxL7aN5kqWZyq8mY\nPrivate-MAC: 0a1b2c3d\n'
)
SECRET_MARKERS = (
    [PASSWORD]
    + [
        ln for ln in PRIVATE_KEY.splitlines() + PRIVATE_RSA_PEM.splitlines() if len(ln) > 20 and 'PRIVATE KEY' not in ln
    ][:6]
    + ['AAAAIBzQ3mXWbTqz1uVlFpSxBz9c']
    + [SHORT_RECORD_KEY]
)


def _pub(key):
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


ED = _pub(ed25519.Ed25519PrivateKey.generate())
RSA = _pub(_RSA)
ED_B64 = ED.split()[1]
RSA_B64 = RSA.split()[1]


def _blob_line(key_type, *fields):
    blob = b''.join(struct.pack('>I', len(f)) + f for f in (key_type.encode(),) + fields)
    return '%s %s' % (key_type, base64.b64encode(blob).decode())


PW = '{{ vm_password }}'
LIN = '{{ lin }}'
WIN = '{{ win }}'

P = 'proxy_agent_key_reset'
S = 'proxy_agent_settings'
L = 'vmaccess_linux'
W = 'vmaccess_windows'
B = 'batch_result'
R = 'run_command'
LK = 'lookup'
INV = 'inventory'


def _p(cid, words, **args):
    a = dict(vm_id=LIN)
    a.update(args)
    return (cid, P, dict((k, v) for k, v in a.items() if v is not None), words)


def _s(cid, words, **args):
    a = dict(vm_id=LIN)
    a.update(args)
    return (cid, S, dict((k, v) for k, v in a.items() if v is not None), words)


def _l(cid, words, **args):
    a = dict(vm_id=LIN)
    a.update(args)
    return (cid, L, dict((k, v) for k, v in a.items() if v is not None), words)


def _w(cid, words, **args):
    a = dict(vm_id=WIN)
    a.update(args)
    return (cid, W, dict((k, v) for k, v in a.items() if v is not None), words)


# ---- shared auth and target options, checked on every module (run here through proxy_agent_key_reset) ----------
AUTH = [
    _p(
        'auth-tenant-spaces',
        ['tenant is not a tenant'],
        state='reset',
        client_id='11111111-1111-4111-8111-111111111111',
        secret='{{ client_secret }}',
        tenant='not a tenant',
    ),
    _p(
        'auth-tenant-slash',
        ['tenant is not a tenant'],
        state='reset',
        client_id='11111111-1111-4111-8111-111111111111',
        secret='{{ client_secret }}',
        tenant='a/b',
    ),
    _p(
        'auth-client-id-word',
        ['client_id is not an application (client) ID'],
        state='reset',
        client_id='my-app',
        secret='{{ client_secret }}',
        tenant='8c1a4d5e-0000-4000-8000-00000000aaaa',
    ),
    _p(
        'auth-cert-not-a-cert',
        ['x509_certificate_path', 'is not a certificate'],
        state='reset',
        client_id='11111111-1111-4111-8111-111111111111',
        x509_certificate_path='{{ not_a_cert }}',
        tenant='8c1a4d5e-0000-4000-8000-00000000aaaa',
        auth_source='auto',
    ),
    _p(
        'auth-cert-missing',
        ['x509_certificate_path', 'does not exist'],
        state='reset',
        client_id='11111111-1111-4111-8111-111111111111',
        x509_certificate_path='/nonexistent/sp.pem',
        tenant='8c1a4d5e-0000-4000-8000-00000000aaaa',
    ),
    _p(
        'auth-cert-only-cert',
        ['x509_certificate_path', 'without its private key'],
        state='reset',
        client_id='11111111-1111-4111-8111-111111111111',
        x509_certificate_path='{{ cert_only }}',
        tenant='8c1a4d5e-0000-4000-8000-00000000aaaa',
    ),
    _p(
        'auth-subscription-word',
        ['subscription_id', 'not a subscription ID'],
        state='reset',
        resource_group='rg-linux',
        name='lin-ok',
        subscription_id='my-subscription',
        vm_id=None,
    ),
    _p('auth-secret-list', ['secret must be a string', 'a list'], state='reset', secret=['{{ client_secret }}']),
    _p(
        'auth-secret-dict',
        ['secret must be a string', 'a dictionary'],
        state='reset',
        secret={'v': '{{ client_secret }}'},
    ),
    _p('auth-tenant-int', ['tenant must be a string', 'a number'], state='reset', tenant=42),
    _p('auth-client-id-list', ['client_id must be a string'], state='reset', client_id=['a']),
    _p('auth-source-bad', ['auth_source', 'one of'], state='reset', auth_source='magic'),
    _p('auth-cert-mode-bad', ['cert_validation_mode', 'one of'], state='reset', cert_validation_mode='off'),
    _p('auth-token-cache-maybe', ['token_cache', 'bool'], state='reset', token_cache='maybe'),
    _p(
        'auth-disable-discovery-list',
        ['disable_instance_discovery must be true or false'],
        state='reset',
        disable_instance_discovery=['yes'],
    ),
    _p(
        'auth-cloud-http',
        ['cloud_environment', 'plain http'],
        state='reset',
        cloud_environment='http://metadata.example/metadata/endpoints',
    ),
    _p('auth-cloud-word', ['cloud_environment', 'neither a known cloud'], state='reset', cloud_environment='Mars'),
    _p('auth-adfs-http', ['not https'], state='reset', adfs_authority_url='http://adfs.example/adfs'),
    _p(
        'auth-allow-metadata-maybe',
        ['allow_unencrypted_cloud_metadata', 'bool'],
        state='reset',
        allow_unencrypted_cloud_metadata='perhaps',
    ),
    _p('auth-profile-list', ['profile must be a string'], state='reset', profile=['default']),
]

TARGET = [
    _p('target-none', ['no target'], state='reset', vm_id=None),
    _p('target-vm-id-word', ['vm_id', '/subscriptions/'], state='reset', vm_id='lin-ok'),
    _p('target-vm-id-list', ['vm_id must be a string', 'a list'], state='reset', vm_id=['{{ lin }}']),
    _p('target-vm-id-dict', ['vm_id must be a string', 'a dictionary'], state='reset', vm_id={'id': '{{ lin }}'}),
    _p(
        'target-vm-id-storage',
        ['vm_id'],
        state='reset',
        vm_id='/subscriptions/5b0c3e2a-0000-4000-8000-00000000bbbb/resourceGroups/rg/providers/Microsoft.Storage/'
        'storageAccounts/sa',
    ),
    _p('target-vm-id-and-name', ['mutually exclusive', 'vm_id', 'name'], state='reset', name='x'),
    _p('target-name-alone', ["required by 'name': resource_group"], state='reset', vm_id=None, name='lin-ok'),
    _p(
        'target-rg-alone',
        ['resource_group alone does not name a VM'],
        state='reset',
        vm_id=None,
        resource_group='rg-linux',
    ),
    _p(
        'target-rg-bad-chars',
        ['resource_group', 'character'],
        state='reset',
        vm_id=None,
        resource_group='rg?x',
        name='lin-ok',
    ),
    _p(
        'target-instance-without-vmss',
        ['vmss_name', 'instance_id'],
        state='reset',
        vm_id=None,
        resource_group='rg-vmss',
        instance_id='0',
    ),
    _p(
        'target-instance-id-list',
        ['instance_id must be a string'],
        state='reset',
        vm_id=None,
        resource_group='rg-vmss',
        vmss_name='ss-uniform',
        instance_id=[0],
    ),
    _p(
        'target-instance-id-bool',
        ['instance_id must be a string', 'a boolean'],
        state='reset',
        vm_id=None,
        resource_group='rg-vmss',
        vmss_name='ss-uniform',
        instance_id=True,
    ),
    _p('target-targets-and-vm-id', ['mutually exclusive', 'targets'], state='reset', targets=['{{ lin }}']),
    _p('target-targets-dict', ['targets must be a list', 'a dictionary'], state='reset', vm_id=None, targets={'a': 1}),
    _p(
        'target-targets-bad-item',
        ['a resource ID starts with /subscriptions/'],
        state='reset',
        vm_id=None,
        targets=['lin-ok'],
    ),
    _p(
        'batch-concurrency-zero',
        ['concurrency must be a whole number from 1'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        concurrency=0,
    ),
    _p(
        'batch-concurrency-negative',
        ['concurrency must be a whole number from 1'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        concurrency=-3,
    ),
    _p(
        'batch-concurrency-huge',
        ['concurrency must be a whole number from 1'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        concurrency=100000,
    ),
    _p(
        'batch-concurrency-bool',
        ['concurrency must be a whole number', 'a boolean'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        concurrency=True,
    ),
    _p(
        'batch-concurrency-float',
        ['concurrency must be a whole number', 'a decimal number'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        concurrency=2.5,
    ),
    _p(
        'batch-background-maybe',
        ['background', 'bool'],
        state='reset',
        vm_id=None,
        targets=['{{ lin }}'],
        background='maybe',
    ),
    _p('batch-background-without-targets', ['background: true needs targets'], state='reset', background=True),
    _p('unknown-option', ['passwd. Supported parameters include'], state='reset', passwd='x'),
]

KEY_RESET = [
    _p('kr-incarnation-int32', ['key_incarnation_id must be between 0 and 2147483647'], key_incarnation_id=2147483648),
    _p('kr-incarnation-negative', ['key_incarnation_id must be between 0'], key_incarnation_id=-1),
    _p('kr-incarnation-huge', ['key_incarnation_id must be between 0'], key_incarnation_id=99999999999999),
    _p('kr-incarnation-bool', ['key_incarnation_id must be a whole number', 'a boolean'], key_incarnation_id=True),
    _p(
        'kr-incarnation-float',
        ['key_incarnation_id must be a whole number', 'a decimal number'],
        key_incarnation_id=3.5,
    ),
    _p('kr-incarnation-list', ['key_incarnation_id must be a whole number', 'a list'], key_incarnation_id=[3]),
    _p('kr-incarnation-word', ['key_incarnation_id must be a whole number', 'a string'], key_incarnation_id='three'),
    _p('kr-wait-timeout-negative', ['wait_timeout must be more than 0'], state='reset', wait_timeout=-5),
    _p('kr-wait-timeout-zero', ['wait_timeout must be more than 0'], state='reset', wait_timeout=0),
    _p('kr-wait-timeout-word', ['wait_timeout must be a whole number'], state='reset', wait_timeout='soon'),
    _p(
        'kr-wait-timeout-dict',
        ['wait_timeout must be a whole number', 'a dictionary'],
        state='reset',
        wait_timeout={'s': 5},
    ),
    _p('kr-state-bad', ['state', 'one of', 'reset', 'healthy'], state='fixed'),
    _p('kr-state-list', ['state must be a string', 'a list'], state=['reset']),
    _p(
        'kr-state-and-incarnation',
        ['mutually exclusive', 'state', 'key_incarnation_id'],
        state='reset',
        key_incarnation_id=5,
    ),
    _p('kr-nothing', ['one of the following is required', 'state', 'key_incarnation_id']),
    _p('kr-force-maybe', ['force', 'bool'], state='reset', force='maybe'),
    _p('kr-force-list', ['force must be true or false', 'a list'], state='reset', force=[True]),
    _p('kr-wait-perhaps', ['wait', 'bool'], state='reset', wait='perhaps'),
    _p('kr-wait-two', ['wait must be true or false', 'a number'], state='reset', wait=2),
    _p('kr-record-key-short', ['record_key', 'at least 16 characters'], state='reset', record_key=SHORT_RECORD_KEY),
]

# ---- proxy_agent_settings: the record options (issue 26) ----------------------------------------------------
SETTINGS = [
    _s('ms-record-key-short', ['record_key', 'at least 16 characters'], imds_mode='Audit', record_key=SHORT_RECORD_KEY),
    _s(
        'ms-restore-from-present',
        ['restore_from', 'state: restored only'],
        imds_mode='Audit',
        restore_from='/tmp/r.json',
    ),
    _s(
        'ms-allow-weaker-present',
        ['allow_weaker_restore', 'state: restored only'],
        imds_mode='Audit',
        allow_weaker_restore=True,
    ),
    _s('ms-allow-weaker-word', ['allow_weaker_restore', 'bool'], state='restored', allow_weaker_restore='perhaps'),
    _s(
        'ms-restore-from-missing',
        ['restore_from', 'cannot read the run report', 'no-such-report.json'],
        state='restored',
        restore_from='/nonexistent/no-such-report.json',
    ),
    _s(
        'ms-restore-from-not-json',
        ['restore_from', 'is not JSON'],
        state='restored',
        restore_from='{{ not_a_report }}',
    ),
    _s(
        'ms-allowed-refs-not-ids',
        ['allowed_profile_references', 'resource ID prefixes'],
        state='restored',
        allowed_profile_references=['my-gallery'],
    ),
    _s(
        'ms-allowed-refs-present',
        ['allowed_profile_references', 'state: restored only'],
        imds_mode='Audit',
        allowed_profile_references=['/subscriptions/00000000-0000-0000-0000-000000000000'],
    ),
]

# ---- vmaccess_linux ----------------------------------------------------------------------------------------------
_ED_T, _RSA_T = 'ssh-ed25519', 'ssh-rsa'
LINUX = [
    _l('lx-password-list', ['password must be a string', 'a list'], username='rescue', password=['a', PW]),
    _l('lx-password-dict', ['password must be a string', 'a dictionary'], username='rescue', password={'p': PW}),
    _l('lx-password-int', ['password must be a string', 'a number'], username='rescue', password=12345678),
    _l('lx-password-bool', ['password must be a string', 'a boolean'], username='rescue', password=True),
    _l('lx-password-empty', ['password must not be empty'], username='rescue', password=''),
    _l('lx-username-list', ['username must be a string', 'a list'], username=['rescue'], password=PW),
    _l('lx-username-int', ['username must be a string', 'a number'], username=1000, password=PW),
    _l('lx-username-dict', ['username must be a string'], username={'n': 'rescue'}, password=PW),
    _l(
        'lx-username-root',
        ['username', "'root' is a system account", 'Failed to set password for system user'],
        username='root',
        password=PW,
    ),
    _l('lx-username-daemon', ['username', 'system account'], username='daemon', ssh_key=ED),
    _l('lx-username-sshd', ['username', 'system account'], username='sshd', password=PW),
    _l('lx-username-ROOT', ['username', 'system account'], username='ROOT', password=PW),
    _l('lx-username-dash', ['username', 'not a valid Linux user name'], username='-rf', password=PW),
    _l('lx-username-space', ['username', 'not a valid Linux user name'], username='a b', password=PW),
    _l('lx-username-slash', ['username', 'not a valid Linux user name'], username='../etc', password=PW),
    _l('lx-username-long', ['username', 'not a valid Linux user name', '32'], username='u' * 33, password=PW),
    _l('lx-username-empty', ['username must not be empty'], username='', password=PW),
    _l('lx-username-no-secret', ['username needs password or ssh_key'], username='rescue'),
    _l(
        'lx-remove-root',
        ['remove_user', "'root' is a system account", 'does not remove a system user'],
        remove_user='root',
    ),
    _l('lx-remove-bin', ['remove_user', 'system account'], remove_user='bin'),
    _l('lx-remove-list', ['remove_user must be a string', 'a list'], remove_user=['bob']),
    _l('lx-remove-bad-name', ['remove_user', 'not a valid Linux user name'], remove_user='bob;rm'),
    _l('lx-remove-with-reset', ['remove_user cannot be combined with reset_ssh'], remove_user='bob', reset_ssh=True),
    _l(
        'lx-remove-with-password',
        ['remove_user cannot be combined with password'],
        remove_user='bob',
        username='alice',
        password=PW,
    ),
    _l('lx-ssh-key-list', ['ssh_key must be a string', 'a list'], username='rescue', ssh_key=[ED]),
    _l('lx-ssh-key-dict', ['ssh_key must be a string'], username='rescue', ssh_key={'k': ED}),
    _l(
        'lx-ssh-key-private-openssh',
        ['ssh_key holds a PRIVATE key', 'not shown'],
        username='rescue',
        ssh_key='{{ private_key }}',
    ),
    _l('lx-ssh-key-private-rsa-pem', ['ssh_key holds a PRIVATE key'], username='rescue', ssh_key='{{ private_rsa }}'),
    _l('lx-ssh-key-private-putty', ['ssh_key holds a PRIVATE key'], username='rescue', ssh_key='{{ putty_key }}'),
    _l(
        'lx-ssh-key-ed-cut-4', ['ssh_key', 'looks truncated'], username='rescue', ssh_key='%s %s' % (_ED_T, ED_B64[:-4])
    ),
    _l(
        'lx-ssh-key-ed-cut-8', ['ssh_key', 'looks truncated'], username='rescue', ssh_key='%s %s' % (_ED_T, ED_B64[:-8])
    ),
    _l(
        'lx-ssh-key-ed-cut-half',
        ['ssh_key', 'looks truncated'],
        username='rescue',
        ssh_key='%s %s' % (_ED_T, ED_B64[:36]),
    ),
    _l(
        'lx-ssh-key-rsa-cut-4',
        ['ssh_key', 'looks truncated'],
        username='rescue',
        ssh_key='%s %s' % (_RSA_T, RSA_B64[:-4]),
    ),
    _l(
        'lx-ssh-key-rsa-cut-100',
        ['ssh_key', 'looks truncated'],
        username='rescue',
        ssh_key='%s %s' % (_RSA_T, RSA_B64[:-100]),
    ),
    _l(
        'lx-ssh-key-rsa-cut-exponent',
        ['ssh_key', 'looks truncated'],
        username='rescue',
        ssh_key='%s %s' % (_RSA_T, RSA_B64[:24]),
    ),
    _l(
        'lx-ssh-key-rsa-odd-length',
        ['ssh_key', 'not a multiple of 4'],
        username='rescue',
        ssh_key='%s %s' % (_RSA_T, RSA_B64[:-3]),
    ),
    _l(
        'lx-ssh-key-type-mismatch',
        ['ssh_key', "holds a 'ssh-ed25519' key, not ssh-rsa"],
        username='rescue',
        ssh_key='ssh-rsa %s' % ED_B64,
    ),
    _l(
        'lx-ssh-key-trailing',
        ['ssh_key', 'unexpected bytes after its last field'],
        username='rescue',
        ssh_key=_blob_line('ssh-ed25519', b'\x01' * 32, b'extra'),
    ),
    _l(
        'lx-ssh-key-ed-31',
        ['ssh_key', '31 bytes, not 32'],
        username='rescue',
        ssh_key=_blob_line('ssh-ed25519', b'\x01' * 31),
    ),
    _l(
        'lx-ssh-key-rsa-512',
        ['ssh_key', '512-bit modulus', '1024'],
        username='rescue',
        ssh_key=_blob_line('ssh-rsa', b'\x01\x00\x01', b'\x00' + b'\xc1' * 64),
    ),
    _l('lx-ssh-key-not-base64', ['ssh_key', 'not valid base64'], username='rescue', ssh_key='ssh-rsa AAAA$$$$'),
    _l(
        'lx-ssh-key-ecdsa',
        ['ssh_key', 'ECDSA keys', 'not supported'],
        username='rescue',
        ssh_key=_blob_line('ecdsa-sha2-nistp256', b'nistp256', b'\x04' + b'\x01' * 64),
    ),
    _l(
        'lx-ssh-key-sk',
        ['ssh_key', 'FIDO security key'],
        username='rescue',
        ssh_key=_blob_line('sk-ssh-ed25519@openssh.com', b'\x01' * 32, b'ssh:'),
    ),
    _l(
        'lx-ssh-key-dss',
        ['ssh_key', 'DSA keys'],
        username='rescue',
        ssh_key=_blob_line('ssh-dss', b'\x01' * 128, b'\x01' * 20, b'\x01' * 128, b'\x01' * 128),
    ),
    _l(
        'lx-ssh-key-cert',
        ['ssh_key', 'OpenSSH certificate'],
        username='rescue',
        ssh_key=_blob_line('ssh-ed25519-cert-v01@openssh.com', b'n' * 32),
    ),
    _l('lx-ssh-key-two-lines', ['ssh_key', 'exactly one public key'], username='rescue', ssh_key=ED + '\n' + ED),
    _l('lx-ssh-key-unknown-type', ['ssh_key', 'unsupported key format'], username='rescue', ssh_key='ssh-foo AAAA'),
    _l(
        'lx-ssh-key-missing-file',
        ['ssh_key', 'neither a public key', 'nor an existing file'],
        username='rescue',
        ssh_key='no-such-key.pub',
    ),
    _l('lx-ssh-key-empty', ['ssh_key must not be empty'], username='rescue', ssh_key='   '),
    _l('lx-ssh-key-no-user', ['ssh_key needs username'], ssh_key=ED, reset_ssh=True),
    _l(
        'lx-ssh2-truncated',
        ['ssh_key', 'SSH2', 'truncated'],
        username='rescue',
        ssh_key='---- BEGIN SSH2 PUBLIC KEY ----\n%s\n' % ED_B64,
    ),
    _l(
        'lx-pem-public',
        ['ssh_key', 'only a PEM certificate'],
        username='rescue',
        ssh_key='-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----',
    ),
    _l('lx-reset-ssh-maybe', ['reset_ssh', 'bool'], reset_ssh='maybe'),
    _l('lx-reset-ssh-perhaps', ['reset_ssh', 'bool'], reset_ssh='perhaps'),
    _l('lx-reset-ssh-list', ['reset_ssh must be true or false', 'a list'], reset_ssh=[True]),
    _l(
        'lx-remove-prior-keys-word',
        ['remove_prior_keys', 'bool'],
        username='rescue',
        ssh_key=ED,
        remove_prior_keys='sure',
    ),
    _l(
        'lx-remove-prior-keys-no-key',
        ['remove_prior_keys needs ssh_key'],
        username='rescue',
        password=PW,
        remove_prior_keys=True,
    ),
    _l(
        'lx-reset-and-restore',
        ['reset_ssh and restore_backup_ssh are mutually exclusive'],
        reset_ssh=True,
        restore_backup_ssh=True,
    ),
    _l(
        'lx-check-and-repair',
        ['check_disk and repair_disk are mutually exclusive'],
        check_disk=True,
        repair_disk=True,
        disk_name='sdc',
    ),
    _l('lx-repair-no-disk', ['repair_disk=true needs disk_name'], repair_disk=True),
    _l('lx-disk-name-alone', ['disk_name is used only with repair_disk'], check_disk=True, disk_name='sdc'),
    _l('lx-disk-name-list', ['disk_name must be a string'], repair_disk=True, disk_name=['sdc']),
    _l(
        'lx-expiration-format',
        ['expiration must be a date in the form YYYY-MM-DD'],
        username='rescue',
        password=PW,
        expiration='31/12/2030',
    ),
    _l(
        'lx-expiration-invalid-date',
        ['expiration', 'not a valid calendar date'],
        username='rescue',
        password=PW,
        expiration='2030-02-30',
    ),
    _l(
        'lx-expiration-int',
        ['expiration must be a string', 'a number'],
        username='rescue',
        password=PW,
        expiration=20301231,
    ),
    _l('lx-nothing', ['nothing to do'], force=True),
    _l(
        'lx-absent-with-user',
        ['state=absent', 'cannot be combined with username'],
        state='absent',
        username='rescue',
        password=PW,
    ),
    _l('lx-state-bad', ['state', 'one of', 'present', 'absent'], state='gone', reset_ssh=True),
    _l('lx-thv-float', ['type_handler_version must be a string', 'quote it'], reset_ssh=True, type_handler_version=1.5),
    _l('lx-thv-bad', ['type_handler_version must be MAJOR.MINOR'], reset_ssh=True, type_handler_version='latest'),
    _l('lx-extension-name-list', ['extension_name must be a string'], reset_ssh=True, extension_name=['x']),
    _l(
        'lx-auto-upgrade-maybe',
        ['auto_upgrade_minor_version', 'bool'],
        reset_ssh=True,
        auto_upgrade_minor_version='maybe',
    ),
    _l(
        'lx-fingerprint-password-word',
        ['fingerprint_password', 'bool'],
        username='rescue',
        password=PW,
        fingerprint_password='dunno',
    ),
    _l(
        'lx-passwordless-list',
        ['enable_passwordless_access must be true or false'],
        username='rescue',
        ssh_key=ED,
        enable_passwordless_access=['x'],
    ),
    _l(
        'lx-ad-user-and-password',
        ['mutually exclusive', 'ad_user', 'password'],
        username='rescue',
        password=PW,
        ad_user='someone@example.com',
    ),
    _l(
        'lx-targets-bad-concurrency',
        ['concurrency must be a whole number from 1'],
        vm_id=None,
        targets=[LIN],
        reset_ssh=True,
        concurrency=0,
    ),
    _l(
        'lx-wait-timeout-zero',
        ['wait_timeout must be a whole number of seconds more than 0'],
        reset_ssh=True,
        wait_timeout=0,
    ),
    _l(
        'lx-wait-timeout-negative',
        ['wait_timeout must be a whole number of seconds more than 0'],
        reset_ssh=True,
        wait_timeout=-60,
    ),
    _l('lx-wait-timeout-word', ['wait_timeout must be a whole number'], reset_ssh=True, wait_timeout='soon'),
    _l('lx-wait-timeout-bool', ['wait_timeout must be a whole number', 'a boolean'], reset_ssh=True, wait_timeout=True),
]

# ---- vmaccess_windows --------------------------------------------------------------------------------------------
WINDOWS = [
    _w('win-password-list', ['password must be a string', 'a list'], username='rescueadm', password=['a', PW]),
    _w('win-password-dict', ['password must be a string'], username='rescueadm', password={'p': PW}),
    _w('win-password-int', ['password must be a string', 'a number'], username='rescueadm', password=123456789),
    _w('win-username-list', ['username must be a string', 'a list'], username=['rescueadm'], password=PW),
    _w('win-username-int', ['username must be a string'], username=42, password=PW),
    _w('win-username-administrator', ['username', 'Azure does not allow'], username='Administrator', password=PW),
    _w('win-username-admin', ['username', 'Azure does not allow'], username='admin', password=PW),
    _w('win-username-root', ['username', 'Azure does not allow'], username='root', password=PW),
    _w('win-username-guest', ['username', 'Azure does not allow'], username='guest', password=PW),
    _w('win-username-long', ['username', 'at most 20 characters'], username='a' * 21, password=PW),
    _w('win-username-slash', ['username', 'character Windows does not allow'], username='dom\\user', password=PW),
    _w('win-username-at', ['username', 'character Windows does not allow'], username='user@corp', password=PW),
    _w('win-username-star', ['username', 'character Windows does not allow'], username='us*r', password=PW),
    _w('win-username-tab', ['username', 'character Windows does not allow'], username='ab\tc', password=PW),
    _w('win-username-dot', ["cannot end in '.'"], username='rescue.', password=PW),
    _w(
        'win-username-spaces',
        ['username must not be empty or start or end with spaces'],
        username=' rescue',
        password=PW,
    ),
    _w('win-password-short', ['password', '8 to 123 characters'], username='rescueadm', password='Ab1!'),
    _w('win-password-simple', ['password', '3 of'], username='rescueadm', password='alllowercaseletters'),
    _w('win-password-common', ['password', 'too common'], username='rescueadm', password='P@ssw0rd'),
    _w(
        'win-password-contains-user',
        ['password', 'contains the user name'],
        username='rescueadm',
        password='Xrescueadm-1',
    ),
    _w('win-username-no-password', ['username needs password'], username='rescueadm'),
    _w('win-password-no-username', ['password needs username'], password=PW),
    _w(
        'win-reset-rdp-with-user',
        ['reset_rdp cannot be combined with username or password'],
        reset_rdp=True,
        username='rescueadm',
        password=PW,
    ),
    _w('win-reset-rdp-maybe', ['reset_rdp', 'bool'], reset_rdp='maybe'),
    _w('win-nothing', ['nothing to do']),
    _w(
        'win-absent-with-user',
        ['state=absent', 'cannot be combined with username'],
        state='absent',
        username='rescueadm',
        password=PW,
    ),
    _w('win-thv-float', ['type_handler_version must be a string'], reset_rdp=True, type_handler_version=2.4),
    _w('win-force-list', ['force must be true or false'], reset_rdp=True, force=['yes']),
    _w('win-unknown-option', ['ssh_key. Supported parameters include'], reset_rdp=True, ssh_key=ED),
    _w(
        'win-wait-timeout-zero',
        ['wait_timeout must be a whole number of seconds more than 0'],
        reset_rdp=True,
        wait_timeout=0,
    ),
    _w(
        'win-wait-timeout-float',
        ['wait_timeout must be a whole number', 'a decimal number'],
        reset_rdp=True,
        wait_timeout=2.5,
    ),
]

# ---- batch_result ------------------------------------------------------------------------------------------------
BATCH = [
    ('br-no-batch', B, dict(index=0), ['batch_result', 'batch']),
    ('br-batch-string', B, dict(batch='nope', index=0), ['batch', 'dict']),
    ('br-index-word', B, dict(batch={'changed': False}, index='first'), ['index', 'int']),
    ('br-not-registered-from-background', B, dict(batch={'changed': False}, index=0), ['background']),
    (
        'br-fail-on-failure-maybe',
        B,
        dict(batch={'changed': False}, index=0, fail_on_failure='maybe'),
        ['fail_on_failure', 'bool'],
    ),
    (
        'br-no-log-batch',
        B,
        dict(batch={'censored': 'the output has been hidden', 'changed': False}, index=0),
        ['no_log'],
    ),
    (
        'br-hosts-var-missing',
        B,
        dict(batch={'changed': False}, hosts_var='no_such_list'),
        ['hosts_var', 'no variable no_such_list'],
    ),
]

# ---- lookup key_latch_status -------------------------------------------------------------------------------------
LOOKUP = [
    ('lk-term-word', LK, dict(terms=['lin-ok'], opts={}), ['term', '/subscriptions/']),
    (
        'lk-term-storage',
        LK,
        dict(
            terms=[
                '/subscriptions/5b0c3e2a-0000-4000-8000-00000000bbbb/resourceGroups/rg/'
                'providers/Microsoft.Storage/storageAccounts/sa'
            ],
            opts={},
        ),
        ['term'],
    ),
    ('lk-no-target', LK, dict(terms=[], opts={}), ['no target']),
    ('lk-concurrency-zero', LK, dict(terms=[LIN], opts={'concurrency': 0}), ['concurrency must be a whole number']),
    (
        'lk-concurrency-word',
        LK,
        dict(terms=[LIN], opts={'concurrency': 'many'}),
        ['concurrency must be a whole number'],
    ),
    ('lk-token-cache-maybe', LK, dict(terms=[LIN], opts={'token_cache': 'maybe'}), ['token_cache', 'not a boolean']),
    (
        'lk-secret-list',
        LK,
        dict(terms=[LIN], opts={'secret': ['{{ client_secret }}']}),
        ['secret must be a string', 'a list'],
    ),
    (
        'lk-tenant-bad',
        LK,
        dict(
            terms=[LIN],
            opts={
                'tenant': 'bad tenant',
                'secret': '{{ client_secret }}',
                'client_id': '11111111-1111-4111-8111-111111111111',
            },
        ),
        ['tenant is not a tenant'],
    ),
    (
        'lk-client-id-bad',
        LK,
        dict(
            terms=[LIN],
            opts={
                'client_id': 'app',
                'secret': '{{ client_secret }}',
                'tenant': '8c1a4d5e-0000-4000-8000-00000000aaaa',
            },
        ),
        ['client_id is not an application (client) ID'],
    ),
    (
        'lk-subscription-bad',
        LK,
        dict(terms=[], opts={'resource_group': 'rg-linux', 'name': 'lin-ok', 'subscription_id': 'not-a-guid'}),
        ['subscription_id', 'not a subscription ID'],
    ),
    ('lk-on-missing-bad', LK, dict(terms=[LIN], opts={'on_missing': 'explode'}), ['on_missing']),
    (
        'lk-cloud-http',
        LK,
        dict(terms=[LIN], opts={'cloud_environment': 'http://md.example/metadata/endpoints'}),
        ['cloud_environment', 'plain http'],
    ),
]

# ---- inventory vms (each case is one inventory source file) ------------------------------------------------------
INVENTORY = [
    ('inv-vmss-maybe', INV, dict(include_vmss_instances='maybe'), ['include_vmss_instances', 'not a boolean']),
    ('inv-concurrency-zero', INV, dict(concurrency=0), ['concurrency must be a whole number from 1']),
    ('inv-concurrency-negative', INV, dict(concurrency=-3), ['concurrency must be a whole number from 1']),
    (
        'inv-tenant-bad',
        INV,
        dict(tenant='bad tenant', client_id='11111111-1111-4111-8111-111111111111', secret='{{ client_secret }}'),
        ['tenant is not a tenant'],
    ),
    (
        'inv-client-id-bad',
        INV,
        dict(client_id='app', tenant='8c1a4d5e-0000-4000-8000-00000000aaaa', secret='{{ client_secret }}'),
        ['client_id is not an application (client) ID'],
    ),
    ('inv-subscription-bad', INV, dict(subscription_id='nope'), ['subscription_id', 'not a subscription ID']),
    ('inv-tenant-slash', INV, dict(tenant='a/b'), ['tenant is not a tenant']),
    ('inv-vmss-list', INV, dict(include_vmss_instances=['yes']), ['include_vmss_instances', 'not a boolean']),
    ('inv-tenant-list', INV, dict(tenant=['a']), ['tenant must be a string']),
    ('inv-cache-maybe', INV, dict(cache='maybe'), ['cache', 'not a boolean']),
    (
        'inv-cloud-http',
        INV,
        dict(cloud_environment='http://md.example/metadata/endpoints'),
        ['cloud_environment', 'plain http'],
    ),
]

# ---- roles (role vars; each run as include_role in a block whose rescue records the failure) ----------------------
ROLES = [
    (
        'role-guest-repair-recipe-unknown',
        'role:guest_repair',
        dict(guest_repair_recipes=['sshd', 'reboot']),
        ['guest_repair_recipes', 'reboot'],
    ),
    (
        'role-guest-repair-nla-bad',
        'role:guest_repair',
        dict(guest_repair_rdp_nla='perhaps'),
        ['guest_repair_rdp_nla', 'perhaps'],
    ),
    (
        'role-guest-repair-admin-no-password',
        'role:guest_repair',
        dict(guest_repair_recipes=['rdp', 'local_admin'], guest_repair_admin_username='rescueadmin'),
        ['local_admin needs', 'guest_repair_admin_password'],
    ),
    (
        'role-guest-repair-password-update-bad',
        'role:guest_repair',
        dict(
            guest_repair_recipes=['local_admin'],
            guest_repair_admin_username='rescueadmin',
            guest_repair_admin_password='{{ vm_password }}',
            guest_repair_admin_password_update='sometimes',
        ),
        ['guest_repair_admin_password_update', 'sometimes'],
    ),
    (
        'role-linux-password-list',
        'role:linux_access_recovery',
        dict(linux_access_recovery_username='rescue', linux_access_recovery_password=['a', PW]),
        ['password must be a string', 'a list'],
    ),
    (
        'role-linux-username-root',
        'role:linux_access_recovery',
        dict(linux_access_recovery_username='root', linux_access_recovery_password=PW),
        ['username', 'system account'],
    ),
    (
        'role-linux-remove-root',
        'role:linux_access_recovery',
        dict(linux_access_recovery_remove_user='root'),
        ['remove_user', 'system account'],
    ),
    (
        'role-linux-truncated-key',
        'role:linux_access_recovery',
        dict(linux_access_recovery_username='rescue', linux_access_recovery_ssh_key='%s %s' % (_ED_T, ED_B64[:-4])),
        ['ssh_key', 'looks truncated'],
    ),
    (
        'role-linux-private-key',
        'role:linux_access_recovery',
        dict(linux_access_recovery_username='rescue', linux_access_recovery_ssh_key='{{ private_key }}'),
        ['ssh_key holds a PRIVATE key'],
    ),
    (
        'role-linux-reset-ssh-maybe',
        'role:linux_access_recovery',
        dict(linux_access_recovery_reset_ssh='maybe'),
        ['reset_ssh'],
    ),
    (
        'role-windows-password-list',
        'role:windows_access_recovery',
        dict(windows_access_recovery_username='rescueadm', windows_access_recovery_password=['a', PW]),
        ['password must be a string'],
    ),
    (
        'role-windows-reserved-user',
        'role:windows_access_recovery',
        dict(windows_access_recovery_username='administrator', windows_access_recovery_password=PW),
        ['username', 'Azure does not allow'],
    ),
    (
        'role-key-incarnation-int32',
        'role:proxy_agent_key_recovery',
        dict(proxy_agent_key_recovery_mode='incarnation', proxy_agent_key_recovery_key_incarnation_id=2147483648),
        ['key_incarnation_id must be between 0 and 2147483647'],
    ),
    (
        'role-key-wait-timeout-negative',
        'role:proxy_agent_key_recovery',
        dict(proxy_agent_key_recovery_mode='all', proxy_agent_key_recovery_wait_timeout=-5),
        ['wait_timeout must be more than 0'],
    ),
    (
        'role-key-concurrency-zero',
        'role:proxy_agent_key_recovery',
        dict(proxy_agent_key_recovery_mode='all', proxy_agent_key_recovery_concurrency=0),
        ['concurrency must be a whole number from 1'],
    ),
]


# ---- run_command ------------------------------------------------------------------------------------------------
def _r(cid, words, **args):
    a = dict(vm_id=LIN)
    a.update(args)
    return (cid, R, dict((k, v) for k, v in a.items() if v is not None), words)


RUN_COMMAND = [
    _r('rc-no-source', ['one of script, script_file or command_id is required']),
    _r('rc-two-sources', ['mutually exclusive', 'script', 'command_id'], script='echo', command_id='ifconfig'),
    _r('rc-empty-script', ['script is empty'], script='   '),
    _r('rc-script-list', ['script must be a string', 'a list'], script=['echo']),
    _r('rc-missing-file', ['script_file', 'cannot be read'], script_file='/nonexistent/vmrescue-script.sh'),
    _r('rc-parameters-list', ['parameters', 'dict'], script='echo', parameters=['a=1']),
    _r('rc-parameter-name', ['parameters', 'not a valid parameter name'], script='echo', parameters={'1x': 'v'}),
    _r('rc-parameter-nested', ['parameters', 'must be a string'], script='echo', parameters={'a': {'b': 1}}),
    _r(
        'rc-protected-twice',
        ['protected_parameters', 'given twice'],
        script='echo',
        parameters={'token': 'x'},
        protected_parameters={'TOKEN': PW},
    ),
    _r(
        'rc-protected-nested',
        ['protected_parameters', 'must be a string'],
        script='echo',
        protected_parameters={'a': [PW]},
    ),  # fmt: skip
    _r('rc-run-as-password-list', ['run_as_password must be a string'], script='echo', run_as_password=[PW]),
    _r('rc-timeout-zero', ['script_timeout must be between 1 and 86400'], script='echo', script_timeout=0),
    _r('rc-timeout-text', ['script_timeout must be a whole number'], script='echo', script_timeout='soon'),
    _r('rc-wait-timeout-zero', ['wait_timeout must be between 1 and 86400'], script='echo', wait_timeout=0),
    _r('rc-name-bad', ['run_command_name', 'is not valid'], script='echo', run_command_name='no/slash'),
    _r('rc-state-bad', ['state', 'present', 'absent'], script='echo', state='gone'),
    _r('rc-absent-with-script', ['state=absent', 'do not give script'], script='echo', state='absent'),
    _r(
        'rc-blob-http',
        ['output_blob_uri must be an https:// URI'],
        script='echo',
        output_blob_uri='http://acct.blob.core.windows.net/c/o?sig=' + PW,
    ),  # fmt: skip
    _r('rc-force-text', ['force', 'bool'], script='echo', force='maybe'),
    _r('rc-max-output-negative', ['max_output_bytes must be between 0'], script='echo', max_output_bytes=-1),
    _r('rc-max-output-text', ['max_output_bytes must be a whole number'], script='echo', max_output_bytes='lots'),
    _r('rc-os-type-bad', ['os_type', 'linux', 'windows'], script='echo', os_type='macos'),
    _r('rc-reports-change-text', ['script_reports_change', 'bool'], script='echo', script_reports_change='maybe'),
]

CASES = AUTH + TARGET + KEY_RESET + SETTINGS + LINUX + WINDOWS + BATCH + LOOKUP + INVENTORY + ROLES + RUN_COMMAND
assert len(set(c[0] for c in CASES)) == len(CASES), 'case ids must be unique'
