# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle never crashes (issue 10): whatever the task passes, and whatever a file, a URL or a TLS
server holds, the action returns vetted certificates or fails naming the option; in bounded time."""
from __future__ import annotations

import base64
import http.server
import os
import threading
import time

import pytest
from ansible.errors import AnsibleActionFail
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.action import ca_bundle
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.test_fleet_report_action import (
    UntouchableConnection,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

pytestmark = [pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

# Every message names what it is about: a source, a pin, or another option.
NAMED = ("sources", "pins[", "timeout", "aia_hosts", "follow_aia", "allow_expired", "validate_certs", "AIA of",
         "Unsupported parameters")


class Served:
    """A loopback HTTP server whose one answer the current example chooses."""

    body = b""
    status = 200


@pytest.fixture(scope="module")
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(Served.status)
            self.send_header("Content-Length", str(len(Served.body)))
            self.end_headers()
            self.wfile.write(Served.body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths of every kind: a real CA, random bytes (rewritten per example), a folder, a FIFO, devices."""
    folder = tmp_path_factory.mktemp("ca_bundle_fuzz")
    reference = fuzz.reference_chain()
    (folder / "root.pem").write_text(reference.root.pem)
    os.mkfifo(folder / "fifo.pem")
    return {"root": str(folder / "root.pem"), "random": str(folder / "random.bin"), "folder": str(folder),
            "fifo": str(folder / "fifo.pem"), "missing": str(folder / "missing.pem")}


def text_or_junk(strategy):
    return st.one_of(strategy, st.none(), st.integers(), st.booleans(), st.lists(st.text(max_size=5), max_size=2),
                     st.text(max_size=40))


@st.composite
def a_source(draw, server, files):
    reference = fuzz.reference_chain()
    kind = draw(st.sampled_from(["path", "content", "url", "tls", "two", "none", "junk"]))
    if kind == "path":
        specials = ["/dev/zero", "/proc/1/mem", "/proc/self/mem", "", "relative/missing.pem", "/"]
        value = draw(st.sampled_from([files[key] for key in files] + specials))
        return {"path": value}
    if kind == "content":
        der = draw(fuzz.mutated_der())
        return {"content": draw(st.sampled_from([
            reference.root.pem, reference.leaf.pem, base64.b64encode(der).decode("ascii"),
            "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode("ascii") + "-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", draw(st.text(max_size=80)), ""]))}
    if kind == "url":
        urls = st.sampled_from([
            f"{server}/ca.crt", server.replace("http://", "http://user:pw@") + "/ca.crt", "http://127.0.0.1:9/x",
            "https://127.0.0.1:9/x", "http://[::1/x", "http://:80/", "http://127.0.0.1:0/", "ftp://127.0.0.1/x",
            "file:///etc/passwd", "http://127.0.0.1:99999/", "http://%zz/", "https://[::1]:9/"])
        return {"url": draw(urls | st.text(max_size=30).filter(lambda text: "://" not in text))}
    if kind == "tls":
        endpoints = st.sampled_from(["127.0.0.1:9", "[::1]:9", "[::1", "host:0", ":443", "a:b:c", ""])
        return {"tls": draw(endpoints | st.text(max_size=20).filter(lambda text: "." not in text and ":" in text))}
    if kind == "two":
        return {"path": files["root"], "content": reference.root.pem}
    if kind == "none":
        return {}
    return draw(text_or_junk(st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2)))


def arguments(server, files):
    return st.fixed_dictionaries({
        "sources": st.lists(a_source(server, files), max_size=3) | text_or_junk(st.nothing()),
    }, optional={
        "pins": st.lists(st.sampled_from([fuzz.reference_chain().root.sha256, "AB:CD", ""]) | st.text(max_size=70),
                         max_size=2) | text_or_junk(st.nothing()),
        "timeout": st.sampled_from([0.3, "0.3", "nan", "inf", "-inf", "1e300", -1, 0, "x", None, True, 700]),
        "follow_aia": st.booleans() | text_or_junk(st.nothing()),
        "aia_hosts": st.lists(st.text(max_size=12), max_size=2) | text_or_junk(st.nothing()),
        "allow_expired": st.booleans(),
        "validate_certs": st.booleans(),
        "unknown_option": st.integers(),
    })


def check(args: dict, body: bytes, status: int, files: dict) -> None:
    Served.body, Served.status = body, status
    with open(files["random"], "wb") as handle:
        handle.write(body)
    started = time.monotonic()
    try:
        result = run_action(ca_bundle, "ca_bundle", UntouchableConnection(), **args)
    except AnsibleActionFail as exc:
        assert any(name in str(exc) for name in NAMED), str(exc)
        assert "pw@" not in str(exc)
    else:
        assert isinstance(result["certificates"], list) and result["changed"] is False
        assert all(entry["store"] in ("Root", "CA") for entry in result["certificates"])
        assert "pw@" not in repr(result)
    # The only waits are the loopback refusals; a hang or an unbounded read would show here.
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def property_args(server, files):
    return server, files


@fuzz.fuzz_settings(examples=60)
@given(data=st.data(), body=st.binary(max_size=200) | fuzz.mutated_der(), status=st.sampled_from([200, 404, 302]))
def test_any_arguments_give_certificates_or_a_failure_naming_the_option(property_args, data, body, status):
    server, files = property_args
    check(data.draw(arguments(server, files)), body, status, files)


@pytest.mark.parametrize("args", [
    {"sources": [{"path": "/dev/zero"}]},
    {"sources": [{"path": "/proc/1/mem"}]},
    {"sources": [{"path": "/"}]},
    {"sources": [{"url": "http://127.0.0.1:9/x"}], "timeout": "nan"},
    {"sources": [{"url": "http://127.0.0.1:9/x"}], "timeout": "inf"},
    {"sources": [{"url": "http://127.0.0.1:9/x"}], "timeout": "1e300"},
    {"sources": [{"tls": "127.0.0.1:9"}], "timeout": "1e300"},
    {"sources": [{"url": "http://[::1/x"}]},
])
def test_the_inputs_issue_10_found(args, property_args):
    _server, files = property_args
    check(args, b"", 200, files)


def test_the_property_is_not_vacuous(property_args):
    server, files = property_args
    reference = fuzz.reference_chain()
    Served.body, Served.status = reference.root.der, 200
    result = run_action(ca_bundle, "ca_bundle", UntouchableConnection(),
                        sources=[{"path": files["root"]}, {"url": f"{server}/ca.crt"}],
                        pins=[reference.root.sha256], timeout=2)
    assert [entry["thumbprint"] for entry in result["certificates"]] == [reference.root.thumbprint]
