# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import ast
import math
import pathlib

import pytest

from ansible_collections.directaccess.iphttps.plugins.module_utils import _error_codes
from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import (
    CATEGORIES,
    KNOWN_CODES,
    ErrorCode,
    decode_error,
    is_fixable_by_import,
)

# Written out by hand from REFERENCE.md's field table and winerror.h, not
# derived from KNOWN_CODES, so a wrong entry in the table fails here.
FIELD_TABLE = [
    (0x0, 'ERROR_SUCCESS', 'ok'),
    (0x800B0109, 'CERT_E_UNTRUSTEDROOT', 'trust'),
    (0x800B010A, 'CERT_E_CHAINING', 'trust'),
    (0x80092013, 'CRYPT_E_REVOCATION_OFFLINE', 'revocation'),
    (0x80092012, 'CRYPT_E_NO_REVOCATION_CHECK', 'revocation'),
    (0x800B0101, 'CERT_E_EXPIRED', 'expiry'),
    (0x800B010F, 'CERT_E_CN_NO_MATCH', 'name'),
    (0x800B0110, 'CERT_E_WRONG_USAGE', 'usage'),
    (0x103, 'ERROR_NO_MORE_ITEMS', 'name'),
    (0x2AF9, 'WSAHOST_NOT_FOUND', 'proxy'),
    (0x2AFC, 'WSANO_DATA', 'network'),
    (0x274C, 'WSAETIMEDOUT', 'network'),
    (0x274D, 'WSAECONNREFUSED', 'network'),
    (0x2746, 'WSAECONNRESET', 'network'),
    (0x80090326, 'SEC_E_ILLEGAL_MESSAGE', 'tls'),
    (0x90320, 'SEC_I_INCOMPLETE_CREDENTIALS', 'client_auth'),
    (0x4BE, 'ERROR_INVALID_NETNAME', 'config'),
    (0x643, 'ERROR_INSTALL_FAILURE', 'config'),
    (0x34, 'ERROR_DUP_NAME', 'config'),
]

# Related chain codes; values checked against winerror.h constants.
CHAIN_EXTRAS = [
    (0x800B010C, 'CERT_E_REVOKED', 'revocation'),
    (0x80096004, 'TRUST_E_CERT_SIGNATURE', 'config'),
    (0x800B0102, 'CERT_E_VALIDITYPERIODNESTING', 'expiry'),
    (0x80092010, 'CRYPT_E_REVOKED', 'revocation'),
    (0x800B010D, 'CERT_E_UNTRUSTEDTESTROOT', 'config'),
    (0x800B0111, 'TRUST_E_EXPLICIT_DISTRUST', 'distrust'),
    (0x800B0114, 'CERT_E_INVALID_NAME', 'config'),
]

ALL_EXPECTED = FIELD_TABLE + CHAIN_EXTRAS
RESULT_KEYS = {'code', 'hex', 'name', 'meaning', 'remedy', 'category'}


def _ids(rows):
    return [row[1] for row in rows]


@pytest.mark.parametrize('code, name, category', ALL_EXPECTED, ids=_ids(ALL_EXPECTED))
def test_every_known_code_decodes_to_its_name_and_category(code, name, category):
    result = decode_error(code)

    assert set(result) == RESULT_KEYS
    assert result['code'] == code
    assert result['name'] == name
    assert result['category'] == category
    assert result['hex'] == '0x%X' % code
    # An ops engineer reads these; they must say something.
    assert len(result['meaning']) > 20
    assert len(result['remedy']) > 5


def test_table_holds_exactly_the_expected_codes():
    assert set(KNOWN_CODES) == {code for code, _name, _category in ALL_EXPECTED}


@pytest.mark.parametrize('code, entry', sorted(KNOWN_CODES.items()), ids=[entry.name for _code, entry in sorted(KNOWN_CODES.items())])
def test_table_entries_are_consistent(code, entry):
    assert isinstance(entry, ErrorCode)
    assert entry.code == code
    assert entry.category in CATEGORIES
    assert entry.category != 'unknown'
    assert entry.name != 'UNKNOWN'
    assert 0 <= code <= 0xFFFFFFFF


def test_names_are_unique():
    names = [entry.name for entry in KNOWN_CODES.values()]
    assert len(names) == len(set(names))


def test_categories_are_the_documented_set():
    assert CATEGORIES == (
        'ok', 'trust', 'revocation', 'distrust', 'name', 'expiry', 'usage', 'network', 'proxy', 'tls',
        'client_auth', 'config', 'unknown',
    )


def test_trust_remedies_name_the_stores_and_the_service():
    # The collection's own fix; the wording is what operators act on.
    for code in (0x800B0109, 0x800B010A):
        remedy = decode_error(code)['remedy']
        assert 'Cert:\\LocalMachine\\CA' in remedy
        assert 'iphlpsvc' in remedy
    assert 'Cert:\\LocalMachine\\Root' in decode_error(0x800B0109)['remedy']


@pytest.mark.parametrize('value', [
    2148204809,
    -2146762487,
    '2148204809',
    '-2146762487',
    '+2148204809',
    '0x800b0109',
    '0x800B0109',
    '0X800B0109',
    '0X800b0109',
    '0x00800B0109',
    '  0x800B0109\n',
    '\t2148204809 ',
    b'0x800B0109',
    bytearray(b'2148204809'),
    2148204809.0,
], ids=repr)
def test_input_forms_of_untrusted_root(value):
    result = decode_error(value)
    assert result['code'] == 0x800B0109
    assert result['hex'] == '0x800B0109'
    assert result['name'] == 'CERT_E_UNTRUSTEDROOT'


@pytest.mark.parametrize('code, name, category', ALL_EXPECTED, ids=_ids(ALL_EXPECTED))
def test_every_code_decodes_from_each_string_form(code, name, category):
    forms = [str(code), hex(code), hex(code).upper().replace('0X', '0x'), ' %s ' % hex(code)]
    if code >= 0x80000000:
        forms += [code - 0x100000000, str(code - 0x100000000)]
    for form in forms:
        assert decode_error(form)['name'] == name, form


@pytest.mark.parametrize('value, expected_hex', [
    (0, '0x0'),
    ('0', '0x0'),
    ('0x0', '0x0'),
    ('-0', '0x0'),
    (0x34, '0x34'),
    (0x2af9, '0x2AF9'),
    (0xFFFFFFFF, '0xFFFFFFFF'),
    (-1, '0xFFFFFFFF'),
    (-0x80000000, '0x80000000'),
])
def test_hex_format(value, expected_hex):
    assert decode_error(value)['hex'] == expected_hex


def test_signed_and_unsigned_boundaries():
    assert decode_error(-1)['code'] == 0xFFFFFFFF
    assert decode_error(-2147483648)['code'] == 0x80000000
    assert decode_error('4294967295')['code'] == 0xFFFFFFFF


@pytest.mark.parametrize('value', [0x12345678, 0xFFFFFFFF, 1, '0xdeadbeef', 5])
def test_unknown_code_never_fails(value):
    result = decode_error(value)
    assert set(result) == RESULT_KEYS
    assert result['name'] == 'UNKNOWN'
    assert result['category'] == 'unknown'
    assert isinstance(result['code'], int)
    assert result['hex'] in result['meaning']
    assert 'certutil -error %s' % result['hex'] in result['remedy']


@pytest.mark.parametrize('value, word', [
    (None, 'null'),
    ('', 'empty'),
    ('   ', 'empty'),
    ('\n', 'empty'),
    (b'', 'empty'),
])
def test_no_code_is_unknown_not_an_error(value, word):
    result = decode_error(value)
    assert result['name'] == 'UNKNOWN'
    assert result['category'] == 'unknown'
    assert result['code'] is None
    assert result['hex'] is None
    assert 'No error code' in result['meaning']
    assert word in result['meaning']
    assert 'not active' in result['meaning']


@pytest.mark.parametrize('value', [
    4294967296,
    -2147483649,
    '4294967296',
    '0x100000000',
    '-2147483649',
    10 ** 30,
    4294967296.0,
])
def test_out_of_range_numbers_are_unknown(value):
    result = decode_error(value)
    assert result['name'] == 'UNKNOWN'
    assert result['category'] == 'unknown'
    assert result['code'] is None
    assert result['hex'] is None
    assert 'not a 32-bit error code' in result['meaning']


@pytest.mark.parametrize('value', [
    'abc',
    '800B0109',  # hex without prefix is refused on purpose
    '2AF9',
    '0x',
    '0x800B0109h',
    '-0x1',
    '1_000',
    '1 000',
    '0b101',
    '\u0661\u0662',  # Arabic-Indic digits: int() would take them, Windows never prints them
    '0x800B0109 (CERT_E_UNTRUSTEDROOT)',
    b'\xff\xfe',
])
def test_non_numeric_strings_are_unknown(value):
    result = decode_error(value)
    assert result['name'] == 'UNKNOWN'
    assert result['category'] == 'unknown'
    assert result['code'] is None
    assert 'is not an error code' in result['meaning']
    assert '0x prefix' in result['meaning']


def test_unprefixed_hex_is_not_read_as_decimal_either():
    # '80092013' is decimal 80092013, not CRYPT_E_REVOCATION_OFFLINE.
    result = decode_error('80092013')
    assert result['code'] == 80092013
    assert result['name'] == 'UNKNOWN'


def test_rejected_input_is_quoted_and_shortened():
    assert "'nope'" in decode_error('nope')['meaning']
    long_value = 'x' * 500
    meaning = decode_error(long_value)['meaning']
    assert '...' in meaning
    assert long_value not in meaning


@pytest.mark.parametrize('value', [1.5, -0.25, math.nan, math.inf, -math.inf])
def test_non_whole_floats_are_unknown(value):
    result = decode_error(value)
    assert result['name'] == 'UNKNOWN'
    assert result['code'] is None
    assert 'not a whole number' in result['meaning']


@pytest.mark.parametrize('value, type_word', [
    ({'LastErrorCode': 2148204809}, 'dict'),
    ([2148204809], 'list'),
    ((2148204809,), 'list'),
    ({2148204809}, 'list'),
    (True, 'bool'),
    (False, 'bool'),
    (object(), 'object'),
], ids=['dict', 'list', 'tuple', 'set', 'true', 'false', 'object'])
def test_non_convertible_types_raise_type_error(value, type_word):
    with pytest.raises(TypeError, match='must be an int or a string, got %s' % type_word):
        decode_error(value)


def test_dict_error_points_at_last_error_code():
    with pytest.raises(TypeError, match='pass the LastErrorCode value'):
        decode_error({'LastErrorCode': 0, 'InterfaceStatus': 'IPHTTPS interface active'})


def test_known_codes_is_read_only():
    with pytest.raises(TypeError):
        KNOWN_CODES[0x1] = KNOWN_CODES[0x0]  # type: ignore[index]
    with pytest.raises(TypeError):
        del KNOWN_CODES[0x0]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        KNOWN_CODES[0x0].name = 'X'  # type: ignore[misc]


def test_results_are_independent_copies():
    first = decode_error(0x800B0109)
    first['name'] = 'changed'
    first['remedy'] = ''
    second = decode_error(0x800B0109)
    assert second['name'] == 'CERT_E_UNTRUSTEDROOT'
    assert second['remedy'] == KNOWN_CODES[0x800B0109].remedy


@pytest.mark.parametrize('value', [0x800B0109, 0x800B010A, '0x800b0109', -2146762486, '2148204810'])
def test_is_fixable_by_import_true_for_trust_codes(value):
    assert is_fixable_by_import(value) is True


@pytest.mark.parametrize('code', [code for code, _n, category in ALL_EXPECTED if category != 'trust'])
def test_is_fixable_by_import_false_for_other_known_codes(code):
    assert is_fixable_by_import(code) is False


@pytest.mark.parametrize('value', [None, '', 'abc', 0x12345678, 2 ** 40])
def test_is_fixable_by_import_false_without_a_known_code(value):
    assert is_fixable_by_import(value) is False


def test_is_fixable_by_import_rejects_bad_types_like_decode_error():
    with pytest.raises(TypeError):
        is_fixable_by_import({'LastErrorCode': 2148204809})


def test_trust_category_is_exactly_the_import_fixable_codes():
    # Playbooks branch on category == 'trust' to decide on a CA import; adding a
    # code there must be a deliberate choice.
    trust = {entry.name for entry in KNOWN_CODES.values() if entry.category == 'trust'}
    assert trust == {'CERT_E_UNTRUSTEDROOT', 'CERT_E_CHAINING'}


def test_module_has_no_ansible_imports():
    tree = ast.parse(pathlib.Path(_error_codes.__file__).read_text(encoding='utf-8'))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or '')
    assert imported, 'parsed no imports at all; the check is broken'
    assert not [name for name in imported if name.split('.')[0] in ('ansible', 'ansible_collections')]
