# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle's action: hostile paths, timeouts and URLs end in a clear failure naming the option, in bounded time."""
from __future__ import annotations

import os
import time

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.directaccess.iphttps.plugins.action import ca_bundle
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.test_fleet_report_action import (
    UntouchableConnection,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_ca_fetch import (
    http_files,
    tls_server,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_fetch_http import trickle


def run(**args):
    return run_action(ca_bundle, "ca_bundle", UntouchableConnection(), **args)


@pytest.fixture(scope="module")
def root():
    return pki.make_root("Action Root", key_type="ecdsa")


def failure(**args) -> str:
    started = time.monotonic()
    with pytest.raises(AnsibleActionFail) as caught:
        run(**args)
    assert time.monotonic() - started < 5, "a refusal must not wait"
    return str(caught.value)


def test_a_file_source_is_read(tmp_path, root):
    (tmp_path / "root.pem").write_text(root.pem)
    result = run(sources=[{"path": str(tmp_path / "root.pem")}])
    assert [c["thumbprint"] for c in result["certificates"]] == [root.thumbprint]


def test_a_folder_is_refused_with_its_label(tmp_path, root):
    (tmp_path / "root.pem").write_text(root.pem)
    message = failure(sources=[{"path": str(tmp_path / "root.pem")}, {"path": str(tmp_path)}])
    assert message == f"sources[1] (path {tmp_path}): {tmp_path} is a folder, not a regular file holding certificates"


def test_dev_zero_stops_at_once():
    assert failure(sources=[{"path": "/dev/zero"}]) == \
        "sources[0] (path /dev/zero): /dev/zero is a device, not a regular file holding certificates"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "ca.pem")
    assert failure(sources=[{"path": str(tmp_path / "ca.pem")}]).endswith("is a FIFO, not a regular file holding "
                                                                          "certificates")


def test_proc_1_mem_is_a_clean_failure():
    # Root may open it and then reads fail (EIO); anyone else is refused at the open.
    assert failure(sources=[{"path": "/proc/1/mem"}]).startswith("sources[0] (path /proc/1/mem): cannot ")


def test_an_oversize_file_is_refused(tmp_path):
    (tmp_path / "big.pem").write_bytes(b"A" * (10 * 1024 * 1024 + 1))
    assert "larger than 10485760 bytes" in failure(sources=[{"path": str(tmp_path / "big.pem")}])


@pytest.mark.parametrize("timeout", ["inf", "1e300", "nan", "-inf", "601", "0", "-1"])
def test_unusable_timeouts_are_refused(timeout, root):
    message = failure(sources=[{"url": "http://127.0.0.1:9/root.crt"}], pins=[root.sha256], timeout=timeout)
    assert message.startswith("timeout: must be")


def test_a_trickling_url_does_not_beat_the_timeout(root):
    with trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") as url:
        started = time.monotonic()
        with pytest.raises(AnsibleActionFail, match=r"download failed: did not finish within the timeout of 2s"):
            run(sources=[{"url": url}], pins=[root.sha256], timeout=2)
        assert time.monotonic() - started < 3


def test_the_url_password_is_never_shown(root):
    with http_files({"/root.crt": root.der}) as (base, _requested):
        url = base.replace("http://", "http://svc:Canary-Pw-1@") + "/root.crt"
        result = run(sources=[{"url": url}], pins=[root.sha256], timeout=5)
        message = failure(sources=[{"url": url + ".missing"}], pins=[root.sha256], timeout=5)
    assert result["certificates"][0]["source"] == f"sources[0] (url {base.replace('http://', 'http://***@')}/root.crt)"
    assert "Canary-Pw-1" not in repr(result) and "Canary-Pw-1" not in message
    assert "download failed: HTTP 404" in message


@pytest.mark.parametrize("host", ["", "  ", "http://pki.example", "pki.example/x", "a b", "user@pki"])
def test_aia_hosts_must_be_host_names(host, root):
    message = failure(sources=[{"content": root.pem}], aia_hosts=["pki.example", host])
    assert message.startswith("aia_hosts[1]: must be a host name or IP address")


def test_a_link_not_followed_is_a_warning_and_explains_a_refusal(root):
    issuing = pki.make_intermediate("Linked Issuing", root, key_type="ecdsa",
                                    aia_ca_issuers=["http://169.254.169.254/root.crt"])
    result = run(sources=[{"content": issuing.pem}, {"content": root.pem}], follow_aia=True)
    assert "warnings" not in result  # the root is known: no link needed
    result = run(sources=[{"content": issuing.pem}], follow_aia=True)
    assert result["warnings"] == ["AIA of CN=Linked Issuing,O=Contoso Test (http://169.254.169.254/root.crt): not "
                                  "followed: 169.254.169.254: it resolves to the link-local address 169.254.169.254; "
                                  "list it in aia_hosts to allow it"]
    # From a TLS server, the link is not followed and the refusal says why the CA does not reach the pin.
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa")
    with tls_server([leaf.cert, issuing.cert], leaf.key) as endpoint:
        message = failure(sources=[{"tls": endpoint}], follow_aia=True, pins=[root.sha256], timeout=5)
    assert "was fetched over the network and does not chain to a pinned root" in message
    assert message.endswith("(http://169.254.169.254/root.crt): not followed: 169.254.169.254 is not in aia_hosts, "
                            "and the link comes from a certificate obtained over the network")
