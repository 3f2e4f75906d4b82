"""The simulator's serial logs (armsim/boot.py) and the collection's classifier (module_utils/_triage/serial_log.py)
were written apart, each from the public log excerpts it names: each simulated fault must classify as the class
the classifier gives the real log, so neither side drifts into agreeing only with the other."""

import pytest

from ansible_collections.vmrescue.azure.plugins.module_utils._triage.serial_log import classify

RG = 'rg-rescue'
EXPECTED = {
    'lin-fstab': ('linux', 'boot_emergency_mode', 'fstab'),
    'lin-kernel': ('linux', 'boot_kernel_panic', 'kernel'),
    'rhel-initrd': ('linux', 'boot_initrd', 'initrd'),
    'lin-gen1-grub': ('linux', 'boot_grub', 'grubfix'),
    'lin-disk-full': ('linux', 'boot_disk_full', None),
    'win-bootloop': ('windows', 'boot_loop', None),
    'lin-healthy': ('linux', 'boot_ok', 'none'),
    'win-healthy': ('windows', 'boot_ok', 'none'),
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_each_simulated_boot_classifies_as_the_real_log_would(rescue, name):
    os_type, klass, remedy = EXPECTED[name]
    vm_id = '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s' % (
        rescue.sub,
        RG,
        name,
    )
    text = rescue.sim.control.serial_log(vm_id)
    got = classify(text, os_type=os_type)
    assert got['class'] == klass, (got, text[-2000:])
    assert got['evidence'] or klass == 'boot_ok'
    if remedy is not None:
        assert got['remedy'] == remedy, got
