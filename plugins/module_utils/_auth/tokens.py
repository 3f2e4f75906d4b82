# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How tokens are requested: one at a time, and from a cache shared by the processes of a run (private: not a public
API, may change without notice).

Public names (kept stable):

- ``SerializedCredential(credential, lock_path=None, authority=None, clock=None)``: a TokenCredential wrapper that
  makes one token request at a time (threads of this process, and with ``lock_path`` the processes of this user),
  and holds a transient token endpoint failure for ``TRANSIENT_HOLD_SECONDS``.
- ``private_cache_dir() -> path | None``: azure-identity's persistent token cache directory, made private.
- ``with_token_cache(kw, *identity) -> kw``: an azure-identity credential's keyword arguments with the shared
  persistent cache (partitioned per credential) when ``kw`` asks for it. ``TOKEN_CACHE_NAME``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time

from ansible_collections.vmrescue.azure.plugins.module_utils._auth.errors import (
    TransientSignInError,
    transient_sign_in_error,
    transient_status,
)

try:
    import fcntl
except ImportError:  # pragma: no cover  # not POSIX: no lock across processes
    fcntl = None

TOKEN_CACHE_NAME = 'vmrescue.azure'


def private_cache_dir():
    """azure-identity's token cache directory (~/.IdentityService), made private (0700), or None.

    azure-identity keeps a persistent cache there (libsecret when available, else the file ``<name>.nocae``,
    created 0600 by msal-extensions; ``<name>`` is ``vmrescue.azure.<digest of the credential>``). The directory
    is created 0700, tightened to 0700 when it is ours and looser, and refused (no shared cache) when it is a
    symlink or owned by another user. Cache files of ours that are readable by others are tightened to 0600.
    """
    path = os.path.expanduser(os.path.join('~', '.IdentityService'))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if st.st_mode & 0o077:
            os.chmod(path, 0o700)
        for name in os.listdir(path):
            if not name.startswith(TOKEN_CACHE_NAME + '.'):
                continue
            f = os.path.join(path, name)
            fst = os.lstat(f)
            if not stat.S_ISREG(fst.st_mode) or fst.st_uid != os.getuid():
                return None
            if fst.st_mode & 0o077:
                os.chmod(f, 0o600)
    except OSError:
        return None
    return path


# After a transient token endpoint failure outlasted the retries (errors.ENTRA_RETRY), the other targets of the same
# process fail with it for this many seconds instead of each running the retries again (a 50-VM batch would wait
# 50 x 15 s).
TRANSIENT_HOLD_SECONDS = 20


class SerializedCredential:
    """A TokenCredential wrapper: one token request at a time.

    Threads of one process (a batch) wait for each other, so that the first caller's token lands in the
    credential's cache and the others find it there. With ``lock_path`` (the shared token cache is on) an
    exclusive ``flock`` on that file does the same across the Ansible worker processes of this user: the first
    one asks Entra ID, the others read the token from the persistent cache.

    A transient token endpoint failure (after azure-identity's retries, ENTRA_RETRY) is raised as a
    ``TransientSignInError`` naming it, and held for TRANSIENT_HOLD_SECONDS (the next callers get it at once).
    """

    def __init__(self, credential, lock_path=None, authority=None, clock=None):
        self.credential = credential
        self.lock_path = lock_path
        self.authority = authority or 'Entra ID'
        self._clock = clock or time.monotonic
        self._held = None  # (until, error)
        self._lock = threading.Lock()
        if hasattr(credential, 'get_token_info'):
            self.get_token_info = self._get_token_info

    def _locked(self, func, *args, **kwargs):
        with self._lock:
            if self._held is not None:
                if self._clock() < self._held[0]:
                    raise self._held[1]
                self._held = None
            try:
                return self._flocked(func, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                if isinstance(exc, TransientSignInError):
                    raise
                transient, status = transient_status(exc)
                if not transient:
                    raise
                err = transient_sign_in_error(self.authority, status)
                self._held = (self._clock() + TRANSIENT_HOLD_SECONDS, err)
                raise err

    def _flocked(self, func, *args, **kwargs):
        fd = None
        if self.lock_path and fcntl is not None:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            return func(*args, **kwargs)
        finally:
            if fd is not None:
                os.close(fd)  # closing releases the flock

    def get_token(self, *scopes, **kwargs):
        return self._locked(self.credential.get_token, *scopes, **kwargs)

    def _get_token_info(self, *scopes, **kwargs):
        return self._locked(self.credential.get_token_info, *scopes, **kwargs)

    def close(self):
        close = getattr(self.credential, 'close', None)
        if close:
            close()

    def __getattr__(self, name):
        return getattr(self.credential, name)


def with_token_cache(kw, *identity):
    """``kw`` for an azure-identity credential, with the shared persistent token cache when it is enabled.

    The cache is partitioned per credential: its name carries a digest of the authority and ``identity`` (client
    ID, tenant and the secret, certificate path or user), so a task with a wrong or rotated secret never picks up
    a token that another credential obtained; it signs in (and fails) on its own.
    """
    kw = dict(kw)
    if kw.pop('_token_cache', False):
        from azure.identity import TokenCachePersistenceOptions  # lazy: start-up time (see the package docstring)

        digest = hashlib.sha256('\0'.join(str(p) for p in (kw.get('authority'),) + identity).encode('utf-8'))
        # Tried first: the platform's encrypted store (libsecret); else a 0600 file in the 0700 directory.
        kw['cache_persistence_options'] = TokenCachePersistenceOptions(
            name='%s.%s' % (TOKEN_CACHE_NAME, digest.hexdigest()[:16]), allow_unencrypted_storage=True
        )
    return kw
