# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Group Policy certificate ``Blob``: a serialized certificate store element (docs/gpo.md)."""
from __future__ import annotations

import hashlib
import struct

import pytest

from ansible_collections.directaccess.iphttps.plugins.module_utils._cert_blob import (
    CERT_CERT_PROP_ID,
    CERT_FRIENDLY_NAME_PROP_ID,
    CERT_SHA1_HASH_PROP_ID,
    MAX_BLOB_BYTES,
    MAX_PROPERTIES,
    BlobError,
    build_blob,
    parse_blob,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

# A published regedit export of a Windows store entry, HKLM\...\SystemCertificates\My\Certificates\
# 808D62642B7D1C4A9A83FD667F7A2A9D243FB1C7 (the public "Thawte Code Signing CA - G2" certificate), from
# PlayOnLinux's installer script for The Elder Scrolls Online (2014), which writes it with regedit. It was
# made by Windows, not by this code: entry 3 (SHA-1), then entry 32 (the DER), each with reserved field 1.
PUBLISHED_THUMBPRINT = "808D62642B7D1C4A9A83FD667F7A2A9D243FB1C7"
PUBLISHED_BLOB = bytes.fromhex("".join((
    "030000000100000014000000808d62642b7d1c4a9a83fd667f7a2a9d243fb1c72000000001000000a00400003082049c"
    "30820384a003020102021047974d7873a5bcab0d2fb370192fce5e300d06092a864886f70d01010505003081a9310b30"
    "0906035504061302555331153013060355040a130c7468617774652c20496e632e31283026060355040b131f43657274"
    "696669636174696f6e205365727669636573204469766973696f6e31383036060355040b132f28632920323030362074"
    "68617774652c20496e632e202d20466f7220617574686f72697a656420757365206f6e6c79311f301d06035504031316"
    "746861777465205072696d61727920526f6f74204341301e170d3130303230383030303030305a170d32303032303732"
    "33353935395a304a310b300906035504061302555331153013060355040a130c5468617774652c20496e632e31243022"
    "0603550403131b54686177746520436f6465205369676e696e67204341202d20473230820122300d06092a864886f70d"
    "01010105000382010f003082010a0282010100b78bcf755b9f25da7e39b093db38d3a923d082fae9247e5c0b8e83f8e6"
    "7a59e6a3c598a799d244ff00a6a539048ada2988eadba2f31c991526c2b1f4fce10c47a90911060a2092b9c7a0048c5c"
    "9419ab5b252c1d627e700dce616cdd2b82c9ce5d485ff7c2bebc41231e4f295dd74fbcf4c52afc63e67c264e99a77941"
    "9e104a7a79c9c686f78695d226ce3c182ad67cceafcdadbbf7822c70263745e50f4722c60128bd2e835c6aa447c1e7d0"
    "d86b81463f2117f507c5435aa6672cb87b6011b583eef5740a7271443d58fee81aab38c359db7f6e387d76c772699836"
    "9657d3661cd25491042e5419b0dc3db5225e86d52a7e20df5de67ab165fec5024e312d0203010001a382011c30820118"
    "30120603551d130101ff040830060101ff02010030340603551d1f042d302b3029a027a0258623687474703a2f2f6372"
    "6c2e7468617774652e636f6d2f5468617774655043412e63726c300e0603551d0f0101ff040403020106303206082b06"
    "01050507010104263024302206082b060105050730018616687474703a2f2f6f6373702e7468617774652e636f6d301d"
    "0603551d250416301406082b0601050507030206082b0601050507030330290603551d1104223020a41e301c311a3018"
    "06035504031311566572695369676e4d504b492d322d3130301d0603551d0e04160414d40d653f7abd34c6fe47e74c0d"
    "c0bdf2de15ab71301f0603551d230418301680147b5b45cfafcecb7afd31921a6ab6f346eb574850300d06092a864886"
    "f70d0101050500038201010056fe535ce1c79ebca7ed7e536d6a144b518c405e805faaa4e82fef38c804c9ca3ecfdf3a"
    "584eb0d4b663c52957fa02059a454d68db2a1bd4343d9f00c35acb9549a56ee1b0c5fc414d414a6fd377c8d7388de419"
    "de18f31f1565836d450c53f90a9a2ea55dbf6f32811892196a5500ad631c52067e55d92968ae4a7c189a79886b2323d8"
    "27382a298776cafbc7b662231fed7a564cdd9c325bf53d0c4618953b2a2368836441d9006d0f1924156872bdc571676e"
    "ac4cdb90eb51a51a6207d0be6a00473c722fec4f613e7385ce5a0ab7bac01c1375e3223928dd6d1d09469d4fbae84081"
    "91c6a4ce94721b01cf2a6e15679589ae7db7b7cdf90a3d75b66b3c25")))


def header(prop_id: int, length: int, reserved: int = 1) -> bytes:
    return struct.pack("<III", prop_id, reserved, length)


@pytest.fixture(scope="module")
def root_der():
    return pki.make_root("Contoso Root CA").der


def test_published_sample_parses_to_its_thumbprint():
    parsed = parse_blob(PUBLISHED_BLOB, "published", expected_thumbprint=PUBLISHED_THUMBPRINT)
    assert parsed["thumbprint"] == PUBLISHED_THUMBPRINT
    assert len(parsed["der"]) == 0x4A0
    assert parsed["properties"] == {CERT_SHA1_HASH_PROP_ID: bytes.fromhex(PUBLISHED_THUMBPRINT)}


def test_build_reproduces_the_published_sample_byte_for_byte():
    der = parse_blob(PUBLISHED_BLOB)["der"]
    assert build_blob(der) == PUBLISHED_BLOB


def test_build_follows_the_documented_layout_byte_for_byte(root_der):
    sha1 = hashlib.sha1(root_der).digest()
    expected = (struct.pack("<III", 3, 1, 20) + sha1
                + struct.pack("<III", 32, 1, len(root_der)) + root_der)
    assert build_blob(root_der) == expected


def test_round_trip(root_der):
    parsed = parse_blob(build_blob(root_der), "round trip")
    assert parsed["der"] == root_der
    assert parsed["thumbprint"] == hashlib.sha1(root_der).hexdigest().upper()


def test_friendly_name_is_utf16_with_terminator(root_der):
    parsed = parse_blob(build_blob(root_der, friendly_name="Contoso Stammzertifikat \u00e4"))
    assert parsed["properties"][CERT_FRIENDLY_NAME_PROP_ID] == "Contoso Stammzertifikat \u00e4\0".encode("utf-16-le")
    assert parsed["der"] == root_der


def test_other_properties_and_zero_terminator_are_accepted(root_der):
    blob = header(20, 4) + b"\x01\x02\x03\x04" + header(CERT_CERT_PROP_ID, len(root_der)) + root_der + bytes(12)
    parsed = parse_blob(blob)
    assert parsed["properties"] == {20: b"\x01\x02\x03\x04"}
    assert parsed["der"] == root_der


def test_certificate_first_is_accepted(root_der):
    blob = header(CERT_CERT_PROP_ID, len(root_der)) + root_der + header(3, 20) + hashlib.sha1(root_der).digest()
    assert parse_blob(blob)["der"] == root_der


def test_wrong_sha1_property_is_refused(root_der):
    blob = bytearray(build_blob(root_der))
    blob[12] ^= 0xFF
    with pytest.raises(BlobError, match=r"^Root\\AB: its SHA-1 property says .* but the certificate's SHA-1 is"):
        parse_blob(bytes(blob), "Root\\AB")


def test_key_name_that_disagrees_is_refused(root_der):
    with pytest.raises(BlobError, match="stored under thumbprint 00000000000000000000000000000000000000AA"):
        parse_blob(build_blob(root_der), expected_thumbprint="00000000000000000000000000000000000000aa")


def test_key_name_in_lower_case_matches(root_der):
    thumb = hashlib.sha1(root_der).hexdigest()
    assert parse_blob(build_blob(root_der), expected_thumbprint=thumb)["thumbprint"] == thumb.upper()


@pytest.mark.parametrize("blob, message", [
    (b"", "empty value"),
    ("text", "expected binary data, got str"),
    (None, "expected binary data, got NoneType"),
    (b"\x03\x00\x00", "truncated property header at offset 0 (3 bytes left"),
    (header(3, 20) + b"\x00" * 4, "property 3 at offset 0 claims 20 bytes, only 4 follow"),
    (header(3, 0xFFFFFFFF), "claims 4294967295 bytes, only 0 follow"),
    (header(3, 0, reserved=2), "property 3 at offset 0 has reserved field 2, expected 1"),
    (header(4, 16) + bytes(16), "no certificate (property 32)"),
    (header(33, 2) + b"\x30\x00", "holds a CRL (property 33), not a certificate"),
    (header(34, 2) + b"\x30\x00", "holds a CTL (property 34), not a certificate"),
    (header(32, 3) + b"\x04\x01\x00", "not exactly one DER SEQUENCE"),
    (header(32, 4) + b"\x30\x00\x30\x00", "not exactly one DER SEQUENCE"),
    (header(32, 2) + b"\x30\x00" + header(32, 2) + b"\x30\x00", "property 32 appears twice"),
    (header(4, 0) + header(4, 0), "property 4 appears twice"),
    (header(32, 2) + b"\x30\x00" + bytes(12) + b"\x01", "property id 0 at offset 14 followed by data"),
    (bytes(12), "no certificate"),
])
def test_malformed_values_are_refused_with_the_reason(blob, message):
    with pytest.raises(BlobError) as caught:
        parse_blob(blob, "CA\\0123")
    assert str(caught.value).startswith("CA\\0123: ")
    assert message in str(caught.value)


def test_too_many_properties_is_refused():
    blob = b"".join(header(100 + index, 0) for index in range(MAX_PROPERTIES + 1))
    with pytest.raises(BlobError, match=f"more than {MAX_PROPERTIES} properties"):
        parse_blob(blob)


def test_oversized_value_is_refused_before_reading():
    with pytest.raises(BlobError, match="more than the 1048576"):
        parse_blob(bytes(MAX_BLOB_BYTES + 1))


@pytest.mark.parametrize("der, message", [
    (b"", "expected the DER bytes"),
    ("30", "expected the DER bytes"),
    (b"\x30\x03\x00", "not a DER certificate"),
    (b"\x04\x00", "not a DER certificate"),
])
def test_build_refuses_what_is_not_der(der, message):
    with pytest.raises(BlobError, match=message):
        build_blob(der)
