# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the lab's own tests: one generated PKI and its servers per session, the collection's
script plumbing, and handlers for clients made from templates."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from .handlers import ClientHandler
from .iphttps_server import start_servers
from .pki import ensure_pki
from .scenarios import TEMPLATES, ClientSpec, provision_clients

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return ensure_pki(tmp_path_factory.mktemp("lab") / "pki")


@pytest.fixture(scope="session")
def servers(pki):
    with start_servers(pki) as group:
        yield group


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """The collection's plugin_utils, imported from the repo (via a temporary ansible_collections tree)."""
    try:
        importlib.import_module("ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts")
    except ImportError:
        root = tmp_path_factory.mktemp("collections")
        (root / "ansible_collections" / "directaccess").mkdir(parents=True)
        (root / "ansible_collections" / "directaccess" / "iphttps").symlink_to(REPO, target_is_directory=True)
        sys.path.insert(0, str(root))
        importlib.invalidate_caches()
    base = "ansible_collections.directaccess.iphttps.plugins.plugin_utils."
    return {name: importlib.import_module(base + name) for name in ("_windows_scripts", "_client_report", "_inputs")}


@pytest.fixture
def make_handler(tmp_path, pki, servers):
    handlers = []

    def make(template: str, name: str = "da-client-01", **kwargs) -> ClientHandler:
        client = provision_clients([ClientSpec(name, template)], pki, servers, tmp_path / "state")[0]
        client.iphttps_state(timeout=0.3)  # the first connection, as IP Helper makes it at boot
        handler = ClientHandler(client, administrator=TEMPLATES[template].administrator, **kwargs)
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close()
