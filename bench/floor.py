"""The throttling floor: the least time any client could take for a workload, from the simulator's configuration.

Every bucket is a token bucket (``burst`` tokens, refilled at ``rate`` per second, azure-facts.md section 3), so
``n`` requests charged to one bucket cannot finish before ``max(0, n - burst) / rate`` seconds, however they are
sent. A workload's floor is the slowest of its buckets, plus the latencies that no client can overlap with its
last request: for a key reset, the last write's ARM operation (``lro_seconds``) and then the guest relatch
(``relatch_seconds``) before the confirming read can see the new key. The reads are pipelined with that wait: the
key-reset floor is ``max(writes + operation + relatch, reads)``.

Only one principal is used, so the per-principal gateway bucket is always the tighter of the two gateway layers
(the subscription-wide one is ``gw_global_factor`` times larger).

Every bucket is per subscription (azure-facts.md section 3: the gateway per principal per subscription, Compute per
subscription), so a fleet spread evenly over K subscriptions has the floor of its largest share, ``ceil(N / K)``
VMs: the subscriptions' buckets drain in parallel.
"""

import math


def bucket_seconds(count, burst, rate_per_second):
    """Least seconds to pass ``count`` requests through a full bucket."""
    if count <= burst:
        return 0.0
    return (count - burst) / float(rate_per_second)


def _buckets(cfg, kind):
    """(label, burst, rate per second) of every subscription-wide bucket a request ``kind`` is charged to."""
    if kind == 'write':
        return [
            ('gateway writes', cfg['gw_write_burst'], cfg['gw_write_rate']),
            (
                'Compute UpdateVM per subscription',
                cfg['compute_update_vm_sub_burst'],
                cfg['compute_update_vm_sub_rate'] / 60.0,
            ),
        ]
    return [
        ('gateway reads', cfg['gw_read_burst'], cfg['gw_read_rate']),
        (
            'Compute LowCostGet per subscription',
            cfg['compute_low_cost_get_sub_burst'],
            cfg['compute_low_cost_get_sub_rate'] / 60.0,
        ),
    ]


class Floor:
    def __init__(self, seconds, lines):
        self.seconds = seconds
        self.lines = lines

    def as_dict(self):
        return {'seconds': self.seconds, 'how': self.lines}


def _term(cfg, kind, count):
    """(seconds, [explanation]) for ``count`` requests of ``kind``: the slowest bucket wins."""
    if not cfg.get('throttle', True):
        return 0.0, [f'{count} {kind}s: throttling is off']
    best, lines = 0.0, []
    for label, burst, rate in _buckets(cfg, kind):
        secs = bucket_seconds(count, burst, rate)
        lines.append(
            f'{count} {kind}s through {label} (burst {burst:g}, {rate:g}/s): '
            f'max(0, {count} - {burst:g}) / {rate:g} = {secs:.1f} s'
        )
        best = max(best, secs)
    return best, lines


def per_subscription(n, subscriptions=1):
    """(VMs in the largest subscription's share, [explanation]) for N VMs spread evenly over K subscriptions."""
    k = max(1, int(subscriptions or 1))
    if k == 1:
        return n, []
    share = int(math.ceil(n / float(k)))
    return share, [
        f'{n} VMs over {k} subscriptions, each with its own buckets: the floor is that of the largest '
        f'share, ceil({n} / {k}) = {share} VMs (the subscriptions drain in parallel)'
    ]


def confirm_reads(cfg):
    """Reads a confirming client needs per VM: 1 to learn the current incarnation, then 1 confirming read, plus
    one per stale status the instance view answers after the write (``stale_status_reads``)."""
    return 2 + int(cfg.get('stale_status_reads') or 0)


def key_reset(cfg, n, reads_per_vm=None, subscriptions=1):
    """N key resets: 1 write per VM, ``reads_per_vm`` reads (default ``confirm_reads``: 1 before, 1 confirming, 1
    more per stale status), then the last write's operation and the guest relatch; per subscription."""
    reads_per_vm = confirm_reads(cfg) if reads_per_vm is None else reads_per_vm
    n, sl = per_subscription(n, subscriptions)
    w, wl = _term(cfg, 'write', n)
    r, rl = _term(cfg, 'read', n * reads_per_vm)
    lro, relatch = float(cfg['lro_seconds']), float(cfg['relatch_seconds'])
    # Pipelined: VM i's confirming read can come no sooner than its write + operation + relatch, so the last one is
    # at >= W + lro + relatch; and every read must pass the read buckets: >= R. Both bounds hold, nothing else adds
    # (the reads of early VMs drain while later VMs are written and relatch).
    total = max(w + lro + relatch, r)
    stale = int(cfg.get('stale_status_reads') or 0)
    lines = (
        sl
        + wl
        + rl
        + [
            f'reads: {reads_per_vm} per VM (1 to learn the current incarnation, '
            + (f'{stale} answered with the status from before the write (stale_status_reads), ' if stale else '')
            + '1 to confirm the latched key); operation-status polls would be reads too and are not counted '
            '(a client may skip them)',
            f'floor = max(writes {w:.1f} s + one ARM operation {lro:g} s (lro_seconds) + one guest relatch {relatch:g} s '
            f"(relatch_seconds), reads {r:.1f} s) = {total:.1f} s  (pipelined: the last write's VM is confirmed no sooner "
            'than its operation and relatch after it; the reads of earlier VMs drain meanwhile)',
        ]
    )
    return Floor(total, lines)


def vmaccess_apply(cfg, n, reads_per_vm=2, subscriptions=1):
    """N VMAccess runs that write: 1 extension PUT per VM, ``reads_per_vm`` reads (1 of the VM and its extensions,
    1 seeing the handler finished), then the last handler run; per subscription."""
    n, sl = per_subscription(n, subscriptions)
    w, wl = _term(cfg, 'write', n)
    r, rl = _term(cfg, 'read', n * reads_per_vm)
    ext = float(cfg['extension_seconds'])
    total = max(w, r) + ext
    lines = (
        sl
        + wl
        + rl
        + [
            f'reads: {reads_per_vm} per VM (1 of the VM with its extensions, 1 of the extension once the handler is done)',
            f'floor = max(writes {w:.1f} s, reads {r:.1f} s) + one handler run {ext:g} s (extension_seconds) = {total:.1f} s',
        ]
    )
    return Floor(total, lines)


def reads_only(cfg, n_reads, what, subscriptions=1):
    """A read-only workload of ``n_reads`` reads (1 per VM), per subscription."""
    n_reads, sl = per_subscription(n_reads, subscriptions)
    r, rl = _term(cfg, 'read', n_reads)
    lines = sl + rl + [f'floor ({what}) = {r:.1f} s' + ('  (all reads fit in the burst: no ratio)' if r == 0 else '')]
    return Floor(r, lines)


def mode_switch(cfg, n, reads_per_vm=None, subscriptions=1):
    """N endpoint-mode switches (break-glass to Audit): 1 write per VM (the modes and the record tag in one PATCH),
    ``reads_per_vm`` reads (default ``confirm_reads``: 1 before, 1 confirming, 1 more per stale status: the instance
    view lags after any model write), then the last write's operation and the guest applying the mode (the
    simulator applies modes after ``relatch_seconds``, like a key); pipelined and per subscription, as key_reset."""
    reads_per_vm = confirm_reads(cfg) if reads_per_vm is None else reads_per_vm
    n, sl = per_subscription(n, subscriptions)
    w, wl = _term(cfg, 'write', n)
    r, rl = _term(cfg, 'read', n * reads_per_vm)
    lro, apply = float(cfg['lro_seconds']), float(cfg['relatch_seconds'])
    total = max(w + lro + apply, r)
    lines = (
        sl
        + wl
        + rl
        + [
            f'reads: {reads_per_vm} per VM (1 of the model with its instance view, '
            + ('%d answered with the status from before the write, ' % (reads_per_vm - 2) if reads_per_vm > 2 else '')
            + "1 to confirm the guest's secureChannelState)",
            f'floor = max(writes {w:.1f} s + one ARM operation {lro:g} s (lro_seconds) + the guest applying the mode '
            f'{apply:g} s (relatch_seconds), reads {r:.1f} s) = {total:.1f} s  (pipelined, as for the key reset)',
        ]
    )
    return Floor(total, lines)


def run_command(cfg, n, script_seconds, reads_per_vm=3, subscriptions=1):
    """N managed run commands: 1 PUT per VM, ``reads_per_vm`` reads (1 of the VM with its instance view, 1 of the run
    command before the write, at least 1 seeing the execution final), then, after the last write, the handler
    starting the script (``extension_seconds``) and the script's own run time (``script_seconds``: its sleeps times
    ``script_time_scale``); per subscription. The PUT is sent without waiting for its operation (lro=False), so no
    ARM operation is on the path."""
    n, sl = per_subscription(n, subscriptions)
    w, wl = _term(cfg, 'write', n)
    r, rl = _term(cfg, 'read', n * reads_per_vm)
    ext = float(cfg['extension_seconds'])
    total = max(w + ext + script_seconds, r)
    lines = (
        sl
        + wl
        + rl
        + [
            f'reads: {reads_per_vm} per VM (1 of the VM with its instance view, 1 of the run command before the '
            'write, 1 seeing the execution final)',
            f'floor = max(writes {w:.1f} s + the handler starting the script {ext:g} s (extension_seconds) + the '
            f'script itself {script_seconds:g} s, reads {r:.1f} s) = {total:.1f} s  (pipelined: the last VM written '
            'cannot end sooner; the reads of earlier VMs drain meanwhile)',
        ]
    )
    return Floor(total, lines)


def offline_rescue(cfg, n, max_data_disks, script_seconds=0.0, subscriptions=1):
    """N offline rescues (issue 23) with rescue VMs created as needed: ``ceil(N / max_data_disks)`` rescue VMs (a rescue
    VM holds at most its size's data disks at once). The critical path of one VM: its copy and, in parallel, its rescue
    VM (NIC, then the VM create); one attach (one data-disk PATCH per rescue VM can carry all its copies: the writes of
    one rescue VM are serialized, so more than one update per rescue VM is a client's choice); the run command (the
    handler starting it, ``extension_seconds``, then the script); one detach; deallocate, the OS disk swap, start: each
    an ARM operation (``lro_seconds``). Writes no client can avoid: per VM the copy, the run command, deallocate,
    swap and start (5); per rescue VM its NIC, its create, one attach and one detach (4). The last write (a start)
    still has its operation after it. Rescue VM-minutes: each rescue VM lives at least from its create to its last
    detach."""
    n, sl = per_subscription(n, subscriptions)
    rescue_vms = int(math.ceil(n / float(max_data_disks)))
    lro, ext = float(cfg['lro_seconds']), float(cfg['extension_seconds'])
    copy_s, create_s, net_s = (
        float(cfg['disk_copy_seconds']),
        float(cfg['vm_create_seconds']),
        float(cfg['network_seconds']),
    )
    ready = max(copy_s, net_s + create_s)
    path = ready + lro + ext + script_seconds + lro + 3 * lro
    writes = 5 * n + 4 * rescue_vms
    w, wl = _term(cfg, 'write', writes)
    total = max(path, w + lro)
    lifetime = create_s + lro + ext + script_seconds + lro
    vm_minutes = rescue_vms * lifetime / 60.0
    lines = (
        sl
        + [
            f'rescue VMs: ceil({n} VMs / {max_data_disks} data disks per rescue VM) = {rescue_vms}',
            f"one VM's path: max(disk copy {copy_s:g} s, NIC {net_s:g} s + rescue VM create {create_s:g} s) = {ready:g} s, "
            f'+ attach {lro:g} s + run command start {ext:g} s + script {script_seconds:g} s + detach {lro:g} s '
            f'+ deallocate, swap, start 3 x {lro:g} s (lro_seconds) = {path:.1f} s',
            f'writes: 5 per VM (copy, run command, deallocate, swap, start) + 4 per rescue VM (NIC, create, attach, '
            f'detach) = {writes}',
        ]
        + wl
        + [
            f'floor = max(path {path:.1f} s, writes {w:.1f} s + the last operation {lro:g} s) = {total:.1f} s',
            f'rescue VM-minutes floor: {rescue_vms} x (create {create_s:g} s + attach {lro:g} s + run command '
            f'{ext:g} s + script {script_seconds:g} s + detach {lro:g} s) / 60 = {vm_minutes:.1f}',
        ]
    )
    fl = Floor(total, lines)
    fl.rescue_vms, fl.vm_minutes = rescue_vms, vm_minutes
    return fl
