# Benchmark helper (not shipped): write when each play and task started, so that the bench can say where a
# contender's wall time went. One line per play/task start, cheap enough not to change what is measured.
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_task_times
type: aggregate
short_description: write play and task start times to $VMRESCUE_BENCH_TASK_TIMES (benchmark only)
description: [Benchmark helper of vmrescue.azure; not part of the collection.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_task_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get('VMRESCUE_BENCH_TASK_TIMES')
        self._fh = open(path, 'w', buffering=1) if path else None
        self._t0 = time.monotonic()

    def _mark(self, kind, name):
        if self._fh:
            self._fh.write('%.3f\t%s\t%s\n' % (time.monotonic() - self._t0, kind, name))

    def v2_playbook_on_play_start(self, play):
        self._mark('play', play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._mark('task', task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._mark('end', '')
