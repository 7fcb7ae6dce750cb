# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's revocation side: CRL and OCSP servers, the revocation templates, and client_info's fetches.

Every error code here comes from a real TLS handshake and a real CRL fetched over HTTP from the
lab's PKI web and checked (signature, thisUpdate/nextUpdate, serial); nothing is a label.
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from . import revocation
from .client_state import ClientState
from .pki import (
    INSIDE_CRL_URL,
    INSIDE_LDAP_CRL_URL,
    INSIDE_PKI_HOST,
    ISSUING_CRL_URL,
    OCSP_URL,
    OFFLINE_CRL_URL,
    PKI_HOST,
    REVOCATION_CERT_FILES,
    ROOT_CRL_URL,
    STALE_CRL_URL,
    ensure_pki,
    load_pki,
)
from .revocation import CRYPT_E_REVOCATION_OFFLINE, CRYPT_E_REVOKED, PKIWeb, read_routes, revocation_section
from .scenarios import TEMPLATES, ClientSpec, build_fleet, load_scenario, provision_clients
from .test_lab_runtime import PywinrmConnection, host_in, lab_cli, protocol_for, raw_result, run, seeded_lab_dir

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).parent / "scenarios" / "revocation.yml"
FAST = 0.5
UNTRUSTED_ROOT = 0x800B0109

# Template -> (LastErrorCode, the URL its check ends on, what the lab client's detail says about it).
EXPECTED = {
    "revocation_ok": (0, None, "chain verified"),
    "cdp_offline": (CRYPT_E_REVOCATION_OFFLINE, OFFLINE_CRL_URL, "Unable to connect to the remote server"),
    "crl_expired": (CRYPT_E_REVOCATION_OFFLINE, STALE_CRL_URL, "CRL not current"),
    "revoked_server_cert": (CRYPT_E_REVOKED, ISSUING_CRL_URL, "is listed on the CRL"),
    "cdp_inside_only": (CRYPT_E_REVOCATION_OFFLINE, INSIDE_CRL_URL,
                        f"The remote name could not be resolved: '{INSIDE_PKI_HOST}'"),
}


def client_for(tmp_path, pki, servers, template: str, name: str = "da-client-01") -> ClientState:
    return provision_clients([ClientSpec(name, template)], pki, servers, tmp_path / "state")[0]


def requests_since(web: PKIWeb, before: int) -> list[tuple[str, str]]:
    return [(site, path) for site, _host, _method, path in web.requests[before:]]


def leaf_and_issuer(pki, template: str) -> tuple[x509.Certificate, x509.Certificate]:
    from .iphttps_server import PROFILES  # pylint: disable=import-outside-toplevel

    return pki.cert(PROFILES[TEMPLATES[template].server_profile].leaf), pki.cert("issuing_crl")


# --- the templates' errors come from the real check ---------------------------------------------------

def test_the_scenario_file_has_one_host_of_each_revocation_kind():
    scenario = load_scenario(SCENARIO)
    assert [name for name, _count in scenario.counts] == list(EXPECTED)
    assert [spec.scenario for spec in build_fleet(SCENARIO)] == list(EXPECTED)


@pytest.mark.parametrize("template", list(EXPECTED))
def test_template_gives_its_error_from_a_real_fetch(tmp_path, pki, servers, template):
    code, url, detail = EXPECTED[template]
    web = servers.pki_web
    before = len(web.requests)
    state = client_for(tmp_path, pki, servers, template).iphttps_state(timeout=FAST)
    assert state.last_error_code == code
    assert detail in state.detail
    if url is not None:
        assert url in state.detail
    fetched = requests_since(web, before)
    # The issuing CA is checked first (root down), against the root's CRL on the public site.
    assert fetched[0] == (PKI_HOST, "/crl/root.crl")
    expected_leaf_fetch = {"revocation_ok": "/crl/issuing-crl.crl", "revoked_server_cert": "/crl/issuing-crl.crl",
                           "crl_expired": "/crl/stale/issuing-crl.crl"}.get(template)
    assert fetched[1:] == ([(PKI_HOST, expected_leaf_fetch)] if expected_leaf_fetch else [])


def test_the_error_follows_the_network_not_a_label(tmp_path, pki, servers):
    client = client_for(tmp_path, pki, servers, "revocation_ok")
    assert client.compute_iphttps_state(timeout=FAST).last_error_code == 0
    network = tmp_path / "state" / "network.json"
    saved = network.read_text()
    document = json.loads(saved)
    del document["outside"][PKI_HOST]  # the CDP host drops out of public DNS
    network.write_text(json.dumps(document))
    state = client.compute_iphttps_state(timeout=FAST)
    assert state.last_error_code == CRYPT_E_REVOCATION_OFFLINE
    assert f"The remote name could not be resolved: '{PKI_HOST}'" in state.detail
    network.write_text(saved)
    assert client.compute_iphttps_state(timeout=FAST).last_error_code == 0


def test_a_client_without_a_network_resolves_no_cdp(tmp_path, pki, servers):
    client = client_for(tmp_path, pki, servers, "revocation_ok")
    (tmp_path / "state" / "network.json").unlink()
    assert client.compute_iphttps_state(timeout=FAST).last_error_code == CRYPT_E_REVOCATION_OFFLINE
    # A chain without CDPs is not checked, so the default templates do not depend on the network.
    healthy = client_for(tmp_path, pki, servers, "healthy", "da-client-02")
    assert healthy.compute_iphttps_state(timeout=FAST).last_error_code == 0


def test_an_untrusted_root_is_reported_before_revocation_and_nothing_is_fetched(tmp_path, pki, servers):
    client = client_for(tmp_path, pki, servers, "revoked_server_cert")
    client.remove_certificate("Root", pki.thumbprint("root"))
    client.add_certificate("Root", pki.pem("old_root"))
    before = len(servers.pki_web.requests)
    assert client.compute_iphttps_state(timeout=FAST).last_error_code == UNTRUSTED_ROOT
    assert servers.pki_web.requests[before:] == []
    # Trust the root again and the revocation failure shows.
    client.add_certificate("Root", pki.pem("root"))
    assert client.compute_iphttps_state(timeout=FAST).last_error_code == CRYPT_E_REVOKED


def test_revoked_intermediate_is_found_from_the_top(pki):
    # A CRL of the root that lists the CRL issuing CA: the chain fails there, before the leaf is looked at.
    now = datetime.datetime.now(datetime.timezone.utc)
    root_crl = revocation._crl(pki.cert("root"), pki.private_key("root"), 9, now - datetime.timedelta(hours=1),
                               now + datetime.timedelta(days=1), [(pki.cert("issuing_crl"), now)])
    chain = [pki.cert("iphttps_crl"), pki.cert("issuing_crl"), pki.cert("root")]
    with _StaticSite({"/crl/root.crl": root_crl}) as routes:
        code, detail = revocation.check_chain(chain, routes, FAST)
    assert code == CRYPT_E_REVOKED
    assert "DirectAccess Lab CRL Issuing CA" in detail and ROOT_CRL_URL in detail


@pytest.mark.parametrize("tamper, reason", [
    ("other_signer", "CRL not signed by"),
    ("garbage", "not a CRL"),
    ("future", "CRL not current"),
])
def test_a_crl_that_fails_the_checks_counts_as_offline(pki, tamper, reason):
    now = datetime.datetime.now(datetime.timezone.utc)
    root, root_key = pki.cert("root"), pki.private_key("root")
    crl = {
        # Signed by the issuing CA's key in the root's name: the signature does not verify.
        "other_signer": revocation._crl(root, pki.private_key("issuing_crl"), 1, now - datetime.timedelta(hours=1),
                                        now + datetime.timedelta(days=1)),
        "garbage": b"<html>captive portal</html>",
        "future": revocation._crl(root, root_key, 1, now + datetime.timedelta(days=1),
                                  now + datetime.timedelta(days=2)),
    }[tamper]
    with _StaticSite({"/crl/root.crl": crl}) as routes:
        code, detail = revocation.check_chain([pki.cert("issuing_crl"), root], routes, FAST)
    assert code == CRYPT_E_REVOCATION_OFFLINE
    assert f"{ROOT_CRL_URL}: {reason}" in detail


# --- the inside-only CDP ---------------------------------------------------------------------------------

def test_the_inside_only_cdp_is_unreachable_from_the_client_and_reachable_inside(tmp_path, pki, servers):
    client_for(tmp_path, pki, servers, "cdp_inside_only")
    outside = read_routes(tmp_path / "state", "outside")
    inside = read_routes(tmp_path / "state", "inside")
    assert INSIDE_PKI_HOST not in outside and INSIDE_PKI_HOST in inside
    assert set(outside) < set(inside)
    from_client = revocation.fetch(INSIDE_CRL_URL, outside, FAST)
    assert (from_client.status, from_client.body) == (None, None)
    assert from_client.error == f"The remote name could not be resolved: '{INSIDE_PKI_HOST}'"
    from_inside = revocation.fetch(INSIDE_CRL_URL, inside, FAST)
    assert from_inside.status == 200 and from_inside.error is None
    crl = x509.load_der_x509_crl(from_inside.body)
    assert crl.is_signature_valid(pki.cert("issuing_crl").public_key())
    assert crl.next_update_utc > datetime.datetime.now(datetime.timezone.utc)


def test_the_offline_cdp_host_refuses_and_unknown_paths_are_404(servers):
    routes = servers.pki_web.routes("outside")
    refused = revocation.fetch(OFFLINE_CRL_URL, routes, FAST)
    assert (refused.status, refused.error) == (None, "Unable to connect to the remote server")
    missing = revocation.fetch(f"http://{PKI_HOST}/crl/nope.crl", routes, FAST)
    assert missing.status == 404 and missing.body is None
    assert missing.error == "The remote server returned an error: (404) Not Found."


# --- the OCSP responder ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, status", [("iphttps_crl", ocsp.OCSPCertStatus.GOOD),
                                          ("iphttps_revoked", ocsp.OCSPCertStatus.REVOKED)])
def test_the_ocsp_responder_answers_post_and_get(pki, servers, name, status):
    import urllib.request  # pylint: disable=import-outside-toplevel

    issuer = pki.cert("issuing_crl")
    request = ocsp.OCSPRequestBuilder().add_certificate(pki.cert(name), issuer, hashes.SHA1()).build()
    der = request.public_bytes(Encoding.DER)
    address = servers.pki_web.routes("outside")["ocsp.lab.example"]
    post = urllib.request.Request(f"http://{address}/ocsp", data=der,
                                  headers={"Content-Type": "application/ocsp-request"})
    encoded = base64.b64encode(der).decode("ascii").replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    for answer in (urllib.request.urlopen(post, timeout=FAST).read(),  # noqa: S310 - loopback
                   urllib.request.urlopen(f"http://{address}/ocsp/{encoded}", timeout=FAST).read()):  # noqa: S310
        response = ocsp.load_der_ocsp_response(answer)
        assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert response.certificate_status == status
        assert response.serial_number == pki.cert(name).serial_number
        issuer.public_key().verify(response.signature, response.tbs_response_bytes,
                                   *_rsa_args(response.signature_hash_algorithm))
    # A GET of the responder URL itself asks about no certificate: an answer, but no status.
    bare = revocation.fetch(OCSP_URL, servers.pki_web.routes("outside"), FAST)
    assert bare.status == 200
    assert ocsp.load_der_ocsp_response(bare.body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def _rsa_args(algorithm):
    from cryptography.hazmat.primitives.asymmetric import padding  # pylint: disable=import-outside-toplevel

    return padding.PKCS1v15(), algorithm


# --- client_info's revocation section ------------------------------------------------------------------------

def fetches_of(doc: dict) -> list[tuple]:
    return [(f["cert_index"], f["kind"], f["url"], f["reachable"], f["status"], f["error"])
            for f in doc["revocation"]["fetches"]]


def test_client_info_auto_fetches_for_the_inside_only_cdp(collection, make_handler):
    doc = run(collection, make_handler("cdp_inside_only"), "client_info", {"connect_timeout_ms": 2000})
    assert doc["version"] >= 3  # the revocation section came with v3
    assert doc["iphttps_state"]["last_error_code"] == CRYPT_E_REVOCATION_OFFLINE
    assert doc["revocation"]["proxy"] == {"source": "winhttp", "proxy": None, "bypass": None}
    assert fetches_of(doc) == [
        (0, "crl", INSIDE_LDAP_CRL_URL, False, None, "ldap not fetched"),
        (0, "crl", INSIDE_CRL_URL, False, None, f"The remote name could not be resolved: '{INSIDE_PKI_HOST}'"),
        (1, "crl", ROOT_CRL_URL, True, 200, None),
    ]
    root_crl = doc["revocation"]["fetches"][2]
    body = base64.b64decode(root_crl["body_base64"])
    assert root_crl["size"] == len(body)
    assert x509.load_der_x509_crl(body).issuer == x509.load_der_x509_certificate(
        base64.b64decode(doc["server_chain"][2])).subject
    # The chain status is SslStream's, built without revocation checking: nothing to report there.
    assert doc["chain_status"] == []


@pytest.mark.parametrize("template, leaf_url, leaf_check", [
    ("cdp_offline", OFFLINE_CRL_URL, "refused"),
    ("crl_expired", STALE_CRL_URL, "stale"),
    ("revoked_server_cert", ISSUING_CRL_URL, "listed"),
])
def test_client_info_returns_what_the_controller_needs_to_judge(collection, make_handler, pki, template,
                                                                leaf_url, leaf_check):
    doc = run(collection, make_handler(template), "client_info", {"connect_timeout_ms": 2000})
    leaf_fetch, issuer_fetch = doc["revocation"]["fetches"]
    assert (leaf_fetch["cert_index"], leaf_fetch["url"]) == (0, leaf_url)
    assert (issuer_fetch["cert_index"], issuer_fetch["url"], issuer_fetch["reachable"]) == (1, ROOT_CRL_URL, True)
    leaf, issuer = leaf_and_issuer(pki, template)
    if leaf_check == "refused":
        assert (leaf_fetch["reachable"], leaf_fetch["status"], leaf_fetch["size"], leaf_fetch["body_base64"]) == (
            False, None, None, None)
        assert leaf_fetch["error"] == "Unable to connect to the remote server"
        return
    assert (leaf_fetch["reachable"], leaf_fetch["status"], leaf_fetch["error"]) == (True, 200, None)
    crl = x509.load_der_x509_crl(base64.b64decode(leaf_fetch["body_base64"]))
    assert crl.is_signature_valid(issuer.public_key())
    now = datetime.datetime.now(datetime.timezone.utc)
    if leaf_check == "stale":
        assert crl.next_update_utc < now
    else:
        assert crl.next_update_utc > now
        assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None


def test_client_info_auto_does_not_fetch_for_other_errors_and_always_does(collection, make_handler):
    handler = make_handler("revocation_ok")
    assert run(collection, handler, "client_info", {})["revocation"] is None
    assert run(collection, handler, "client_info", {"revocation": "never"})["revocation"] is None
    doc = run(collection, handler, "client_info", {"revocation": "ALWAYS"})  # -notcontains ignores case
    assert fetches_of(doc) == [
        (0, "crl", ISSUING_CRL_URL, True, 200, None),
        # A GET of the responder URL: any answer means reachable.
        (0, "ocsp", OCSP_URL, True, 200, None),
        (1, "crl", ROOT_CRL_URL, True, 200, None),
    ]
    # A chain without CDP or AIA: "always" runs and finds nothing to fetch.
    assert run(collection, make_handler("healthy", name="da-client-02"), "client_info",
               {"revocation": "always"})["revocation"]["fetches"] == []


def test_client_info_never_skips_even_a_revocation_error(collection, make_handler):
    doc = run(collection, make_handler("cdp_offline"), "client_info", {"revocation": "never"})
    assert doc["iphttps_state"]["last_error_code"] == CRYPT_E_REVOCATION_OFFLINE
    assert doc["revocation"] is None


@pytest.mark.parametrize("params, message", [
    ({"revocation": "sometimes"}, "revocation must be auto, always or never, not 'sometimes'"),
    ({"revocation_timeout_ms": 0}, "revocation_timeout_ms must be at least 1, not 0"),
    ({"revocation_timeout_ms": "soon"}, 'Cannot convert value "soon" to type "System.Int32"'),
])
def test_client_info_refuses_bad_revocation_input(collection, make_handler, params, message):
    result = raw_result(collection, make_handler("cdp_offline"), "client_info", params)
    assert result.rc == 1
    assert message in result.stderr.decode("utf-8").replace("_x000D__x000A_", "")


# --- the section's limits ---------------------------------------------------------------------------------

def test_the_lab_uses_the_scripts_limits_and_codes():
    script = (REPO / "plugins" / "plugin_utils" / "scripts" / "client_info.ps1").read_text(encoding="utf-8")
    assert f"$revocationTimeoutMs = {revocation.FETCH_TIMEOUT_MS}" in script
    assert f"$deadlineMs = {revocation.FETCH_DEADLINE_MS}" in script
    assert f"if ($fetches.Count -ge {revocation.MAX_FETCHES}) {{ break }}" in script
    assert f"if ($size -le {revocation.MAX_BODY_BYTES})" in script
    assert f"$request.UserAgent = '{revocation.USER_AGENT}'" in script
    assert f"$revocationErrors = @({', '.join(str(code) for code in revocation.REVOCATION_ERRORS)})" in script


class _StaticSite:
    """One throwaway HTTP site on loopback serving fixed bodies: routes for it as a context manager."""

    def __init__(self, files: dict[str, bytes], host: str = PKI_HOST):
        self.site = revocation._Site(host, dict(files))
        self.host = host
        self.requests: list = []
        self.server = None

    def record(self, *request) -> None:
        self.requests.append(request)

    def __enter__(self) -> dict[str, str]:
        import threading  # pylint: disable=import-outside-toplevel

        self.server = revocation._SiteServer(("127.0.0.1", 0), self.site, self)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return {self.host: f"127.0.0.1:{self.server.server_address[1]}"}

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cert_with_urls(pki, crl_urls, ocsp_urls=()) -> bytes:
    from .pki import _revocation_extensions  # pylint: disable=import-outside-toplevel

    now = datetime.datetime.now(datetime.timezone.utc)
    key = pki.private_key("iphttps_crl")
    builder = (x509.CertificateBuilder().subject_name(pki.cert("iphttps_crl").subject)
               .issuer_name(pki.cert("issuing_crl").subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=1)))
    cert = _revocation_extensions(builder, crl_urls, ocsp_urls).sign(pki.private_key("issuing_crl"), hashes.SHA256())
    return cert.public_bytes(Encoding.DER)


def test_each_url_is_fetched_once_and_at_most_sixteen_are_listed(pki):
    urls = [f"http://{PKI_HOST}/crl/{n}.crl" for n in range(12)]
    # The repeat differs in case only: the script's @{} of fetched URLs ignores case.
    leaf = _cert_with_urls(pki, urls + [urls[0].upper()], [OCSP_URL])
    with _StaticSite({f"/crl/{n}.crl": b"x" * n for n in range(12)}) as routes:
        section = revocation_section([leaf, leaf], routes)
    fetches = section["fetches"]
    assert len(fetches) == revocation.MAX_FETCHES == 16
    assert [f["url"] for f in fetches] == urls + [urls[0].upper(), OCSP_URL] + urls[:2]
    assert [f["cert_index"] for f in fetches] == [0] * 14 + [1, 1]
    assert fetches[5]["size"] == 5 and base64.b64decode(fetches[5]["body_base64"]) == b"xxxxx"
    # The repeated URL is answered from the first fetch; the OCSP host is not in these routes.
    assert fetches[12] == dict(fetches[0], url=urls[0].upper())
    assert fetches[13]["error"] == "The remote name could not be resolved: 'ocsp.lab.example'"


def test_a_body_over_the_limit_is_counted_not_returned(pki):
    leaf = _cert_with_urls(pki, [ISSUING_CRL_URL])
    big = b"\0" * (revocation.MAX_BODY_BYTES + 1)
    with _StaticSite({"/crl/issuing-crl.crl": big}) as routes:
        (fetched,) = revocation_section([leaf], routes)["fetches"]
    assert (fetched["reachable"], fetched["status"], fetched["size"], fetched["body_base64"]) == (
        True, 200, revocation.MAX_BODY_BYTES + 1, None)


def test_fetches_after_the_deadline_are_listed_not_made(pki):
    leaf = _cert_with_urls(pki, [ISSUING_CRL_URL, ROOT_CRL_URL])
    ticks = iter([0.0, 0.0, 31.0])  # start, before the first fetch, before the second
    with _StaticSite({"/crl/issuing-crl.crl": b"crl"}) as routes:
        fetches = revocation_section([leaf], routes, clock=lambda: next(ticks))["fetches"]
    assert fetches[0]["reachable"] is True
    assert fetches[1]["reachable"] is False and fetches[1]["status"] is None
    assert fetches[1]["error"].startswith("not fetched: all fetches together may take 30000 ms")


# --- a lab fleet started from the scenario file ----------------------------------------------------------------

def test_a_lab_fleet_from_the_revocation_scenario(tmp_path, pki, collection):
    lab_dir = seeded_lab_dir(tmp_path, pki)
    started = lab_cli("up", "--scenario", str(SCENARIO), "--lab-dir", str(lab_dir))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        document = json.loads((lab_dir / "lab.json").read_text())
        assert INSIDE_PKI_HOST in document["pki_web"]["inside"]
        assert INSIDE_PKI_HOST not in document["pki_web"]["outside"]
        assert read_routes(lab_dir / "state") == document["pki_web"]["outside"]
        codes: dict = {}
        for _attempt in range(100):  # each host connects once at start, in the background
            report = json.loads(lab_cli("status", "--json", "--lab-dir", str(lab_dir)).stdout)
            codes = {host["scenario"]: host["last_error_code"] for host in report["hosts"].values()}
            if None not in codes.values():
                break
            time.sleep(0.1)
        assert codes == {template: code for template, (code, _url, _detail) in EXPECTED.items()}
        connection = PywinrmConnection(protocol_for(lab_dir, host_in(lab_dir, "cdp_inside_only")))
        try:
            doc = collection["_windows_scripts"].run_script(connection, "client_info", {"connect_timeout_ms": 2000})
        finally:
            connection.close()
        assert [(f["url"], f["reachable"]) for f in doc["revocation"]["fetches"]] == [
            (INSIDE_LDAP_CRL_URL, False), (INSIDE_CRL_URL, False), (ROOT_CRL_URL, True)]
    finally:
        stopped = lab_cli("down", "--lab-dir", str(lab_dir))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


# --- the PKI and the network file ----------------------------------------------------------------------------

def test_an_older_pki_gets_its_revocation_certificates_signed_by_its_own_root(tmp_path, pki):
    old = tmp_path / "pki"
    shutil.copytree(pki.directory, old)
    shutil.rmtree(old / "revocation")
    again = ensure_pki(old)
    assert again.thumbprint("root") == pki.thumbprint("root")
    for name in REVOCATION_CERT_FILES:
        assert again.thumbprint(name) != pki.thumbprint(name)  # new certificates ...
    again.cert("issuing_crl").verify_directly_issued_by(again.cert("root"))  # ... under the same root
    again.cert("iphttps_revoked").verify_directly_issued_by(again.cert("issuing_crl"))
    assert load_pki(old).thumbprint("iphttps_crl") == again.thumbprint("iphttps_crl")


def test_every_revocation_certificate_carries_its_urls(pki):
    expected = {
        "issuing_crl": [("crl", ROOT_CRL_URL)],
        "iphttps_crl": [("crl", ISSUING_CRL_URL), ("ocsp", OCSP_URL)],
        "iphttps_crl_offline": [("crl", OFFLINE_CRL_URL)],
        "iphttps_crl_stale": [("crl", STALE_CRL_URL)],
        "iphttps_revoked": [("crl", ISSUING_CRL_URL)],
        "iphttps_crl_inside": [("crl", INSIDE_LDAP_CRL_URL), ("crl", INSIDE_CRL_URL)],
    }
    assert {name: revocation.revocation_urls(pki.cert(name)) for name in REVOCATION_CERT_FILES} == expected
    # The DirectAccess server name, so only revocation differs from the healthy template.
    assert {pki.cert(name).subject for name in expected if name != "issuing_crl"} == {pki.cert("iphttps").subject}


def test_read_routes_refuses_a_bad_network_file(tmp_path):
    assert read_routes(tmp_path) == {}
    (tmp_path / "network.json").write_text('{"outside": ["pki.lab.example"]}')
    with pytest.raises(ValueError, match=r"network.json: outside must map host names to 'address:port'"):
        read_routes(tmp_path)
    (tmp_path / "network.json").write_text("{")
    with pytest.raises(ValueError, match=r"network.json: not valid JSON"):
        read_routes(tmp_path)
    with pytest.raises(ValueError, match=r"network view must be one of outside, inside, got 'dmz'"):
        read_routes(tmp_path, "dmz")


def test_pki_web_refuses_a_second_start_and_routes_when_stopped(pki):
    web = PKIWeb(pki).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            web.start()
    finally:
        web.stop()
    with pytest.raises(RuntimeError, match="not running"):
        web.routes()
