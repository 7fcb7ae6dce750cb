# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.directaccess.iphttps.plugins.filter import iphttps_error as filter_module
from ansible_collections.directaccess.iphttps.plugins.filter.iphttps_error import FilterModule, iphttps_error
from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import CATEGORIES, decode_error

FQCN = 'directaccess.iphttps.iphttps_error'
DOC_FILE = pathlib.Path(filter_module.__file__).with_suffix('.yml')
# .../ansible_collections/directaccess/iphttps/plugins/filter/iphttps_error.py;
# not resolved, so a symlinked checkout keeps its ansible_collections layout.
COLLECTIONS_ROOT = pathlib.Path(os.path.abspath(filter_module.__file__)).parents[5]


# Rendered in a child process: the collection loader has to be installed before
# anything imports ansible_collections, which a plain pytest run (PYTHONPATH
# convenience path) has already done by now. ansible-test would not need it,
# but the child works the same under both.
_TEMPLAR_SCRIPT = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
request = json.load(sys.stdin)
templar = Templar(loader=DataLoader(), variables=request['variables'])
results = {}
for key, expression in request['expressions'].items():
    try:
        results[key] = {'value': templar.template(trust_as_template('{{ %s }}' % expression))}
    except Exception as e:
        results[key] = {'error': type(e).__name__, 'message': str(e)}
json.dump(results, sys.stdout)
"""

TEMPLAR_VARIABLES = {
    'untrusted_root': 2148204809,
    'netsh_code': ' 0x800b0109 ',
    'no_state': None,
    'whole_state': {'LastErrorCode': 2148204809, 'InterfaceStatus': 'failed to connect'},
    'codes': [0, 2148204809, '0x2AF9', None],
}

TEMPLAR_EXPRESSIONS = {
    'int': 'untrusted_root | %s' % FQCN,
    'netsh': 'netsh_code | %s' % FQCN,
    'signed_literal': '(-2146762487) | %s' % FQCN,
    'null': 'no_state | %s' % FQCN,
    'map': "codes | map('%s') | map(attribute='name') | list" % FQCN,
    'is_trust': "(untrusted_root | %s).category == 'trust'" % FQCN,
    'is_not_trust': "('0x2AF9' | %s).category == 'trust'" % FQCN,
    'whole_state': 'whole_state | %s' % FQCN,
}


@pytest.fixture(scope='module')
def rendered():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT))
    proc = subprocess.run(
        [sys.executable, '-c', _TEMPLAR_SCRIPT],
        input=json.dumps({'variables': TEMPLAR_VARIABLES, 'expressions': TEMPLAR_EXPRESSIONS}),
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def rendered_value(rendered, key):
    outcome = rendered[key]
    assert 'error' not in outcome, outcome
    return outcome['value']


def test_filters_exposes_the_filter():
    filters = FilterModule().filters()
    assert filters == {'iphttps_error': iphttps_error}


def test_filter_decodes_through_filter_module():
    decode = FilterModule().filters()['iphttps_error']
    result = decode(2148204809)
    assert result == decode_error(2148204809)
    assert (result['name'], result['hex'], result['category']) == ('CERT_E_UNTRUSTEDROOT', '0x800B0109', 'trust')
    assert decode('0x2af9')['name'] == 'WSAHOST_NOT_FOUND'
    assert decode(None)['category'] == 'unknown'
    assert decode('garbage')['name'] == 'UNKNOWN'


@pytest.mark.parametrize('value, type_word', [
    ({'LastErrorCode': 0}, 'dict'),
    ([0], 'list'),
    (True, 'bool'),
], ids=['dict', 'list', 'bool'])
def test_filter_raises_ansible_filter_error_for_bad_types(value, type_word):
    with pytest.raises(AnsibleFilterError, match=r'^iphttps_error: the error code must be an int or a string, got %s' % type_word) as exc:
        iphttps_error(value)
    assert isinstance(exc.value.__cause__, TypeError)


def test_templar_decodes_int(rendered):
    result = rendered_value(rendered, 'int')
    assert result['name'] == 'CERT_E_UNTRUSTEDROOT'
    assert result['hex'] == '0x800B0109'
    assert result['category'] == 'trust'


def test_templar_decodes_netsh_hex_and_signed_literal(rendered):
    assert rendered_value(rendered, 'netsh')['code'] == 2148204809
    assert rendered_value(rendered, 'signed_literal')['name'] == 'CERT_E_UNTRUSTEDROOT'


def test_templar_null_is_a_clean_unknown(rendered):
    result = rendered_value(rendered, 'null')
    assert result['name'] == 'UNKNOWN'
    assert result['category'] == 'unknown'
    assert result['code'] is None


def test_templar_maps_over_a_list(rendered):
    assert rendered_value(rendered, 'map') == ['ERROR_SUCCESS', 'CERT_E_UNTRUSTEDROOT', 'WSAHOST_NOT_FOUND', 'UNKNOWN']


def test_templar_category_test_for_import(rendered):
    assert rendered_value(rendered, 'is_trust') is True
    assert rendered_value(rendered, 'is_not_trust') is False


def test_templar_whole_state_dict_fails_with_a_clear_message(rendered):
    outcome = rendered['whole_state']
    assert 'value' not in outcome
    assert "filter plugin 'directaccess.iphttps.iphttps_error' failed" in outcome['message']
    assert 'got dict; pass the LastErrorCode value' in outcome['message']


def test_doc_yaml_matches_the_code():
    doc = yaml.safe_load(DOC_FILE.read_text(encoding='utf-8'))
    assert set(doc) == {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}
    assert doc['DOCUMENTATION']['name'] == 'iphttps_error'
    contains = doc['RETURN']['_value']['contains']
    assert set(contains) == {'code', 'hex', 'name', 'meaning', 'remedy', 'category'}
    assert tuple(contains['category']['choices']) == CATEGORIES
    # An unquoted 0x... sample would load as an int.
    assert contains['hex']['sample'] == '0x800B0109'
    # The examples must at least be valid YAML.
    assert isinstance(yaml.safe_load(doc['EXAMPLES']), list)


def test_ansible_doc_renders_the_filter():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT))
    proc = subprocess.run(
        [sys.executable, '-m', 'ansible.cli.doc', '-t', 'filter', '--json', FQCN],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[FQCN]
    assert doc['doc']['name'] == 'iphttps_error'
    assert doc['doc']['collection'] == 'directaccess.iphttps'
    assert 'category' in doc['return']['_value']['contains']
