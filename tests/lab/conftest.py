# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the lab's own tests: one generated PKI and its IP-HTTPS servers per session."""
from __future__ import annotations

import pytest

from .iphttps_server import start_servers
from .pki import ensure_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("lab") / "pki")


@pytest.fixture(scope="session")
def servers(pki):
    with start_servers(pki) as group:
        yield group
