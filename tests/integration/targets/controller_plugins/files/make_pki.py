# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a small PKI for the controller_plugins integration target.

root.pem / issuing.pem / server.pem (leaf for da.example.test) / chain.pem (leaf + issuing)
old-root.pem (same subject as root, other key: a CA key rollover) / leaf-only.pem (not a CA)
root.sha256 / old-root.sha256 / root.thumbprint / expired-ca.pem / key.pem (a private key).
"""
from __future__ import annotations

import datetime
import hashlib
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make(subject, key, issuer_name, issuer_key, ca, days=(-1, 365), san=None):
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=days[0]))
               .not_valid_after(NOW + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def main(out):
    os.makedirs(out, exist_ok=True)
    keys = {k: ec.generate_private_key(ec.SECP256R1()) for k in ("root", "old", "issuing", "leaf", "expired")}
    root = make("Example Test Root CA", keys["root"], name("Example Test Root CA"), keys["root"], True)
    old = make("Example Test Root CA", keys["old"], name("Example Test Root CA"), keys["old"], True)
    issuing = make("Example Test Issuing CA", keys["issuing"], root.subject, keys["root"], True)
    leaf = make("da.example.test", keys["leaf"], issuing.subject, keys["issuing"], False, san="da.example.test")
    expired = make("Example Test Expired CA", keys["expired"], root.subject, keys["root"], True, days=(-30, -1))
    files = {
        "root.pem": pem(root), "old-root.pem": pem(old), "issuing.pem": pem(issuing),
        "server.pem": pem(leaf), "chain.pem": pem(leaf, issuing), "leaf-only.pem": pem(leaf),
        "expired-ca.pem": pem(expired),
        "root.sha256": hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest().encode(),
        "old-root.sha256": hashlib.sha256(old.public_bytes(serialization.Encoding.DER)).hexdigest().encode(),
        "root.thumbprint": hashlib.sha1(root.public_bytes(serialization.Encoding.DER)).hexdigest().upper().encode(),
        "issuing.thumbprint":
            hashlib.sha1(issuing.public_bytes(serialization.Encoding.DER)).hexdigest().upper().encode(),
        "key.pem": keys["leaf"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()),
    }
    for filename, body in files.items():
        with open(os.path.join(out, filename), "wb") as handle:
            handle.write(body)


if __name__ == "__main__":
    main(sys.argv[1])
