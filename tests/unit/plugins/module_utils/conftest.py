# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for the certificate core tests; the PKIs are generated here, never checked in."""
from __future__ import annotations

import pytest

from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@pytest.fixture(scope="session")
def contoso():
    """Contoso Root CA (RSA) -> Contoso Issuing CA (RSA) -> da.contoso.com. Certificates are immutable,
    so one hierarchy serves every test that only reads it."""
    return pki.make_hierarchy(
        "da.contoso.com",
        root_kwargs={"crl_urls": ["http://pki.contoso.com/root.crl"]},
        intermediate_kwargs={"aia_ca_issuers": ["http://pki.contoso.com/root.crt"],
                             "crl_urls": ["http://pki.contoso.com/root.crl"]},
        leaf_kwargs={"aia_ca_issuers": ["http://pki.contoso.com/issuing.crt"],
                     "crl_urls": ["http://pki.contoso.com/issuing.crl"]},
    )


@pytest.fixture(scope="session")
def fabrikam():
    """An unrelated hierarchy (ECDSA) for 'wrong CA' cases."""
    return pki.make_hierarchy("da.fabrikam.com", prefix="Fabrikam", root_key_type="ecdsa",
                              intermediate_key_type="ecdsa", leaf_key_type="ecdsa")
