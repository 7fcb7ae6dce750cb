# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_import called directly: no expired or not yet valid CA reaches Root unless asked, and bounded waits."""
from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.directaccess.iphttps.plugins.action import ca_import
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import FakeWindowsHost
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

NOW = pki.utcnow()


def run(host, **args):
    return run_action(ca_import, "ca_import", host, diff=True, **args)


@pytest.fixture(scope="module")
def cas():
    valid = pki.make_root("Valid Root", key_type="ecdsa")
    expired = pki.make_root("Expired Root", key_type="ecdsa", not_before=NOW - datetime.timedelta(days=400),
                            not_after=NOW - datetime.timedelta(days=1))
    future = pki.make_root("Future Root", key_type="ecdsa", not_before=NOW + datetime.timedelta(days=2),
                           not_after=NOW + datetime.timedelta(days=400))
    return valid, expired, future


@pytest.mark.parametrize("which, reason", [(1, "expired on"), (2, "is not valid until")])
def test_an_expired_or_future_ca_is_refused_before_the_host_is_contacted(cas, which, reason):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail) as caught:
        run(host, certificates=[cas[0].pem, cas[which].pem])
    message = str(caught.value)
    assert message.startswith(f"certificates[1]: {cas[which].subject} (thumbprint {cas[which].thumbprint}) {reason}")
    assert message.endswith("set allow_unvetted to import it anyway")
    assert host.commands == []


def test_allow_unvetted_imports_it(cas):
    host = FakeWindowsHost()
    result = run(host, certificates=[cas[1].pem], allow_unvetted=True)
    assert [entry["thumbprint"] for entry in result["imported"]] == [cas[1].thumbprint]


def test_removing_an_expired_ca_needs_no_override(cas):
    host = FakeWindowsHost(root=[cas[1].thumbprint])
    result = run(host, certificates=[cas[1].pem], state="absent")
    assert [entry["thumbprint"] for entry in result["removed"]] == [cas[1].thumbprint]


def test_a_valid_ca_is_imported_as_before(cas):
    host = FakeWindowsHost()
    result = run(host, certificates=[{"pem": cas[0].pem, "store": "Root"}])
    assert [entry["thumbprint"] for entry in result["imported"]] == [cas[0].thumbprint]


@pytest.mark.parametrize("delay", [61, 150, 10 ** 12])
def test_restart_delay_has_an_upper_bound(cas, delay):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match=rf"^restart_delay: must be at most 60 seconds, got {delay}$"):
        run(host, certificates=[cas[0].pem], reconnect=True, restart_delay=delay, reconnect_timeout=10)
    assert host.commands == []
