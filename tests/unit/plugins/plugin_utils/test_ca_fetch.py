# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle's sources: files, text, URLs, TLS handshakes and AIA walks, over real loopback sockets."""
from __future__ import annotations

import contextlib
import http.server
import os
import ssl
import tempfile
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import MAX_INPUT_BYTES, thumbprint
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _ca_fetch
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import (
    SourceError,
    collect,
    read_local_file,
    split_host_port,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@contextlib.contextmanager
def http_files(files: dict[str, bytes]):
    """Serve files from memory on 127.0.0.1; yields the base URL and the list of requested paths."""
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            requested.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def tls_server(chain: list, key):
    """A TLS listener presenting ``chain`` (leaf first); completes handshakes and closes."""
    with tempfile.TemporaryDirectory() as tmp:
        cert_path = os.path.join(tmp, "chain.pem")
        key_path = os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as handle:
            handle.write(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        with open(key_path, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    import socket
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def no_files(path):
    raise AssertionError(f"no file should be read, asked for {path}")


@pytest.fixture(scope="module")
def hierarchy():
    return pki.make_hierarchy("da.contoso.com", intermediate_key_type="ecdsa", leaf_key_type="ecdsa")


def test_path_and_content_sources_are_local(hierarchy):
    files = {"root.pem": hierarchy.root.pem.encode()}
    found = collect([{"path": "root.pem"}, {"content": hierarchy.intermediate.pem}], read_file=files.__getitem__)
    assert [thumbprint(c.certificate) for c in found] == [hierarchy.root.thumbprint, hierarchy.intermediate.thumbprint]
    assert [c.network for c in found] == [False, False]
    assert found[0].source == "sources[0] (path root.pem)"
    assert found[1].source == "sources[1] (content <inline PEM>)"


def test_unreadable_content_names_the_source():
    with pytest.raises(SourceError, match=r"^sources\[1\] \(content <inline PEM>\)"):
        collect([{"content": pki.make_root().pem}, {"content": "garbage!"}], read_file=no_files)


def test_empty_source_is_refused():
    with pytest.raises(SourceError, match=r"sources\[0\]: give exactly one of path, content, url or tls"):
        collect([{}], read_file=no_files)


def test_url_source_downloads_der_and_pkcs7(hierarchy):
    p7 = pkcs7.serialize_certificates([hierarchy.root.cert, hierarchy.intermediate.cert], serialization.Encoding.DER)
    with http_files({"/root.crt": hierarchy.root.der, "/chain.p7b": p7}) as (base, requested):
        found = collect([{"url": f"{base}/root.crt"}, {"url": f"{base}/chain.p7b"}], read_file=no_files, timeout=5)
    thumbs = [thumbprint(c.certificate) for c in found]
    assert thumbs[0] == hierarchy.root.thumbprint
    # A PKCS#7 SET has no order of its own, so only membership is fixed.
    assert sorted(thumbs[1:]) == sorted([hierarchy.root.thumbprint, hierarchy.intermediate.thumbprint])
    assert all(c.network for c in found)
    assert requested == ["/root.crt", "/chain.p7b"]


def test_url_errors_name_the_url(hierarchy):
    with http_files({}) as (base, _requested):
        with pytest.raises(SourceError, match=r"sources\[0\] \(url .*/missing.crt\): download failed: .*404"):
            collect([{"url": f"{base}/missing.crt"}], read_file=no_files, timeout=5)


@pytest.mark.parametrize("url", ["ftp://example.test/root.crt", "file:///etc/passwd", "/etc/passwd"])
def test_only_http_urls(url):
    with pytest.raises(SourceError, match="only http and https URLs are supported"):
        collect([{"url": url}], read_file=no_files)


def test_oversize_download_is_refused():
    with http_files({"/big.crt": b"A" * (MAX_INPUT_BYTES + 10)}) as (base, _requested):
        with pytest.raises(SourceError, match="larger than"):
            collect([{"url": f"{base}/big.crt"}], read_file=no_files, timeout=5)


def test_tls_source_keeps_only_the_cas_the_server_presents(hierarchy):
    with tls_server([hierarchy.leaf.cert, hierarchy.intermediate.cert], hierarchy.leaf.key) as endpoint:
        found = collect([{"tls": endpoint}], read_file=no_files, timeout=5)
    assert [thumbprint(c.certificate) for c in found] == [hierarchy.intermediate.thumbprint]
    assert found[0].network


def test_tls_source_with_only_a_leaf_is_refused(hierarchy):
    with tls_server([hierarchy.leaf.cert], hierarchy.leaf.key) as endpoint:
        with pytest.raises(SourceError, match="presented no CA certificate"):
            collect([{"tls": endpoint}], read_file=no_files, timeout=5)


def test_tls_connection_refused_names_the_endpoint():
    import socket
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(SourceError, match=rf"sources\[0\] \(tls 127.0.0.1:{port}\): TLS handshake with 127.0.0.1:{port} failed"):
        collect([{"tls": f"127.0.0.1:{port}"}], read_file=no_files, timeout=2)


@pytest.mark.parametrize("value, expected", [
    ("da.contoso.com:443", ("da.contoso.com", 443)),
    ("da.contoso.com", ("da.contoso.com", 443)),
    ("[::1]:8443", ("::1", 8443)),
    ("[::1]", ("::1", 443)),
    (" 127.0.0.1:10443 ", ("127.0.0.1", 10443)),
])
def test_split_host_port(value, expected):
    assert split_host_port(value, "tls") == expected


@pytest.mark.parametrize("value, message", [
    ("::1:443", "write IPv6 addresses as"),
    ("host:0", "port must be 1-65535"),
    ("host:99999", "port must be 1-65535"),
    ("host:https", "port must be 1-65535"),
    (":443", "no host name"),
    ("[::1", "expected host:port"),
])
def test_split_host_port_errors(value, message):
    with pytest.raises(SourceError, match=message):
        split_host_port(value, "tls")


def test_aia_walk_reaches_the_root_and_stops():
    root = pki.make_root("Walk Root CA")
    # The AIA URLs must point at the server that serves them, so certificates are made inside.
    server_files: dict[str, bytes] = {}
    with http_files(server_files) as (base, requested):
        policy = pki.make_intermediate("Walk Policy CA", root, aia_ca_issuers=[f"{base}/root.crt"])
        issuing = pki.make_intermediate("Walk Issuing CA", policy,
                                        aia_ca_issuers=["ldap:///CN=Walk%20Policy%20CA?cACertificate",
                                                        f"{base}/policy.crt"])
        server_files.update({"/root.crt": root.der, "/policy.crt": policy.der, "/issuing.crt": issuing.der})
        found = collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5,
                        aia_hosts=["127.0.0.1"])
    assert [thumbprint(c.certificate) for c in found] == [issuing.thumbprint, policy.thumbprint, root.thumbprint]
    assert [c.network for c in found] == [False, True, True]
    # The ldap:// entry is skipped and nothing above the self-signed root is fetched.
    assert requested == ["/policy.crt", "/root.crt"]
    assert "AIA of" in found[1].source


def test_aia_walk_skips_certificates_whose_issuer_is_already_known(hierarchy):
    with http_files({}) as (_base, requested):
        found = collect([{"content": hierarchy.root.pem}, {"content": hierarchy.intermediate.pem}],
                        read_file=no_files, follow_aia=True)
    assert len(found) == 2
    assert requested == []


def test_aia_walk_failure_names_the_url():
    root = pki.make_root("Broken Walk Root")
    with http_files({}) as (base, _requested):
        issuing = pki.make_intermediate("Broken Walk Issuing", root, aia_ca_issuers=[f"{base}/gone.crt"])
        with pytest.raises(SourceError, match=r"AIA of .*Broken Walk Issuing.*gone.crt.*download failed"):
            collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5, aia_hosts=["127.0.0.1"])


def test_aia_walk_is_bounded(monkeypatch):
    # A CA that keeps pointing at ever new CAs: the walk must stop with a clear error.
    monkeypatch.setattr(_ca_fetch, "MAX_AIA_DEPTH", 2)
    root = pki.make_root("Deep Root")
    server_files: dict[str, bytes] = {}
    with http_files(server_files) as (base, _requested):
        level1 = pki.make_intermediate("Deep 1", root, aia_ca_issuers=[f"{base}/root.crt"])
        level2 = pki.make_intermediate("Deep 2", level1, aia_ca_issuers=[f"{base}/1.crt"])
        level3 = pki.make_intermediate("Deep 3", level2, aia_ca_issuers=[f"{base}/2.crt"])
        server_files.update({"/root.crt": root.der, "/1.crt": level1.der, "/2.crt": level2.der})
        with pytest.raises(SourceError, match="did not reach a root within 2 levels"):
            collect([{"content": level3.pem}], read_file=no_files, follow_aia=True, timeout=5, aia_hosts=["127.0.0.1"])


# --- bounded local reads ---------------------------------------------------------------------------------


def test_a_regular_file_is_read(tmp_path, hierarchy):
    path = tmp_path / "root.pem"
    path.write_text(hierarchy.root.pem)
    assert read_local_file(str(path)) == hierarchy.root.pem.encode()


def test_a_file_over_the_bound_is_refused_after_limit_plus_one_bytes(tmp_path):
    path = tmp_path / "big.pem"
    path.write_bytes(b"A" * 101)
    assert read_local_file(str(path), limit=101) == b"A" * 101
    with pytest.raises(SourceError, match="larger than 100 bytes"):
        read_local_file(str(path), limit=100)


def test_dev_zero_is_refused_at_once():
    with pytest.raises(SourceError, match="/dev/zero is a device, not a regular file"):
        read_local_file("/dev/zero")


def test_proc_files_that_never_end_stop_at_the_bound(tmp_path):
    # /proc files say they are regular and have size 0; the read bound still holds.
    data = read_local_file("/proc/self/status", limit=1 << 20)
    assert data.startswith(b"Name:")


def test_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"ca.pem is a FIFO, not a regular file"):
        read_local_file(str(fifo))
    assert time.monotonic() - started < 1


def test_a_folder_and_a_missing_file_are_named(tmp_path):
    with pytest.raises(SourceError, match=r"is a folder"):
        read_local_file(str(tmp_path))
    with pytest.raises(SourceError, match=r"cannot open .*nothing.pem: No such file"):
        read_local_file(str(tmp_path / "nothing.pem"))


def test_read_errors_get_the_sources_label(tmp_path):
    def refuse(path):
        raise SourceError(f"{path} is a folder, not a regular file holding certificates")
    with pytest.raises(SourceError, match=r"^sources\[1\] \(path cas\): cas is a folder"):
        collect([{"content": pki.make_root().pem}, {"path": "cas"}], read_file=refuse)


def test_a_url_source_is_shown_without_its_password(hierarchy):
    with http_files({"/root.crt": hierarchy.root.der}) as (base, _requested):
        url = base.replace("http://", "http://operator:Pa55word@") + "/root.crt"
        found = collect([{"url": url}], read_file=no_files, timeout=5)
        assert found[0].source == f"sources[0] (url {base.replace('http://', 'http://***@')}/root.crt)"
        with pytest.raises(SourceError) as caught:
            collect([{"url": url.replace("root.crt", "gone.crt")}], read_file=no_files, timeout=5)
    assert "Pa55word" not in str(caught.value) and "***@" in str(caught.value)


# --- which AIA links are followed ------------------------------------------------------------------------


@pytest.fixture
def private_loopback(monkeypatch):
    """Treat 127.0.0.1 as an ordinary (private) address, so the rules on the links themselves can be seen."""
    monkeypatch.setattr(_ca_fetch, "address_refusal", lambda address: None)


def test_links_from_the_operators_certificates_are_followed_up_the_signed_chain(private_loopback):
    root = pki.make_root("Vouched Root")
    files: dict[str, bytes] = {}
    with http_files(files) as (base, requested):
        policy = pki.make_intermediate("Vouched Policy", root, aia_ca_issuers=[f"{base}/root.crt"])
        issuing = pki.make_intermediate("Vouched Issuing", policy, aia_ca_issuers=[f"{base}/policy.crt"])
        files.update({"/root.crt": root.der, "/policy.crt": policy.der})
        notes: list[str] = []
        found = collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5, notes=notes)
    assert [thumbprint(c.certificate) for c in found] == [issuing.thumbprint, policy.thumbprint, root.thumbprint]
    assert requested == ["/policy.crt", "/root.crt"] and notes == []


def test_a_fetched_certificate_that_did_not_sign_the_chain_is_not_followed(private_loopback):
    # The download returns some other CA: its own link is the server's word, not the operator's.
    stranger_root = pki.make_root("Stranger Root")
    files: dict[str, bytes] = {}
    with http_files(files) as (base, requested):
        stranger = pki.make_intermediate("Stranger CA", stranger_root, aia_ca_issuers=[f"{base}/stranger-root.crt"])
        issuing = pki.make_intermediate("Lied-to Issuing", pki.make_root("Real Root"),
                                        aia_ca_issuers=[f"{base}/issuer.crt"])
        files.update({"/issuer.crt": stranger.der, "/stranger-root.crt": stranger_root.der})
        notes: list[str] = []
        found = collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5, notes=notes)
    assert len(found) == 2
    assert requested == ["/issuer.crt"]
    assert notes == [f"AIA of CN=Stranger CA,O=Contoso Test ({base}/stranger-root.crt): not followed: 127.0.0.1 is "
                     "not in aia_hosts, and the link comes from a certificate obtained over the network"]


@pytest.mark.parametrize("listening", [True, False], ids=["open port", "closed port"])
def test_a_hostile_servers_links_are_neither_contacted_nor_probed(hierarchy, listening):
    # A TLS server presents a CA whose AIA points at an internal address. Without aia_hosts nothing is
    # sent there, and what the operator sees is the same whether something listens there or not.
    with http_files({"/internal": b"secret"}) as (base, requested):
        target = base if listening else "http://127.0.0.1:9"
        hostile_root = pki.make_root("Hostile Root", key_type="ecdsa")
        hostile_ca = pki.make_intermediate("Hostile CA", hostile_root, key_type="ecdsa",
                                           aia_ca_issuers=[f"{target}/internal", "http://169.254.169.254/latest"])
        leaf = pki.make_leaf("da.contoso.com", hostile_ca, key_type="ecdsa")
        with tls_server([leaf.cert, hostile_ca.cert], leaf.key) as endpoint:
            notes: list[str] = []
            found = collect([{"tls": endpoint}], read_file=no_files, follow_aia=True, timeout=5, notes=notes)
    assert requested == []
    assert [thumbprint(c.certificate) for c in found] == [hostile_ca.thumbprint]
    assert [note.replace(target, "TARGET") for note in notes] == [
        "AIA of CN=Hostile CA,O=Contoso Test (TARGET/internal): not followed: 127.0.0.1 is not in aia_hosts, and "
        "the link comes from a certificate obtained over the network",
        "AIA of CN=Hostile CA,O=Contoso Test (http://169.254.169.254/latest): not followed: 169.254.169.254 is "
        "not in aia_hosts, and the link comes from a certificate obtained over the network"]


def test_aia_hosts_lets_a_network_certificates_link_through():
    root = pki.make_root("Listed Root", key_type="ecdsa")
    with http_files({"/root.crt": root.der}) as (base, requested):
        listed = pki.make_intermediate("Listed Issuing", root, key_type="ecdsa", aia_ca_issuers=[f"{base}/root.crt"])
        leaf = pki.make_leaf("da.contoso.com", listed, key_type="ecdsa")
        with tls_server([leaf.cert, listed.cert], leaf.key) as endpoint:
            found = collect([{"tls": endpoint}], read_file=no_files, follow_aia=True, timeout=5,
                            aia_hosts=["127.0.0.1"])
    assert requested == ["/root.crt"]
    assert [thumbprint(c.certificate) for c in found] == [listed.thumbprint, root.thumbprint]


def test_the_operators_links_never_go_to_loopback_or_link_local_unless_listed():
    with http_files({}) as (base, requested):
        issuing = pki.make_intermediate("Local Issuing", pki.make_root("Local Root"),
                                        aia_ca_issuers=[f"{base}/root.crt", "http://169.254.169.254/root.crt",
                                                        "http://[::1/broken"])
        notes: list[str] = []
        found = collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5, notes=notes)
    assert len(found) == 1 and requested == []
    assert notes == [
        f"AIA of CN=Local Issuing,O=Contoso Test ({base}/root.crt): not followed: 127.0.0.1: it resolves to the "
        "loopback address 127.0.0.1; list it in aia_hosts to allow it",
        "AIA of CN=Local Issuing,O=Contoso Test (http://169.254.169.254/root.crt): not followed: 169.254.169.254: "
        "it resolves to the link-local address 169.254.169.254; list it in aia_hosts to allow it",
        "AIA of CN=Local Issuing,O=Contoso Test (http://[::1/broken): not followed: not a usable URL"]


def test_a_redirect_to_a_refused_address_is_not_followed():
    root = pki.make_root("Redirect Root")

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        issuing = pki.make_intermediate("Redirected Issuing", root,
                                        aia_ca_issuers=[f"http://127.0.0.1:{server.server_address[1]}/root.crt"])
        notes: list[str] = []
        collect([{"content": issuing.pem}], read_file=no_files, follow_aia=True, timeout=5, notes=notes,
                aia_hosts=["127.0.0.1"])
    finally:
        server.shutdown()
        server.server_close()
    assert len(notes) == 1
    assert "redirected to http://169.254.169.254/latest/meta-data/: 169.254.169.254: it resolves to the link-local" \
        in notes[0]


def test_a_tls_server_that_never_answers_the_handshake_stops_at_the_timeout():
    import socket
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) and never speaks TLS
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"TLS handshake with 127.0.0.1:\d+ failed: .*timed out"):
            collect([{"tls": f"127.0.0.1:{listener.getsockname()[1]}"}], read_file=no_files, timeout=1)
        assert time.monotonic() - started < 2
    finally:
        listener.close()
