"""The "which remedy for which symptom" page (docs/docsite/rst/guide_remedies.rst) is built from the triage tables:
the order of precedence (_triage.verdict.PRECEDENCE), the serial log rules (_triage.serial_rules.RULES) and the
remedies (_triage.verdict.REMEDIES / SERIAL_REMEDIES). Its generated part must be exactly what those tables give,
so the page and the table cannot disagree.

Regenerate after changing a table: ``.venv/bin/python tests/unit/test_guide_remedies.py --write``."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.path.join(REPO, 'docs', 'docsite', 'rst', 'guide_remedies.rst')
BEGIN = '.. BEGIN GENERATED from plugins/module_utils/_triage (tests/unit/test_guide_remedies.py --write)\n'
END = '.. END GENERATED\n'

if __name__ == '__main__':  # run as a script: the collection from the repository's link
    sys.path.insert(0, os.path.join(REPO, '.tmp', 'collections'))

from ansible_collections.vmrescue.azure.plugins.module_utils._triage import serial_rules, verdict  # noqa: E402


def _remedy(remedy):
    """The remedy cell: what runs it, then its words."""
    if remedy['kind'] == 'offline_rescue':
        how = '``%s`` / role ``%s``, ``action: %s``' % (remedy['module'], remedy['role'], remedy['options']['action'])
    elif remedy['kind'] == 'ladder':
        how = 'role ``%s`` (module ``%s``), rung ``%s``' % (remedy['role'], remedy['module'], remedy['rung'])
    elif remedy['module']:
        how = '``%s``' % remedy['module']
    else:
        how = 'by hand'
    return '%s: %s' % (how, remedy['text'])


def _row(cells):
    first, *rest = cells
    return ['   * - %s' % first] + [('     - %s' % cell).rstrip() for cell in rest]


def _rule_rows():
    rows = []
    for rule in serial_rules.RULES:
        remedy = _remedy(verdict.remedy_for(rule['cls'], rule['remedy']))
        if rule.get('remedy_v2'):
            remedy += '; on Generation 2: ' + _remedy(verdict.remedy_for(rule['cls'], rule['remedy_v2']))
        seen = 'serial log, rule ``%s`` (%s): %s' % (rule['name'], rule['os'], rule['reason'])
        rows += _row(['``%s``' % rule['cls'], seen, '`source <%s>`__' % rule['source'], remedy])
    return rows


def generated():
    """The page's generated part."""
    out = [BEGIN, '\n', 'The order of precedence (the first that holds decides)\n', '-' * 55 + '\n', '\n']
    for n, (cls, when) in enumerate(verdict.PRECEDENCE, 1):
        out.append('%d. ``%s``: %s.\n' % (n, cls, when))
    out += ['\n', 'Symptom, evidence and remedy\n', '-' * 28 + '\n', '\n',
            '.. list-table::\n', '   :header-rows: 1\n', '   :widths: 14 34 12 40\n', '\n']  # fmt: skip
    lines = _row(['Class', 'What shows it', 'Source', 'Remedy'])
    plain = {
        'platform_unavailable': 'Resource Health ``availabilityStatuses/current``: Unavailable, or Degraded with the '
        'VM agent not Ready; not user-initiated',
        'provisioning_failed': "the model's ``provisioningState`` Failed, or ``ProvisioningState/failed/...`` in the "
        'instance view',
        'agent_not_ready': 'the instance view: the VM agent Not Ready (or no status), and the serial log shows a '
        'completed boot or was not read',
        'boot_ok': 'the instance view: the VM agent Ready',
        'boot_unknown': 'a serial log that no rule knows (never guessed from), or the VM is not running',
    }
    for cls in ('platform_unavailable', 'provisioning_failed'):
        lines += _row(['``%s``' % cls, plain[cls], '', _remedy(verdict.remedy_for(cls))])
    lines += _rule_rows()
    for cls in ('agent_not_ready', 'boot_ok', 'boot_unknown'):
        lines += _row(['``%s``' % cls, plain[cls], '', _remedy(verdict.remedy_for(cls))])
    lines += _row(['``boot_unknown`` (not running)', 'the instance view: a power state other than running', '',
                   _remedy(verdict.REMEDIES['not_running'])])  # fmt: skip
    out += [line + '\n' for line in lines]
    out += ['\n', END]
    return ''.join(out)


def _split(text):
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start], text[start:end], text[end:]


def test_page_is_built_from_the_triage_table():
    with open(PAGE) as fh:
        _head, block, _tail = _split(fh.read())
    assert block == generated(), 'regenerate: .venv/bin/python tests/unit/test_guide_remedies.py --write'


def test_page_names_every_class_and_rule():
    with open(PAGE) as fh:
        text = fh.read()
    for cls in verdict.CLASSES:
        assert '``%s``' % cls in text, cls
    for rule in serial_rules.RULES:
        assert rule['source'] in text, rule['name']


if __name__ == '__main__' and '--write' in sys.argv:
    with open(PAGE) as fh:
        head, _block, tail = _split(fh.read())
    with open(PAGE, 'w') as fh:
        fh.write(head + generated() + tail)
