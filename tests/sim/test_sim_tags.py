"""The Tags API in the simulator (issue 26; armsim/tags.py) and the Tag Contributor principal of
fleets/records.yaml: it writes any tag of a VM through the Tags API, and nothing else of the VM."""

import os

import pytest

from armsim.harness import FLEETS_DIR, ArmAs

RECORDS_FLEET = os.path.join(FLEETS_DIR, 'records.yaml')
TAGGER = ('55555555-5555-4555-8555-555555555555', 'armsim-records-secret-5')
API = '2024-11-01'

pytestmark = pytest.mark.usefixtures('no_global_ca_bundle')


@pytest.fixture
def rec(sim):
    sim.control.reset(RECORDS_FLEET)
    yield sim
    sim.control.reset()


def tagger(sim):
    return sim.as_principal(*TAGGER)


def test_tag_contributor_writes_tags_and_nothing_else(rec):
    vm = rec.vm_id('rg-rec', 'rec-weaker')
    t = tagger(rec)
    etag = rec.control.vm(vm)['etag']
    put = t.put_tags(vm, {'owner': 'ops', 'vmrescue-msp-previous': '{"v":1,"e":0}'})
    assert put['name'] == 'default' and put['type'] == 'Microsoft.Resources/tags'
    assert put['id'] == vm + '/providers/Microsoft.Resources/tags/default'
    assert rec.control.vm(vm)['model']['tags'] == {'owner': 'ops', 'vmrescue-msp-previous': '{"v":1,"e":0}'}
    assert rec.control.vm(vm)['etag'] != etag  # [inferred] the resource changed
    # no right on the VM itself: neither its model nor even a read
    denied = t.request('PATCH', vm, {'tags': {}}, api_version=API)
    assert denied.status_code == 403 and denied.json()['error']['code'] == 'AuthorizationFailed'
    assert t.request('GET', vm, api_version=API).status_code == 403
    assert t.tags(vm)['owner'] == 'ops'


def test_patch_operations_merge_replace_delete(rec):
    vm = rec.vm_id('rg-rec', 'rec-foreign')
    t = tagger(rec)
    t.put_tags(vm, {'a': '1', 'b': '2'})
    assert t.patch_tags(vm, 'Merge', {'B': '3', 'c': '4'})['properties']['tags'] == {'a': '1', 'B': '3', 'c': '4'}
    assert t.patch_tags(vm, 'Delete', {'a': 'other', 'c': ''})['properties']['tags'] == {'a': '1', 'B': '3'}
    assert t.patch_tags(vm, 'Replace', {'z': '9'})['properties']['tags'] == {'z': '9'}
    bad = t.request('PATCH', vm + ArmAs.TAGS, {'operation': 'Upsert', 'properties': {'tags': {}}})
    assert bad.status_code == 400
    long = t.request('PUT', vm + ArmAs.TAGS, {'properties': {'tags': {'x': 'v' * 257}}})
    assert long.status_code == 400 and rec.control.vm(vm)['model']['tags'] == {'z': '9'}
    assert t.request('DELETE', vm + ArmAs.TAGS).status_code == 200 and t.tags(vm) == {}


def test_a_readonly_lock_refuses_a_tag_write(rec):
    vm = rec.vm_id('rg-rec', 'rec-off')
    rec.control.add_lock(vm, 'freeze')
    resp = tagger(rec).request('PUT', vm + ArmAs.TAGS, {'properties': {'tags': {'a': '1'}}})
    assert resp.status_code == 409 and resp.json()['error']['code'] == 'ScopeLocked'


def test_the_permissions_api_says_what_the_tagger_holds(rec):
    vm = rec.vm_id('rg-rec', 'rec-off')
    perms = tagger(rec).request('GET', vm + '/providers/Microsoft.Authorization/permissions', api_version='2022-04-01')
    actions = perms.json()['value'][0]['actions']
    assert 'Microsoft.Resources/tags/*' in actions and not any(a.startswith('Microsoft.Compute') for a in actions)
