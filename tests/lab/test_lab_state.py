# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the lab's PKI, IP-HTTPS server, client state model and scenarios.

Every IP-HTTPS state here comes from a real TLS handshake against a real loopback server.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import socket
import ssl
import stat
import struct
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import client_state as cs
from .client_state import ClientState, ClientStateError, list_clients, verify_iphttps_server
from .iphttps_server import PROFILES, IPHttpsServer, ServerProfile, start_servers
from .pki import CERT_FILES, LabPKI, PKIError, ensure_pki, load_pki, sha256_fingerprint, thumbprint
from .scenarios import TEMPLATES, ClientSpec, ScenarioError, build_fleet, load_scenario, provision_clients

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yml"
FAST = 0.3  # seconds; the blackhole profile makes clients wait this long

# What each template's client reports at lab start (None: no IP-HTTPS interface).
EXPECTED_AT_START = {
    "healthy": 0,
    "untrusted_root": 0x800B0109,
    "multisite_leaf_only": 0,  # IP-HTTPS uses the first entry point; the second is client_info's concern
    "behind_proxy": 0x800B0109,  # reached through the proxy: the chain, not a refused connection
    "ipv6_only_server": 0x800B0109,
    "missing_intermediate": 0x800B010A,
    "not_directaccess": None,
    "name_mismatch": 0x800B010F,
    "expired_server_cert": 0x800B0101,
    "unreachable": 0x274C,
    "refused": 0x274D,
    "service_stopped": None,
    "stopped_host": 0x800B0109,
    "wrong_credentials": 0x800B0109,
    "tunnel": 0x800B0109,
    "non_admin": 0x800B0109,
    "distrusted_intermediate": 0x800B0111,
    "distrusted_root": 0x800B0111,
    "revocation_ok": 0,
    "cdp_offline": 0x80092013,
    "crl_expired": 0x80092013,
    "revoked_server_cert": 0x80092010,
    "cdp_inside_only": 0x80092013,
    "slow_restart": 0x800B0109,
    "shared_svchost": 0x800B0109,
    "asr_blocks_wmi": 0x800B0109,
    "windows7_breakaway_throws": 0x800B0109,
    "teredo_after_restart": 0x800B0109,
    "inside_corpnet": None,  # inside, DirectAccess does not use IP-HTTPS: no object
    "constrained_language": 0x800B0109,
    "german_locale": 0x800B0109,
    "client_cert_required": 0x80090326,  # the lab's Schannel stand-in: an alert during the handshake
}


def make_client(tmp_path, pki, servers, template, name="da-client-01"):
    return provision_clients([ClientSpec(name, template)], pki, servers, tmp_path / "state")[0]


def code(state):
    return None if state is None else state.last_error_code


# --- test certificates beyond the lab PKI ---------------------------------------------------------

def _issuer_key(pki, name):
    return serialization.load_pem_private_key(pki.key_path(name).read_bytes(), password=None)


def _cert(common, key, issuer_name, signer, *, ca=False, path_length=None, eku=ExtendedKeyUsageOID.SERVER_AUTH,
          not_before=-1, not_after=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=not_before))
        .not_valid_after(now + datetime.timedelta(days=not_after))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common)]), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def custom_server(tmp_path, pki, leaf, leaf_key, chain=()):
    """A lab server presenting ``leaf`` (+ ``chain`` certificates), via a copy of the PKI object."""
    directory = tmp_path / f"custom-{thumbprint(leaf)[:8]}"
    (directory / "private").mkdir(parents=True)
    (directory / "private" / "iphttps.key").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    # The server reads chain certificates by lab name; borrow the WinRM names as two spare slots.
    assert len(chain) <= 2
    slots = ["winrm", "winrm_ca"][:len(chain)]
    certs = dict(pki.certs, iphttps=leaf, **dict(zip(slots, chain)))
    return IPHttpsServer(LabPKI(directory, certs), ServerProfile("custom", "tls", "iphttps", tuple(slots)))


def presented_chain(server, host):
    """DER certificates the server sends, in order (public API on 3.13, internal before)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((server.host, server.port), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            if hasattr(tls, "get_unverified_chain"):
                return [bytes(der) for der in tls.get_unverified_chain()]
            return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in tls._sslobj.get_unverified_chain()]


# --- PKI ------------------------------------------------------------------------------------------

def test_pki_certificates_model_a_directaccess_deployment(pki):
    root, old_root, issuing = pki.cert("root"), pki.cert("old_root"), pki.cert("issuing")
    assert root.subject.rfc4514_string() == "CN=DirectAccess Lab Root CA,O=DirectAccess Lab"
    assert issuing.subject.rfc4514_string() == "CN=DirectAccess Lab Issuing CA,O=DirectAccess Lab"
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    # CA key rollover: the old root has the same name but another key, so another thumbprint.
    assert old_root.subject == root.subject
    assert old_root.public_key().public_numbers() != root.public_key().public_numbers()
    assert pki.thumbprint("old_root") != pki.thumbprint("root")
    with pytest.raises(Exception):
        issuing.verify_directly_issued_by(old_root)

    now = datetime.datetime.now(datetime.timezone.utc)
    for name, common in (("iphttps", "da.lab.example"), ("iphttps_expired", "da.lab.example"),
                         ("iphttps_wrong_name", "remote.lab.example")):
        cert = pki.cert(name)
        cert.verify_directly_issued_by(issuing)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName) == [common]
        assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert pki.cert("iphttps").not_valid_after_utc > now
    assert pki.cert("iphttps_expired").not_valid_after_utc < now
    assert pki.server_name == "da.lab.example" and pki.wrong_server_name == "remote.lab.example"

    winrm = pki.cert("winrm")
    winrm.verify_directly_issued_by(pki.cert("winrm_ca"))
    san = winrm.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_pki_public_files(pki):
    directory = pki.directory
    assert (directory / "root.pem").read_text() == pki.pem("root")
    assert (directory / "issuing.pem").read_text() == pki.pem("issuing")
    assert (directory / "winrm-ca.pem").read_text() == pki.pem("winrm_ca")
    pin = (directory / "root.sha256").read_text().strip()
    assert pin == sha256_fingerprint(pki.cert("root")) == pki.root_sha256
    assert len(pin) == 64 and pin == pin.upper() and ":" not in pin
    bundle = x509.load_pem_x509_certificates(pki.ca_bundle_path.read_bytes())
    assert [thumbprint(c) for c in bundle] == [pki.thumbprint("issuing"), pki.thumbprint("root")]
    # Windows thumbprint: SHA-1 of the DER, upper-case hex.
    der = pki.cert("root").public_bytes(serialization.Encoding.DER)
    assert pki.thumbprint("root") == hashlib.sha1(der).hexdigest().upper()
    for path in directory.glob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_pki_private_keys_are_private_and_match(pki):
    private = pki.directory / "private"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    for name in CERT_FILES:
        path = pki.key_path(name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert key.public_key().public_numbers() == pki.cert(name).public_key().public_numbers()


def test_pki_second_start_loads_the_same_pki(pki):
    before = {name: pki.thumbprint(name) for name in CERT_FILES}
    mtimes = {p: p.stat().st_mtime_ns for p in pki.directory.rglob("*")}
    again = ensure_pki(pki.directory)
    assert {name: again.thumbprint(name) for name in CERT_FILES} == before
    assert {p: p.stat().st_mtime_ns for p in pki.directory.rglob("*")} == mtimes


def test_pki_generates_into_an_existing_empty_directory(tmp_path):
    (tmp_path / "pki").mkdir()
    assert ensure_pki(tmp_path / "pki", server_name="da2.lab.example").server_name == "da2.lab.example"


def test_pki_refuses_another_server_name(pki):
    with pytest.raises(PKIError, match=r"generated for 'da.lab.example', not 'other.lab.example'"):
        ensure_pki(pki.directory, server_name="other.lab.example")


@pytest.mark.parametrize("server_name", ["", "da lab", "https://da.lab.example", "-da.lab.example", None])
def test_pki_refuses_a_bad_server_name(tmp_path, server_name):
    with pytest.raises(PKIError, match=r"server_name must be a DNS name"):
        ensure_pki(tmp_path / "pki", server_name=server_name)
    assert not (tmp_path / "pki").exists()


def test_pki_refuses_incomplete_or_modified_directory(tmp_path, pki):
    copy = tmp_path / "pki"
    copy.mkdir()
    for path in pki.directory.rglob("*"):
        target = copy / path.relative_to(pki.directory)
        if path.is_dir():
            target.mkdir()
        else:
            target.write_bytes(path.read_bytes())
    assert load_pki(copy).thumbprint("root") == pki.thumbprint("root")

    (copy / "root.sha256").write_text("00" * 32 + "\n")
    with pytest.raises(PKIError, match=r"root.sha256 does not match root.pem"):
        load_pki(copy)
    (copy / "issuing.pem").write_text("not a certificate")
    with pytest.raises(PKIError, match=r"issuing.pem: cannot parse certificate"):
        load_pki(copy)
    (copy / "private" / "iphttps.key").unlink()
    with pytest.raises(PKIError, match=r"incomplete, missing: private/iphttps.key"):
        ensure_pki(copy)


def test_pki_unknown_certificate_name(pki):
    with pytest.raises(PKIError, match=r"unknown lab certificate 'nope'"):
        pki.pem("nope")


# --- the IP-HTTPS server --------------------------------------------------------------------------

@pytest.mark.parametrize("profile", [p.name for p in PROFILES.values()
                                     if p.behaviour == "tls" and not p.client_certificate])
def test_server_presents_the_profile_chain(pki, servers, profile):
    expected = [pki.cert(name).public_bytes(serialization.Encoding.DER)
                for name in (PROFILES[profile].leaf,) + PROFILES[profile].chain]
    assert presented_chain(servers[profile], pki.server_name) == expected
    assert servers[profile].server_url == f"https://da.lab.example:{servers[profile].port}/IPHTTPS"
    host = "[::1]" if PROFILES[profile].host == "::1" else "127.0.0.1"
    assert servers[profile].connect_to == f"{host}:{servers[profile].port}"


def test_client_cert_required_ends_the_handshake_of_a_client_without_one(pki, servers):
    server = servers["client_cert_required"]
    context = ssl.create_default_context(cadata=pki.pem("root"))
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as raw:
        with pytest.raises(ssl.SSLError) as failed:
            context.wrap_socket(raw, server_hostname=pki.server_name)
    assert not isinstance(failed.value, ssl.SSLCertVerificationError)  # the chain was fine; the client was not
    assert server.handshakes == 0


def test_server_answers_http_and_stops_cleanly(pki):
    server = IPHttpsServer(pki, "good").start()
    port = server.port
    context = ssl.create_default_context(cadata=pki.pem("root"))
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname=pki.server_name) as tls:
            tls.sendall(b"POST /IPHTTPS HTTP/1.1\r\nHost: da.lab.example\r\n\r\n")
            assert tls.recv(100).startswith(b"HTTP/1.1 200 OK")
    assert server.handshakes == 1
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="is not running"):
        server.port


def test_server_rejects_bad_profiles(pki):
    with pytest.raises(ValueError, match=r"unknown IP-HTTPS server profile 'nope'"):
        IPHttpsServer(pki, "nope")
    with pytest.raises(ValueError, match=r"a TLS profile needs a leaf certificate"):
        IPHttpsServer(pki, ServerProfile("x", "tls"))
    with pytest.raises(ValueError, match=r"unknown behaviour 'udp'"):
        IPHttpsServer(pki, ServerProfile("x", "udp"))
    with IPHttpsServer(pki, "closed") as server, pytest.raises(RuntimeError, match="already running"):
        server.start()


# --- what each scenario's client reports ------------------------------------------------------------

def test_every_template_has_an_expectation():
    assert set(EXPECTED_AT_START) == set(TEMPLATES)


@pytest.mark.parametrize("template", sorted(EXPECTED_AT_START))
def test_template_reports_its_error_code(tmp_path, pki, servers, template):
    client = make_client(tmp_path, pki, servers, template)
    state = client.iphttps_state(timeout=FAST)
    assert code(state) == EXPECTED_AT_START[template]
    assert code(client.compute_iphttps_state(timeout=FAST)) == EXPECTED_AT_START[template]
    if state is not None:
        expected_status = cs.STATUS_ACTIVE if state.last_error_code == 0 else cs.STATUS_FAILED
        assert state.interface_status == expected_status
        assert state.as_cim() == {"InterfaceStatus": expected_status, "LastErrorCode": EXPECTED_AT_START[template]}


def test_template_settings_reach_the_state_file(tmp_path, pki, servers):
    for number, template in enumerate(TEMPLATES.values(), start=1):
        record = make_client(tmp_path, pki, servers, template.name, name=f"da-client-{number:02d}").load()
        assert record["scenario"] == template.name
        assert set(record["root_store"]) == {pki.thumbprint(n) for n in template.root_store}
        assert set(record["ca_store"]) == {pki.thumbprint(n) for n in template.ca_store}
        assert set(record["disallowed_store"]) == {pki.thumbprint(n) for n in template.disallowed_store}
        assert record["iphlpsvc"]["status"] == template.iphlpsvc
        assert (record["reachable"], record["tunnel"], record["wrong_credentials"]) == (
            template.reachable, template.tunnel, template.wrong_credentials)
        if template.server_profile is None:
            assert record["iphttps"] is None
        else:
            server = servers[template.server_profile]
            # Behind the proxy only, the URL's own address refuses: the lab's closed port.
            direct = servers["closed"] if template.winhttp_proxy else server
            expected = {"server_url": server.server_url, "connect_to": direct.connect_to,
                        "profile": template.server_profile}
            if template.other_entry_points:
                expected["others"] = [{"server_url": servers[p].server_url, "connect_to": servers[p].connect_to,
                                       "profile": p} for p in template.other_entry_points]
            assert record["iphttps"] == expected
            assert record.get("winhttp_proxy") == (servers.proxy.address if template.winhttp_proxy else None)


def test_timeout_is_real_and_bounded(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "unreachable")
    started = time.monotonic()
    assert code(client.compute_iphttps_state(timeout=FAST)) == cs.WSAETIMEDOUT
    assert FAST * 0.9 <= time.monotonic() - started < FAST + 1.5


# --- fixing, and not fixing ---------------------------------------------------------------------------

def test_untrusted_root_clears_only_when_the_right_root_is_imported(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "untrusted_root")
    assert code(client.iphttps_state()) == cs.CERT_E_UNTRUSTEDROOT

    assert client.add_certificate("Root", pki.pem("old_root")) == (pki.thumbprint("old_root"), False)
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT
    assert client.add_certificate("CA", pki.pem("issuing")) == (pki.thumbprint("issuing"), True)
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT
    # A root in the Intermediate store is not a trust anchor on Windows.
    client.add_certificate("CA", pki.pem("root"))
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT

    client.add_certificate("Root", pki.pem("root"))
    # The client only reconnects when IP Helper restarts: the recorded state is unchanged...
    assert code(client.iphttps_state()) == cs.CERT_E_UNTRUSTEDROOT
    assert code(client.compute_iphttps_state()) == 0
    # ...until it does.
    state = client.restart_iphlpsvc()
    assert (state.last_error_code, state.interface_status) == (0, cs.STATUS_ACTIVE)
    assert client.iphttps_state() == state
    assert client.load()["iphlpsvc"] == {"status": "Running", "restarts": 4}


def test_root_alone_fixes_untrusted_root(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "untrusted_root")
    client.add_certificate("Root", pki.pem("root"))
    assert code(client.restart_iphlpsvc()) == 0


def test_missing_intermediate_clears_when_the_issuing_ca_is_imported(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "missing_intermediate")
    assert code(client.iphttps_state()) == cs.CERT_E_CHAINING
    client.add_certificate("Root", pki.pem("old_root"))
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_CHAINING
    client.add_certificate("CA", pki.pem("issuing"))
    assert code(client.restart_iphlpsvc()) == 0


def test_issuing_ca_without_any_root_is_still_an_incomplete_chain(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "missing_intermediate")
    assert client.remove_certificate("Root", pki.thumbprint("root")) is True
    client.add_certificate("CA", pki.pem("issuing"))
    # The CA store builds chains but never anchors one.
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_CHAINING


@pytest.mark.parametrize("template, error", [("name_mismatch", cs.CERT_E_CN_NO_MATCH),
                                             ("expired_server_cert", cs.CERT_E_EXPIRED)])
def test_server_side_faults_survive_every_import(tmp_path, pki, servers, template, error):
    client = make_client(tmp_path, pki, servers, template)
    assert code(client.iphttps_state()) == error
    for store in ("Root", "CA"):
        for name in ("root", "old_root", "issuing"):
            client.add_certificate(store, pki.pem(name))
            assert code(client.restart_iphlpsvc()) == error


def test_removing_the_root_breaks_a_healthy_client(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "healthy")
    assert code(client.iphttps_state()) == 0
    spaced = " ".join(pki.thumbprint("root")[i:i + 2] for i in range(0, 40, 2)).lower()
    assert client.remove_certificate("Root", spaced) is True
    assert client.remove_certificate("Root", spaced) is False
    assert code(client.restart_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT


def test_stopped_iphlpsvc_has_no_interface(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "service_stopped")
    assert client.iphlpsvc_status() == "Stopped"
    assert client.iphttps_state() is None and client.compute_iphttps_state() is None
    assert code(client.start_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT
    assert code(client.start_iphlpsvc()) == cs.CERT_E_UNTRUSTEDROOT  # already running: unchanged
    assert client.iphlpsvc_status() == "Running"
    client.stop_iphlpsvc()
    assert client.iphttps_state() is None
    assert client.load()["iphttps_state"] is None


def test_not_directaccess_never_has_iphttps_state(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "not_directaccess")
    assert client.restart_iphlpsvc() is None and client.start_iphlpsvc() is None
    client.add_certificate("Root", pki.pem("root"))
    assert client.iphttps_state() is None
    with pytest.raises(ClientStateError, match="not a DirectAccess client"):
        client.set_iphttps_endpoint("https://da.lab.example/IPHTTPS", "127.0.0.1:443")


# --- error-code mapping with purpose-built servers ------------------------------------------------------

def _verify_against(server, pki, root_store=None, ca_store=None):
    roots = root_store if root_store is not None else {pki.thumbprint("root"): pki.pem("root")}
    return verify_iphttps_server(f"https://{pki.server_name}:{server.port}/IPHTTPS", server.connect_to,
                                 roots, ca_store or {}, timeout=2)


def test_self_signed_server_certificate(tmp_path, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, pki.server_name)])
    leaf = _cert(pki.server_name, key, name, key)
    with custom_server(tmp_path, pki, leaf, key) as server:
        assert code(_verify_against(server, pki)) == cs.CERT_E_UNTRUSTEDROOT
        assert code(_verify_against(server, pki, {thumbprint(leaf): _pem(leaf)})) == 0


@pytest.mark.parametrize("kwargs, error, openssl", [
    ({"eku": ExtendedKeyUsageOID.CLIENT_AUTH}, cs.CERT_E_WRONG_USAGE, 26),
    ({"not_before": 5, "not_after": 30}, cs.CERT_E_EXPIRED, 9),
])
def test_leaf_faults_map_to_windows_codes(tmp_path, pki, kwargs, error, openssl):
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(pki.server_name, key, pki.cert("issuing").subject, _issuer_key(pki, "issuing"), **kwargs)
    with custom_server(tmp_path, pki, leaf, key, [pki.cert("issuing")]) as server:
        state = _verify_against(server, pki)
    assert code(state) == error
    assert state.detail.startswith(f"OpenSSL verify error {openssl}:")


def test_other_chain_failures_are_a_generic_trust_failure(tmp_path, pki):
    # The issuing CA has pathLenConstraint 0, so a CA below it breaks the chain.
    sub_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    sub = _cert("Lab Sub CA", sub_key, pki.cert("issuing").subject, _issuer_key(pki, "issuing"), ca=True, eku=None)
    leaf = _cert(pki.server_name, key, sub.subject, sub_key)
    with custom_server(tmp_path, pki, leaf, key, [sub, pki.cert("issuing")]) as server:
        state = _verify_against(server, pki)
    assert code(state) == cs.TRUST_E_FAIL
    assert "path length" in state.detail


def _one_shot_server(behaviour):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _peer = listener.accept()
        with conn:
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve)
    thread.start()
    return listener, thread


@pytest.mark.parametrize("behaviour, error", [("reset", cs.WSAECONNRESET), ("plain_http", cs.SEC_E_ILLEGAL_MESSAGE)])
def test_transport_failures(pki, behaviour, error):
    listener, thread = _one_shot_server(behaviour)
    try:
        state = verify_iphttps_server("https://da.lab.example/IPHTTPS", f"127.0.0.1:{listener.getsockname()[1]}",
                                      {}, {}, timeout=2)
    finally:
        thread.join(5)
        listener.close()
    assert code(state) == error and state.interface_status == cs.STATUS_FAILED


def test_network_unreachable():
    # The limited broadcast address has no TCP route on Linux: connect() fails with ENETUNREACH.
    state = verify_iphttps_server("https://da.lab.example/IPHTTPS", "255.255.255.255:443", {}, {}, timeout=2)
    assert code(state) == cs.WSAENETUNREACH


def test_unmapped_socket_errors_propagate(monkeypatch):
    def fail(*_args, **_kwargs):
        raise OSError(99, "Cannot assign requested address")
    monkeypatch.setattr(cs.socket, "create_connection", fail)
    with pytest.raises(OSError, match="Cannot assign"):
        verify_iphttps_server("https://da.lab.example/IPHTTPS", "127.0.0.1:443", {}, {}, timeout=1)


# --- persistence and concurrency ---------------------------------------------------------------------------

def test_state_survives_reload_and_has_the_documented_shape(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "untrusted_root")
    client.iphttps_state()
    client.add_certificate("CA", pki.pem("issuing"))
    client.set_flags(tunnel=True, wrong_credentials=True)

    again = ClientState(tmp_path / "state", "da-client-01")
    record = again.load()
    assert record == client.load()
    assert set(record) == {"format", "name", "scenario", "root_store", "ca_store", "disallowed_store", "iphttps",
                           "iphlpsvc",
                           "tunnel", "reachable", "wrong_credentials", "iphttps_state", "group_policy_store",
                           "enterprise_store"}
    assert record["group_policy_store"] == {"Root": {}, "CA": {}}  # no policy refresh yet
    assert record["enterprise_store"] == {"Root": {}, "CA": {}}
    assert record["ca_store"] == {pki.thumbprint("issuing"): pki.pem("issuing")}
    assert (record["tunnel"], record["wrong_credentials"], record["reachable"]) == (True, True, True)
    on_disk = json.loads(client.path.read_text())
    assert on_disk["iphttps_state"]["last_error_code"] == 2148204809
    assert on_disk["iphttps_state"]["interface_status"] == cs.STATUS_FAILED
    assert again.iphttps_state().last_error_code == 0x800B0109
    assert list_clients(tmp_path / "state") == ["da-client-01"]
    assert list_clients(tmp_path / "nowhere") == []
    assert not list((tmp_path / "state").glob("*.tmp"))


def test_concurrent_imports_from_many_handles_all_land(tmp_path, pki, servers):
    make_client(tmp_path, pki, servers, "healthy")
    certs = []
    for number in range(12):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Extra Root {number}")])
        certs.append(_cert(f"Extra Root {number}", key, name, key, ca=True, eku=None))
    barrier = threading.Barrier(len(certs))
    errors = []

    def import_one(cert):
        try:
            barrier.wait()
            ClientState(tmp_path / "state", "da-client-01").add_certificate("Root", _pem(cert))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=import_one, args=(c,)) for c in certs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    root_store = ClientState(tmp_path / "state", "da-client-01").certificates("Root")
    assert set(root_store) == {pki.thumbprint("root")} | {thumbprint(c) for c in certs}


def test_provisioning_again_keeps_state_and_follows_the_new_port(tmp_path, pki):
    fleet = [ClientSpec("da-client-01", "untrusted_root"), ClientSpec("da-client-02", "not_directaccess")]
    with start_servers(pki, ["good"]) as first:
        client = provision_clients(fleet, pki, first, tmp_path / "state")[0]
        client.add_certificate("Root", pki.pem("root"))
        first_port = first["good"].port
    with start_servers(pki, ["good"]) as second:
        client, other = provision_clients(fleet, pki, second, tmp_path / "state")
        record = client.load()
        assert second["good"].port != first_port
        assert record["iphttps"]["connect_to"] == second["good"].connect_to
        assert record["iphttps"]["server_url"] == second["good"].server_url
        assert pki.thumbprint("root") in record["root_store"] and pki.thumbprint("old_root") in record["root_store"]
        assert code(client.restart_iphlpsvc()) == 0
        assert other.load()["iphttps"] is None


def test_client_spec_needs_a_known_template():
    with pytest.raises(ScenarioError, match=r"da-client-01: unknown template 'sick'; known: healthy"):
        ClientSpec("da-client-01", "sick")


def test_provisioning_needs_the_profile_server(tmp_path, pki):
    with start_servers(pki, ["good"]) as group, \
            pytest.raises(ScenarioError, match=r"da-client-01: no running IP-HTTPS server for profile 'leaf_only'"):
        provision_clients([ClientSpec("da-client-01", "missing_intermediate")], pki, group, tmp_path / "state")


# --- client state input errors ----------------------------------------------------------------------------

@pytest.fixture
def plain_client(tmp_path):
    return ClientState.create(tmp_path / "state", "da-client-09", scenario="manual",
                              iphttps={"server_url": "https://da.lab.example:443/IPHTTPS",
                                       "connect_to": "127.0.0.1:443", "profile": None})


def test_bad_certificate_input_names_the_store(plain_client, pki):
    with pytest.raises(ClientStateError, match=r"da-client-09: certificate for the Root store: cannot parse PEM"):
        plain_client.add_certificate("Root", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ClientStateError, match=r"certificate for the CA store: expected one certificate, found 2"):
        plain_client.add_certificate("CA", pki.pem("root") + pki.pem("issuing"))
    with pytest.raises(ClientStateError, match=r"store must be one of Root, CA, got 'My'"):
        plain_client.add_certificate("My", pki.pem("root"))
    with pytest.raises(ClientStateError, match=r"thumbprint must be 40 hexadecimal digits"):
        plain_client.remove_certificate("Root", "ABC")
    with pytest.raises(ClientStateError, match=r"expected a PEM certificate, got int"):
        plain_client.add_certificate("Root", 42)
    assert plain_client.certificates("Root") == {}


def test_bad_state_files_are_reported_with_their_path(plain_client, pki):
    record = plain_client.load()
    path = plain_client.path
    path.write_text("{not json")
    with pytest.raises(ClientStateError, match=rf"{re.escape(str(path))}: not valid JSON"):
        plain_client.load()
    tampered = dict(record, root_store={"0" * 40: pki.pem("root")})
    path.write_text(json.dumps(tampered))
    with pytest.raises(ClientStateError, match=r"root_store\[0{40}\]: key is not the certificate's SHA-1"):
        plain_client.certificates("Root")
    path.write_text(json.dumps(dict(record, tunnel="yes")))
    with pytest.raises(ClientStateError, match=r"tunnel: must be true or false"):
        plain_client.load()
    path.write_text(json.dumps(dict(record, iphlpsvc={"status": "Paused", "restarts": 0})))
    with pytest.raises(ClientStateError, match=r"iphlpsvc: must be"):
        plain_client.restart_iphlpsvc()
    path.write_text(json.dumps(dict(record, name="da-client-10")))
    with pytest.raises(ClientStateError, match=r"name: must be 'da-client-09'"):
        plain_client.load()
    path.unlink()
    with pytest.raises(ClientStateError, match=r"no state for client da-client-09"):
        plain_client.load()


@pytest.mark.parametrize("kwargs, message", [
    ({"iphttps": {"server_url": "http://da.lab.example/IPHTTPS", "connect_to": "127.0.0.1:443"}},
     r"server_url must be an https URL"),
    ({"iphttps": {"server_url": "https://da.lab.example/IPHTTPS", "connect_to": "da.lab.example:443"}},
     r"connect_to: expected an IP address and a port"),
    ({"iphttps": {"server_url": "https://da.lab.example/IPHTTPS", "connect_to": "127.0.0.1:0"}},
     r"connect_to: port must be 1-65535"),
    ({"iphttps": {"server_url": "https://da.lab.example/IPHTTPS", "connect_to": "127.0.0.1:1", "port": 1}},
     r"iphttps: unknown keys port"),
    ({"iphttps": ["https://da.lab.example/IPHTTPS"]}, r"iphttps: must be a mapping or null"),
    ({"iphlpsvc": "Paused"}, r"iphlpsvc must be one of Running, Stopped"),
])
def test_create_rejects_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(ClientStateError, match=message):
        ClientState.create(tmp_path, "da-client-01", **kwargs)
    assert not (tmp_path / "da-client-01.json").exists()


def test_names_flags_and_duplicates(plain_client, tmp_path):
    with pytest.raises(ClientStateError, match=r"client name must be letters, digits and '-'"):
        ClientState(tmp_path, "../etc/passwd")
    with pytest.raises(ClientStateError, match=r"state for da-client-09 already exists"):
        ClientState.create(plain_client.state_dir, "da-client-09")
    ClientState.create(plain_client.state_dir, "da-client-09", overwrite=True)
    with pytest.raises(ClientStateError, match=r"reachable must be true or false, got 1"):
        plain_client.set_flags(reachable=1)
    plain_client.set_flags(reachable=False)
    assert plain_client.load()["reachable"] is False
    assert cs.parse_connect_to("[::1]:5986") == ("::1", 5986)


# --- scenarios ------------------------------------------------------------------------------------------

def test_every_template_is_in_some_scenario_file():
    used = {name for path in DEFAULT_SCENARIO.parent.glob("*.yml") for name, _count in load_scenario(path).counts}
    assert used == set(TEMPLATES)


def test_default_scenario_builds_its_fleet():
    fleet = build_fleet(DEFAULT_SCENARIO)
    scenario = load_scenario(DEFAULT_SCENARIO)
    assert len(fleet) == sum(count for _name, count in scenario.counts)
    assert [spec.name for spec in fleet] == [f"da-client-{n:02d}" for n in range(1, len(fleet) + 1)]
    for name, count in scenario.counts:
        assert sum(spec.scenario == name for spec in fleet) == count


def test_fleet_size_is_spread_by_largest_remainder(tmp_path):
    path = tmp_path / "two.yml"
    path.write_text("hosts:\n  - {template: untrusted_root, count: 3}\n  - {template: healthy, count: 1}\n")

    def kinds(hosts):
        fleet = build_fleet(path, hosts=hosts)
        return [sum(s.scenario == k for s in fleet) for k in ("untrusted_root", "healthy")]

    assert kinds(4) == [3, 1]
    assert kinds(2) == [2, 0]  # quotas 1.5 and 0.5 tie on remainder: the first listed wins
    assert kinds(6) == [5, 1]  # quotas 4.5 and 1.5: again the tie goes to the first
    assert kinds(7) == [5, 2]  # quotas 5.25 and 1.75: the larger remainder wins
    assert build_fleet(path, hosts=7) == build_fleet(path, hosts=7)
    assert build_fleet(path, hosts=100)[-1].name == "da-client-100"
    assert build_fleet(path, hosts=100)[0].name == "da-client-001"


def test_scaled_default_fleet_is_deterministic():
    fleet = build_fleet(DEFAULT_SCENARIO, hosts=50)
    assert len(fleet) == 50 and fleet == build_fleet(DEFAULT_SCENARIO, hosts=50)
    assert len({spec.name for spec in fleet}) == 50


@pytest.mark.parametrize("text, message", [
    ("hosts: [", r"not valid YAML"),
    ("- healthy\n", r"\(top level\): must be a mapping with a 'hosts' list, got list"),
    ("hosts: []\n", r"hosts: must be a non-empty list"),
    ("description: x\n", r"hosts: must be a non-empty list"),
    ("hosts: [{template: healthy, count: 1}]\nextra: 1\n", r"\(top level\): unknown keys extra"),
    ("description: [1]\nhosts: [{template: healthy, count: 1}]\n", r"description: must be a string"),
    ("hosts: [healthy]\n", r"hosts\[0\]: must be a mapping with 'template' and 'count'"),
    ("hosts: [{template: healthy, count: 1, weight: 2}]\n", r"hosts\[0\]: unknown keys weight"),
    ("hosts: [{template: healthy, count: 1}, {template: sick, count: 1}]\n",
     r"hosts\[1\]\.template: unknown template 'sick'; known: healthy, untrusted_root"),
    ("hosts: [{count: 1}]\n", r"hosts\[0\]\.template: unknown template None"),
    ("hosts: [{template: healthy, count: 1}, {template: healthy, count: 2}]\n",
     r"hosts\[1\]\.template: 'healthy' is listed twice"),
    ("hosts: [{template: healthy, count: -1}]\n", r"hosts\[0\]\.count: must be an integer >= 0, got -1"),
    ("hosts: [{template: healthy, count: yes}]\n", r"hosts\[0\]\.count: must be an integer >= 0, got True"),
    ("hosts: [{template: healthy, count: '2'}]\n", r"hosts\[0\]\.count: must be an integer >= 0, got '2'"),
    ("hosts: [{template: healthy}]\n", r"hosts\[0\]\.count: must be an integer >= 0, got None"),
    ("hosts: [{template: healthy, count: 0}]\n", r"hosts: all counts are 0"),
])
def test_scenario_validation_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(path))}: {message}"):
        build_fleet(path)


def test_scenario_file_must_exist(tmp_path):
    missing = re.escape(str(tmp_path / "missing.yml"))
    with pytest.raises(ScenarioError, match=rf"{missing}: cannot read scenario file: No such file"):
        build_fleet(tmp_path / "missing.yml")


@pytest.mark.parametrize("hosts", [0, -3, True, "4", 2.5])
def test_fleet_size_must_be_a_positive_integer(hosts):
    with pytest.raises(ScenarioError, match=r"default.yml: fleet size: hosts must be an integer >= 1"):
        build_fleet(DEFAULT_SCENARIO, hosts=hosts)


def test_state_file_without_a_disallowed_store_still_loads(tmp_path, pki, servers):
    # Written before the lab modelled Disallowed: a lab restart must not lose such a client.
    client = make_client(tmp_path, pki, servers, "healthy")
    record = json.loads(client.path.read_text(encoding="utf-8"))
    del record["disallowed_store"]
    client.path.write_text(json.dumps(record), encoding="utf-8")
    assert client.load()["disallowed_store"] == {}
    assert code(client.compute_iphttps_state(timeout=FAST)) == 0


def test_removing_the_distrusted_ca_from_disallowed_lets_the_client_connect(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "distrusted_intermediate")
    assert code(client.refresh_iphttps_state(timeout=FAST)) == 0x800B0111
    record = json.loads(client.path.read_text(encoding="utf-8"))
    record["disallowed_store"] = {}
    client.path.write_text(json.dumps(record), encoding="utf-8")
    assert code(client.restart_iphlpsvc(timeout=FAST)) == 0


# --- which transition technology carries DirectAccess -------------------------------------------------------

def test_teredo_carries_directaccess_after_a_restart(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "teredo_after_restart")
    assert code(client.iphttps_state(timeout=FAST)) == cs.CERT_E_UNTRUSTEDROOT
    assert client.da_connection_status() == ("ActionableError", "CouldNotContactDirectAccessServer")
    assert client.restart_iphlpsvc(timeout=FAST, proof={"token": "t", "outcome": "restarted"}) is None
    # No IP-HTTPS object, and nothing reconnects it behind the Teredo connection's back.
    assert client.iphttps_state(timeout=FAST) is None and client.load()["iphttps_state"] is None
    assert client.da_connection_status() == ("ConnectedRemotely", "None")
    assert client.restart_marker() == {"token": "t", "outcome": "restarted"}
    client.stop_iphlpsvc()  # NcaSvc goes down with IP Helper: Get-DAConnectionStatus throws
    assert client.da_connection_status() is None and "active_transition" not in client.load()


def test_inside_the_corporate_network_ip_https_is_never_active(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "inside_corpnet")
    assert client.iphttps_state(timeout=FAST) is None and client.compute_iphttps_state(timeout=FAST) is None
    assert client.da_connection_status() == ("ConnectedLocally", "None")
    assert client.restart_iphlpsvc(timeout=FAST) is None
    assert client.da_connection_status() == ("ConnectedLocally", "None")


def test_directaccess_status_follows_ip_https_on_a_plain_client(tmp_path, pki, servers):
    client = make_client(tmp_path, pki, servers, "untrusted_root")
    assert client.da_connection_status() == ("ActionableError", "CouldNotContactDirectAccessServer")
    client.add_certificate("Root", pki.pem("root"))
    client.restart_iphlpsvc(timeout=FAST)
    assert client.da_connection_status() == ("ConnectedRemotely", "None") and client.restart_marker() is None
    assert make_client(tmp_path, pki, servers, "not_directaccess", "da-client-02").da_connection_status() is None
