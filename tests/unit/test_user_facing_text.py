"""Text users read: the shipped playbooks' headers carry no notes meant for developers, and README shows an
inventory file for the collection's inventory plugin that the plugin accepts."""

import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = sorted(f for f in os.listdir(os.path.join(REPO, 'playbooks')) if f.endswith('.yml'))
DEVELOPER_NOTES = [
    r'make (bench|test|demo)',
    r'\bissue\b',
    r'to be tuned',
    r'\bTODO\b',
    r'\bFIXME\b',
    r'\bXXX\b',
    r'\bsimulator\b',
    r'\bbenchmark\b',
]


@pytest.mark.parametrize('name', PLAYBOOKS)
def test_playbook_header_has_no_developer_notes(name):
    with open(os.path.join(REPO, 'playbooks', name)) as fh:
        header = ''.join(line for line in fh if line.startswith('#'))
    assert header.strip()
    for pattern in DEVELOPER_NOTES:
        assert not re.search(pattern, header, re.I), '%s: %r in the header' % (name, pattern)


def test_readme_shows_an_inventory_file():
    with open(os.path.join(REPO, 'README.md')) as fh:
        text = fh.read()
    blocks = re.findall(r'```yaml\n(.*?)```', text, re.S)
    found = [b for b in blocks if 'plugin: vmrescue.azure.vms' in b]
    assert found, 'README shows no inventory file for vmrescue.azure.vms'
    name = re.search(r'^# (\S+)', found[0], re.M).group(1)
    from ansible_collections.vmrescue.azure.plugins.inventory.vms import InventoryModule

    assert name.endswith(('vms.yml', 'vms.yaml'))
    config = yaml.safe_load(found[0])
    assert config['plugin'] == 'vmrescue.azure.vms' and set(config) <= {'plugin', 'resource_groups', 'subscriptions'}
    assert InventoryModule  # the plugin the file names exists
