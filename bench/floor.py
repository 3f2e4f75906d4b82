"""The throttling floor: the least time any client could take for a workload, from the simulator's configuration.

Every bucket is a token bucket (``burst`` tokens, refilled at ``rate`` per second, azure-facts.md section 3), so
``n`` requests charged to one bucket cannot finish before ``max(0, n - burst) / rate`` seconds, however they are
sent. A workload's floor is the slowest of its buckets, plus the latencies that no client can overlap with its
last request: for a key reset, the last write's ARM operation (``lro_seconds``) and then the guest relatch
(``relatch_seconds``) before the confirming read can see the new key.

Only one principal is used, so the per-principal gateway bucket is always the tighter of the two gateway layers
(the subscription-wide one is ``gw_global_factor`` times larger).
"""


def bucket_seconds(count, burst, rate_per_second):
    """Least seconds to pass ``count`` requests through a full bucket."""
    if count <= burst:
        return 0.0
    return (count - burst) / float(rate_per_second)


def _buckets(cfg, kind):
    """(label, burst, rate per second) of every subscription-wide bucket a request ``kind`` is charged to."""
    if kind == "write":
        return [
            ("gateway writes", cfg["gw_write_burst"], cfg["gw_write_rate"]),
            ("Compute UpdateVM per subscription", cfg["compute_update_vm_sub_burst"],
             cfg["compute_update_vm_sub_rate"] / 60.0),
        ]
    return [
        ("gateway reads", cfg["gw_read_burst"], cfg["gw_read_rate"]),
        ("Compute LowCostGet per subscription", cfg["compute_low_cost_get_sub_burst"],
         cfg["compute_low_cost_get_sub_rate"] / 60.0),
    ]


class Floor:
    def __init__(self, seconds, lines):
        self.seconds = seconds
        self.lines = lines

    def as_dict(self):
        return {"seconds": self.seconds, "how": self.lines}


def _term(cfg, kind, count):
    """(seconds, [explanation]) for ``count`` requests of ``kind``: the slowest bucket wins."""
    if not cfg.get("throttle", True):
        return 0.0, [f"{count} {kind}s: throttling is off"]
    best, lines = 0.0, []
    for label, burst, rate in _buckets(cfg, kind):
        secs = bucket_seconds(count, burst, rate)
        lines.append(f"{count} {kind}s through {label} (burst {burst:g}, {rate:g}/s): "
                     f"max(0, {count} - {burst:g}) / {rate:g} = {secs:.1f} s")
        best = max(best, secs)
    return best, lines


def key_reset(cfg, n, reads_per_vm=2):
    """N key resets: 1 write per VM, ``reads_per_vm`` reads (1 before, 1 confirming), then the last write's
    operation and the guest relatch."""
    w, wl = _term(cfg, "write", n)
    r, rl = _term(cfg, "read", n * reads_per_vm)
    lro, relatch = float(cfg["lro_seconds"]), float(cfg["relatch_seconds"])
    total = max(w, r) + lro + relatch
    lines = wl + rl + [
        f"reads: {reads_per_vm} per VM (1 to learn the current incarnation, 1 to confirm the latched key); "
        "operation-status polls would be reads too and are not counted (a client may skip them)",
        f"floor = max(writes {w:.1f} s, reads {r:.1f} s) + one ARM operation {lro:g} s (lro_seconds) "
        f"+ one guest relatch {relatch:g} s (relatch_seconds) = {total:.1f} s",
    ]
    return Floor(total, lines)


def vmaccess_apply(cfg, n, reads_per_vm=2):
    """N VMAccess runs that write: 1 extension PUT per VM, ``reads_per_vm`` reads (1 of the VM and its extensions,
    1 seeing the handler finished), then the last handler run."""
    w, wl = _term(cfg, "write", n)
    r, rl = _term(cfg, "read", n * reads_per_vm)
    ext = float(cfg["extension_seconds"])
    total = max(w, r) + ext
    lines = wl + rl + [
        f"reads: {reads_per_vm} per VM (1 of the VM with its extensions, 1 of the extension once the handler is done)",
        f"floor = max(writes {w:.1f} s, reads {r:.1f} s) + one handler run {ext:g} s (extension_seconds) = {total:.1f} s",
    ]
    return Floor(total, lines)


def reads_only(cfg, n_reads, what):
    """A read-only workload of ``n_reads`` reads."""
    r, rl = _term(cfg, "read", n_reads)
    lines = rl + [f"floor ({what}) = {r:.1f} s" + ("  (all reads fit in the burst: no ratio)" if r == 0 else "")]
    return Floor(r, lines)


def mode_switch(cfg, n, reads_per_vm=2):
    """N endpoint-mode switches (break-glass to Audit): 1 write per VM (the modes and the record tag in one PATCH),
    ``reads_per_vm`` reads (1 before, 1 confirming), then the last write's operation and the guest applying the
    mode (the simulator applies modes after ``relatch_seconds``, like a key)."""
    w, wl = _term(cfg, "write", n)
    r, rl = _term(cfg, "read", n * reads_per_vm)
    lro, apply = float(cfg["lro_seconds"]), float(cfg["relatch_seconds"])
    total = max(w, r) + lro + apply
    lines = wl + rl + [
        f"reads: {reads_per_vm} per VM (1 of the model with its instance view, 1 to confirm the guest's "
        "secureChannelState)",
        f"floor = max(writes {w:.1f} s, reads {r:.1f} s) + one ARM operation {lro:g} s (lro_seconds) "
        f"+ the guest applying the mode {apply:g} s (relatch_seconds) = {total:.1f} s",
    ]
    return Floor(total, lines)
