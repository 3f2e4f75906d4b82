# Copyright (c) vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the fingerprint of an extension request covers, recorded in ``forceUpdateTag`` (private; no network).

ARM never returns ``protectedSettings``, and a handler runs again only when ``forceUpdateTag`` changes: the engine
records a salted scrypt fingerprint (``_fingerprint``) of the whole request there, so a later run can tell, without
reading any secret back, whether its request is the one that was applied.

Public names: ``canonical_config(...)`` (the bytes covered).
"""

import json


def canonical_config(
    publisher,
    ext_type,
    settings,
    protected,
    type_handler_version,
    auto_upgrade_minor_version,
    include_password=True,
    secret_keys=('password',),
):
    """The bytes the fingerprint covers: extension identity + public + protected settings, canonical JSON.
    ``include_password=False`` leaves the ``secret_keys`` out (and says so in the document)."""
    prot = dict(protected)
    if not include_password:
        for k in secret_keys:
            prot.pop(k, None)
    doc = {
        'publisher': publisher,
        'type': ext_type,
        'typeHandlerVersion': type_handler_version,
        'autoUpgradeMinorVersion': bool(auto_upgrade_minor_version),
        'settings': settings,
        'protectedSettings': prot,
        'passwordInFingerprint': bool(include_password),
    }
    return json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
