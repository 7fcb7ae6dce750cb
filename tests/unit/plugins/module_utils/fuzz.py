# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing helpers: real certificates to mutate, hypothesis strategies, and big-pool scenarios.

Test helper only; never imported by the collection. Used by the test_fuzz_*.py files, by
`make fuzz` and by tests/bench/bench.py.

- ``corpus()``: DER of certificates generated with pki.py (every key type, signature and
  extension shape the analyser knows) plus the x509 files of the pinned cryptography-vectors.
- ``mutated_der()``: a hypothesis strategy that edits one of them. Most edits work on the DER
  tree (change a tag, replace or drop a value, repeat or move an element, graft one from another
  certificate) and re-encode the lengths, so the result often still loads and reaches the lazy
  parsers; the rest flip, cut and splice raw bytes.
- ``fuzz_settings()``: few derandomized examples in `make test`; ``IPHTTPS_FUZZ_EXAMPLES=N``
  (set by `make fuzz`) runs N random examples per test instead.
- ``pool_scenarios()``: a 20-certificate server chain with 5,000 certificates in root_store,
  intermediate_store and bundle, in the shapes that cost the path builder most.
"""
from __future__ import annotations

import datetime
import functools
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

EXAMPLES_VARIABLE = "IPHTTPS_FUZZ_EXAMPLES"


def fuzz_examples() -> int:
    """Examples per test asked for by `make fuzz`, or 0 in `make test`."""
    text = os.environ.get(EXAMPLES_VARIABLE, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{EXAMPLES_VARIABLE} must be a positive number of examples, got {text!r}")
    return int(text)


def fuzz_settings(examples: int = 30) -> settings:
    """``examples`` derandomized examples (same inputs on every run) unless `make fuzz` asks for more.

    No example database (ansible-test runs from a staged copy, and `make test` must not depend on
    earlier runs) and no per-example deadline: timing is `make fuzz`'s and the bench's job.
    """
    wanted = fuzz_examples()
    return settings(max_examples=wanted or examples, derandomize=not wanted, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=bool(wanted))


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------

def _generated() -> list:
    """Certificates of every shape the analyser has rules for."""
    rsa = pki.make_hierarchy("da.contoso.com", root_kwargs={"crl_urls": ["http://pki.contoso.com/root.crl"]},
                             leaf_kwargs={"aia_ca_issuers": ["http://pki.contoso.com/issuing.crt"],
                                          "crl_urls": ["http://pki.contoso.com/issuing.crl"]})
    ecdsa = pki.make_hierarchy("da.fabrikam.com", prefix="Fabrikam", root_key_type="ecdsa",
                               intermediate_key_type="ecdsa", leaf_key_type="ecdsa",
                               intermediate_kwargs={"path_length": 0})
    edwards = pki.make_root("Edwards Root CA", key_type="ed25519")
    pss = pki.issue("da.pss.example", issuer=rsa.intermediate, san_dns=("da.pss.example",),
                    rsa_padding=pki.pss_padding())
    critical = pki.make_leaf("da.contoso.com", ecdsa.intermediate, extra_extensions=[
        (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.99999.1"), b"\x05\x00"), True)])
    constrained = pki.make_intermediate("Constrained CA", rsa.root, extra_extensions=[
        (x509.NameConstraints(permitted_subtrees=[x509.DNSName("contoso.com")], excluded_subtrees=None), True)])
    v1_root = pki.make_root("Old Root CA", basic_constraints=False, key_usage=False, ski=False)
    return [
        rsa.root.cert, rsa.intermediate.cert, rsa.leaf.cert,
        ecdsa.root.cert, ecdsa.intermediate.cert, ecdsa.leaf.cert,
        edwards.cert, pss.cert, critical.cert, constrained.cert, v1_root.cert,
        pki.make_leaf("cn-only.contoso.com", rsa.intermediate, san_dns=()).cert,
        pki.make_leaf("*.contoso.com", ecdsa.intermediate, san_ip=("192.0.2.10", "2001:db8::1")).cert,
        pki.resign(rsa.leaf.cert, rsa.intermediate.key, "sha1_rsa"),
        pki.resign(ecdsa.leaf.cert, ecdsa.intermediate.key, "sha1_ecdsa"),
        pki.resign(rsa.leaf.cert, rsa.intermediate.key, "md5_rsa"),
    ]


def _vector_certificates() -> list:
    """Every certificate in cryptography-vectors' x509 folder (PKITS: its certs only)."""
    import cryptography_vectors  # pinned in requirements/test.txt: a missing package must fail, not skip
    from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
        CertificateError,
        load_certificates,
    )

    top = os.path.join(os.path.dirname(cryptography_vectors.__file__), "x509")
    found = []
    for folder, subfolders, files in os.walk(top):
        subfolders.sort()
        if os.path.basename(folder) in ("crls", "pkcs8", "privkeys", "ocsp", "requests"):
            continue
        for name in sorted(files):
            with open(os.path.join(folder, name), "rb") as handle:
                data = handle.read()
            try:
                found += load_certificates(data, name)
            except CertificateError:
                continue  # keys, CSRs, CRLs and deliberately broken files: the loader tests cover them
    return found


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[bytes, ...]:
    """DER of every corpus certificate, in a fixed order (so derandomized runs repeat exactly)."""
    seen, ders = set(), []
    for cert in _generated() + _vector_certificates():
        der = cert.public_bytes(serialization.Encoding.DER)
        if der not in seen:
            seen.add(der)
            ders.append(der)
    return tuple(ders)


@functools.lru_cache(maxsize=1)
def reference_chain():
    """Contoso root -> issuing CA -> da.contoso.com: where mutated certificates are put."""
    return pki.make_hierarchy("da.contoso.com")


# ---------------------------------------------------------------------------------------------
# DER tree mutation
# ---------------------------------------------------------------------------------------------

def parse_tree(raw: bytes, depth: int = 0) -> list | None:
    """[[tag, children or value bytes], ...] for a run of DER elements; None when it is not DER."""
    nodes, pos = [], 0
    while pos < len(raw):
        if pos + 2 > len(raw):
            return None
        tag, first = raw[pos], raw[pos + 1]
        if first < 0x80:
            length, body = first, pos + 2
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + 2 + count > len(raw):
                return None
            length, body = int.from_bytes(raw[pos + 2:pos + 2 + count], "big"), pos + 2 + count
        if body + length > len(raw):
            return None
        value = raw[body:body + length]
        children = parse_tree(value, depth + 1) if tag & 0x20 and depth < 12 else None
        nodes.append([tag, children if children is not None else value])
        pos = body + length
    return nodes


def encode_tree(nodes: list) -> bytes:
    return b"".join(pki.der_tlv(tag, encode_tree(value) if isinstance(value, list) else value)
                    for tag, value in nodes)


def _all_nodes(nodes: list, found: list) -> list:
    for node in nodes:
        found.append((nodes, node))
        if isinstance(node[1], list):
            _all_nodes(node[1], found)
    return found


def _copy(node):
    return [node[0], [_copy(child) for child in node[1]]] if isinstance(node[1], list) else list(node)


# Tags worth swapping in: the universal types certificates use, context tags of the TBS fields and
# extensions, GeneralName choices ([0]..[8]) and long-form / reserved values.
_TAGS = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x1F, 0x30, 0x31,
         0x80, 0x81, 0x82, 0x86, 0x87, 0x88, 0xA0, 0xA1, 0xA3, 0xA4, 0xBF, 0xFF, 0x00)
_VALUES = (b"", b"\x00", b"\xff", b"\x80", b"\x01", b"\x00" * 20, b"\xff" * 9, b"\x7f\xff\xff\xff", b"*", b"\xc3\x28")


def apply_mutations(der: bytes, ops: list[tuple[int, int, int, bytes]], donor: bytes) -> bytes:
    """Apply (kind, where, which, data) edits; ``where``/``which`` pick a node or offset modulo the size."""
    tree = parse_tree(der)
    raw = bytearray(der)
    donor_tree = parse_tree(donor) or []
    donors = [node for _parent, node in _all_nodes(donor_tree, [])] or [[0x05, b""]]
    for kind, where, which, data in ops:
        nodes = _all_nodes(tree, []) if tree else []
        if kind < 8 and nodes:
            parent, node = nodes[where % len(nodes)]
            if kind == 0:
                node[0] = _TAGS[which % len(_TAGS)]
            elif kind == 1:
                node[1] = _VALUES[which % len(_VALUES)] if which % 2 else data
            elif kind == 2:
                parent.remove(node)
            elif kind == 3:
                parent.insert(parent.index(node), _copy(node))  # a repeated element (duplicate extension)
            elif kind == 4:
                parent.insert(which % (len(parent) + 1), _copy(donors[which % len(donors)]))
            elif kind == 5:
                node[1] = _copy(donors[which % len(donors)])[1]
            elif kind == 6 and isinstance(node[1], bytes) and node[1]:
                value = bytearray(node[1])
                value[which % len(value)] ^= 1 << (where % 8)
                node[1] = bytes(value)
            elif kind == 7 and isinstance(node[1], list) and len(node[1]) > 1:
                node[1].append(node[1].pop(which % len(node[1])))
            raw = bytearray(encode_tree(tree))
        elif raw:
            # Raw byte edits break the tree: later edits are raw too.
            tree = None
            pos = where % len(raw)
            if kind % 4 == 0:
                raw[pos] ^= 1 << (which % 8)
            elif kind % 4 == 1:
                del raw[pos:pos + 1 + which % 16]
            elif kind % 4 == 2:
                raw[pos:pos] = data
            else:
                raw = raw[:pos]
    return bytes(raw)


_OPS = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1 << 16), st.integers(0, 1 << 16),
                          st.binary(max_size=24)), min_size=1, max_size=4)


@st.composite
def mutated_der(draw) -> bytes:
    """DER of a corpus certificate after one to four edits."""
    ders = corpus()
    base = draw(st.sampled_from(ders))
    donor = draw(st.sampled_from(ders))
    return apply_mutations(base, draw(_OPS), donor)


@st.composite
def encoded(draw, der_strategy=None) -> bytes | str:
    """A (mutated) certificate the way users hand it over: DER, PEM, base64 text or PKCS#7 PEM."""
    import base64

    der = draw(der_strategy if der_strategy is not None else mutated_der())
    form = draw(st.sampled_from(("der", "pem", "base64", "pem-crlf", "pem-pair")))
    body = base64.encodebytes(der).decode("ascii")
    if form == "der":
        return der
    if form == "base64":
        return body
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    if form == "pem-crlf":
        return pem.replace("\n", "\r\n")
    if form == "pem-pair":
        return pki.pem_bundle(reference_chain().intermediate) + pem
    return pem


def loadable(der: bytes):
    """The certificate cryptography makes of ``der``, or None when it refuses it outright."""
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        return None


@st.composite
def mutated_certificates(draw):
    """A certificate object that cryptography loads from a mutated DER (its lazy parts may still fail)."""
    for _attempt in range(20):
        cert = loadable(draw(mutated_der()))
        if cert is not None:
            return cert
    # Mutations that keep a certificate loadable are common; this fallback keeps the strategy total.
    return x509.load_der_x509_certificate(draw(st.sampled_from(corpus())))


# ---------------------------------------------------------------------------------------------
# Big pools: a 20-certificate chain against 5,000 certificates
# ---------------------------------------------------------------------------------------------

CHAIN_LENGTH = 20
POOL_SIZE = 5000
_NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fuzz Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject, issuer, key, signer, *, ca=True, ski=True, aki=None, serial=None, san=None):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(_NOW - datetime.timedelta(days=1))
               .not_valid_after(_NOW + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if aki is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _key_id(key) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest


_SERIAL = 0x7A5E_1A1_0000_0000_01  # 9 bytes, found once in the template's DER


def _copies(template, count: int, marker: bytes | None = None) -> list:
    """``count`` distinct certificates from one template: serial (and the marker in the names) rewritten.

    The signatures no longer verify, which is what a decoy needs; building them with
    CertificateBuilder would cost a signature each.
    """
    der = template.public_bytes(serialization.Encoding.DER)
    serial = _SERIAL.to_bytes(9, "big")
    if der.count(serial) != 1:
        raise ValueError("the template's serial number is not unique in its DER")
    copies = []
    for number in range(count):
        edited = der.replace(serial, (_SERIAL + 1 + number).to_bytes(9, "big"))
        if marker is not None:
            edited = edited.replace(marker, f"{number:06d}".encode("ascii"))
        copies.append(x509.load_der_x509_certificate(edited))
    return copies


@functools.lru_cache(maxsize=1)
def pool_scenarios() -> dict[str, dict]:
    """diagnose() keyword arguments for the costliest shapes, each a 20-certificate server chain with
    5,000 certificates in the pools. All keys are P-256, so building them takes about a second.

    - ``deep``: a 20-certificate chain the server sends whole (longer than MAX_DEPTH), and 4,980
      unrelated CA certificates spread over Root, CA and the bundle.
    - ``same_name``: the issuer has no key identifiers, and 4,998 other CAs carry its name
      (a signature check each, were there no budget), the real one among them.
    - ``key_id_mesh``: layers of CAs whose names and key identifiers all chain (8 layers of 625), so
      every certificate has hundreds of candidate issuers and paths multiply.
    - ``cross_mesh``: 6 levels of two valid cross-certificates each (2^6 real paths to a trusted
      root), plus fillers.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    scenarios = {}

    filler = _copies(_cert(_name("Filler CA #000000"), _name("Filler CA #000000"), key, key, serial=_SERIAL),
                     POOL_SIZE, b"000000")

    keys = [ec.generate_private_key(ec.SECP256R1()) for _level in range(CHAIN_LENGTH)]
    deep = [_cert(_name("Deep 0"), _name("Deep 0"), keys[0], keys[0])]
    for level in range(1, CHAIN_LENGTH):
        last = level == CHAIN_LENGTH - 1
        deep.append(_cert(_name("da.contoso.com" if last else f"Deep {level}"), _name(f"Deep {level - 1}"),
                          keys[level], keys[level - 1], ca=not last, aki=_key_id(keys[level - 1]),
                          san="da.contoso.com" if last else None))
    rest = filler[:POOL_SIZE - 1]
    scenarios["deep"] = {"server_chain": deep[::-1], "root_store": [deep[0]] + rest[:2000],
                         "intermediate_store": rest[2000:3500], "bundle": rest[3500:]}

    root = _cert(_name("Same Name Root"), _name("Same Name Root"), key, key)
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing = _cert(_name("Same Name Issuing"), root.subject, issuing_key, key, ski=False)
    leaf = _cert(_name("da.contoso.com"), issuing.subject, ec.generate_private_key(ec.SECP256R1()), issuing_key,
                 ca=False, ski=False, san="da.contoso.com")
    decoys = _copies(_cert(issuing.subject, root.subject, key, key, ski=False, serial=_SERIAL), POOL_SIZE - 2)
    middle = len(decoys) // 2
    scenarios["same_name"] = {"server_chain": [leaf] + decoys[:CHAIN_LENGTH - 1], "root_store": [root],
                              "intermediate_store": decoys[:middle] + [issuing], "bundle": decoys[middle:]}

    layers, per_layer = 8, (POOL_SIZE - 1) // 8
    mesh = []
    for level in range(layers):
        template = _cert(_name(f"Mesh {level}"), _name(f"Mesh {level + 1}"), key, key, ski=False,
                         aki=bytes([level + 1]) * 20, serial=_SERIAL)
        template = _with_key_id(template, bytes([level]) * 20, key)
        mesh += _copies(template, per_layer)
    mesh_leaf = _cert(_name("da.contoso.com"), _name("Mesh 0"), key, key, ca=False, ski=False,
                      aki=bytes([0]) * 20, san="da.contoso.com")
    scenarios["key_id_mesh"] = {"server_chain": [mesh_leaf] + mesh[:CHAIN_LENGTH - 1],
                                "intermediate_store": mesh[:len(mesh) // 2], "bundle": mesh[len(mesh) // 2:]}

    # Leaf, six levels and the root: MAX_DEPTH (8) certificates, 2^6 = MAX_PATHS (64) paths.
    level_keys = [ec.generate_private_key(ec.SECP256R1()) for _level in range(8)]
    cross = []
    for level in range(1, 7):
        for _copy_number in range(2):
            cross.append(_cert(_name(f"Cross {level}"), _name(f"Cross {level + 1}"), level_keys[level],
                               level_keys[level + 1], aki=_key_id(level_keys[level + 1])))
    cross_root = _cert(_name("Cross 7"), _name("Cross 7"), level_keys[7], level_keys[7])
    cross_leaf = _cert(_name("da.contoso.com"), _name("Cross 1"), key, level_keys[1], ca=False,
                       aki=_key_id(level_keys[1]), san="da.contoso.com")
    extra = filler[:POOL_SIZE - len(cross) - 1]
    scenarios["cross_mesh"] = {"server_chain": [cross_leaf] + cross[:CHAIN_LENGTH - 1],
                               "root_store": [cross_root] + extra[:2500], "intermediate_store": cross,
                               "bundle": extra[2500:]}
    return scenarios


def _with_key_id(template, key_id: bytes, key):
    """The template with a chosen subjectKeyIdentifier (CertificateBuilder derives it from the key)."""
    builder = (x509.CertificateBuilder().subject_name(template.subject).issuer_name(template.issuer)
               .public_key(key.public_key()).serial_number(template.serial_number)
               .not_valid_before(template.not_valid_before_utc).not_valid_after(template.not_valid_after_utc))
    for extension in template.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
    return builder.sign(key, hashes.SHA256())


def pool_size(scenario: dict) -> int:
    return sum(len(scenario.get(name, ())) for name in ("root_store", "intermediate_store", "bundle"))


def fresh(scenario: dict) -> dict:
    """The scenario's certificates loaded anew from DER, with the per-certificate caches emptied: what
    a new trust_check or client_info task starts from (cryptography also caches parsed extensions
    on each certificate object)."""
    from ansible_collections.directaccess.iphttps.plugins.module_utils import _certificate

    for cache in (_certificate._names, _certificate._digests, _certificate._der_name_key,
                  _certificate._attribute_type):
        cache.cache_clear()
    return {key: [x509.load_der_x509_certificate(c.public_bytes(serialization.Encoding.DER)) for c in value]
            for key, value in scenario.items()}


def timed_diagnosis(scenario: dict, server_name: str = "da.contoso.com") -> tuple[float, dict]:
    """(CPU seconds, result) of one diagnose() on freshly loaded certificates; loading is not timed."""
    import time

    from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose

    arguments = fresh(scenario)
    started = time.process_time()
    result = diagnose(server_name=server_name, **arguments)
    return time.process_time() - started, result
