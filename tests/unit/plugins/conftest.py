# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the plugin tests; PKIs are generated here, never checked in."""
from __future__ import annotations

import pytest

from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@pytest.fixture(scope="module")
def rollover():
    """The root was renewed with a new key under the same name; the client still trusts only the old one.

    Returns (old_root, new_root, issuing, leaf), issuing signed by the new root.
    """
    old_root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    new_root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", new_root, key_type="ecdsa")
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa")
    return old_root, new_root, issuing, leaf
