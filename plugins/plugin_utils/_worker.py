# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every plugin of the collection that runs in an Ansible worker process needs (private: may change without
notice).

The action base (``_controller``), the lookup base (``_lookup``), the lookup/inventory mixin (``_azure_plugin``)
and ``batch_result`` import these; nothing here imports another plugin_utils file.

Public names (kept stable):

- ``release_inherited_display_lock()``: see its docstring (ansible-core 2.16 workers and threads).
- ``redact_task_source()``: see its docstring (ansible-core 2.19 shows a failing task's source lines).
"""

from __future__ import annotations

from ansible.utils.display import Display

try:  # ansible-core 2.19 and later; older cores show no source excerpt (nothing to redact)
    from ansible._internal._errors._error_utils import RedactAnnotatedSourceContext
except ImportError:
    RedactAnnotatedSourceContext = None


def release_inherited_display_lock():
    """Let threads of this worker process write to stdout/stderr on ansible-core 2.16.

    ansible-core 2.16 forks each worker while holding Display's output lock (an RLock that also guards the
    process's stdout/stderr buffers), so in the worker the main thread owns it for good and any other thread that
    writes to stderr (a Python warning, azure-identity's log line on the last-resort handler) blocks forever: a batch
    thread hung the whole task. The worker never writes through that lock itself (its display goes over the result
    queue), so releasing it here is safe; on newer cores the lock is not held and this does nothing.
    """
    try:
        lock = getattr(Display(), '_lock', None)
        is_owned = getattr(lock, '_is_owned', None)
        while is_owned is not None and is_owned():
            lock.release()
    except Exception:  # pylint: disable=broad-except
        pass


def redact_task_source():
    """Have ansible-core show no source lines (nor ad-hoc arguments) for this worker's failing task.

    ansible-core 2.19 prints an "Origin" excerpt with every failed task: the task's first source line and the two
    before it (for an ad-hoc run: its arguments), even with ``no_log``, and whether the action returned a failed
    result or raised. A secret written inline in the task (or in the two lines above it) would be printed. The
    collection's actions enter ansible-core's own redaction context for the rest of this worker process (one
    worker runs one task for one host), so the excerpt becomes ``Origin: None`` and ``(source not shown: content
    redacted)``: the task is still named by its TASK banner and its message. Older cores show no excerpt (and lack
    the context): nothing to do there.
    """
    if RedactAnnotatedSourceContext is None:
        return
    try:
        if not RedactAnnotatedSourceContext.current(optional=True):
            RedactAnnotatedSourceContext().__enter__()  # pylint: disable=unnecessary-dunder-call
    except Exception:  # pylint: disable=broad-except
        pass
