#!/usr/bin/env python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Check the collection's PowerShell scripts without running PowerShell.

Usage: python tests/tools/ps_check.py [--allowlist FILE | --no-allowlist] [ROOT]

Every *.ps1 file under ROOT (default: the collection root) must

1. be valid UTF-8 (a UTF-8 BOM is fine),
2. parse with the tree-sitter PowerShell grammar,
3. avoid what Windows PowerShell 5.1 on .NET Framework 4.5-4.8 does not have, because that is
   where the scripts run: PowerShell 6/7 syntax (the ternary operator, '??' and '??=', '?.' and
   '?[', the pipeline chain operators '&&' and '||'), cmdlets and parameters that came with
   PowerShell 6 or 7 (Join-String, Test-Json, ForEach-Object -Parallel, ConvertFrom-Json
   -AsHashtable and -Depth, Get-Content -AsByteStream, -SkipCertificateCheck, ...), the
   automatic variables of PowerShell 6+ ($IsWindows, $IsLinux, ...), and .NET Core/.NET 5+ APIs
   ([Convert]::ToHexString, the static HashData methods, System.Text.Json, ...). Each rule in
   the tables below names the page it comes from; and
4. name only cmdlets, parameters, .NET types, static members and CIM classes that the
   allow-list (tests/tools/ps_allowlist.yml, see ps_allowlist.py) documents with their Microsoft
   Learn page. --no-allowlist skips this step.

Everything is read from the syntax tree, so comments and verbatim strings never count; the code
inside an expandable string's $( ) and the variables it expands do. A verbatim here-string (@' '@)
that names a Verb-Noun command is code for another powershell.exe (the restart the scripts hand to
-EncodedCommand), which runs in Windows PowerShell 5.1 too: it is checked like the script, at its
own lines. Prose in a here-string that names a cmdlet that way is checked as well.

It prints one "path:line:col: message" line per problem, then a summary,
and exits 1 if there was any problem, 0 if not and 2 on a usage error.
Lines and columns count from 1; columns count characters, not bytes.

Test tooling only: it is not part of the collection's runtime.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import importlib.util
import os
import re
import sys
import typing as t

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))


def _load_sibling(name: str):
    # By path: tests/tools is not a package, and ps_check runs both as a script and loaded by path.
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS_DIR, name + '.py'))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ps_allowlist = _load_sibling('ps_allowlist')
DEFAULT_ROOT = os.path.dirname(os.path.dirname(TOOLS_DIR))
FIXTURES_DIR = os.path.join(TOOLS_DIR, 'fixtures')

# Directory names skipped wherever they appear; '.venv' also covers '.venv-*'.
_SKIP_DIR_NAMES = frozenset(('.git', '.build'))
_SKIP_DIR_PREFIXES = ('.venv',)
# Skipped relative to ROOT only.
_SKIP_REL_DIRS = frozenset((os.path.join('tests', 'output'),))

_UTF8_BOM = b'\xef\xbb\xbf'
_UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')

# Node types whose text is never code. Expandable strings are not listed:
# their $( ) sub-expressions are code and are checked.
_NO_CODE_NODES = frozenset((
    'comment',
    'verbatim_string_characters',
    'verbatim_here_string_characters',
))

_LEARN = 'https://learn.microsoft.com/en-us/'
_PS74 = _LEARN + 'powershell/module/%s?view=powershell-7.4'
_NET = _LEARN + 'dotnet/api/%s'
_OPERATORS = _PS74 % 'microsoft.powershell.core/about/about_operators'


class _Rule(t.NamedTuple):
    """One thing Windows PowerShell 5.1 lacks: what to say, and the page that shows it."""

    message: str
    source: str


# The grammar rejects these PowerShell 7 operators, so they show up as ERROR
# nodes starting at the '?'. Longest spelling first.
_QUESTION_MARK_CONSTRUCTS = (
    ('??=', _Rule("null-coalescing assignment '??=' needs PowerShell 7; use if ($null -eq $x) { $x = ... }",
                  _OPERATORS)),
    ('??', _Rule("null-coalescing operator '??' needs PowerShell 7; use if ($null -eq $x) { ... } else { ... }",
                 _OPERATORS)),
    ('?.', _Rule("null-conditional member access '?.' needs PowerShell 7.1; test the value for $null first",
                 _OPERATORS)),
    ('?[', _Rule("null-conditional index '?[' needs PowerShell 7.1; test the value for $null first", _OPERATORS)),
    ('?', _Rule("ternary operator '? :' needs PowerShell 7; use if/else", _OPERATORS)),
)

_CHAIN_RULE = _Rule(
    "pipeline chain operator '%s' needs PowerShell 7; test $? or $LASTEXITCODE with if instead",
    _PS74 % 'microsoft.powershell.core/about/about_pipeline_chain_operators',
)


class _ParameterRule(t.NamedTuple):
    parameter: str  # lower case
    shortest: int  # the shortest prefix PowerShell 7 binds to it without ambiguity
    rule: _Rule


def _utility(name: str) -> str:
    return _PS74 % ('microsoft.powershell.utility/' + name)


# Cmdlets that came with PowerShell 6 or 7: each is on the 7.4 page named and not in the Windows
# PowerShell 5.1 module index (powershell/module/microsoft.powershell.utility?view=powershell-5.1
# and .../microsoft.powershell.management?view=powershell-5.1). Versions from each page's
# "introduced in" line.
_PS6_COMMANDS = {
    'join-string': _Rule('Join-String needs PowerShell 6.2; use the -join operator', _utility('join-string')),
    'test-json': _Rule('Test-Json needs PowerShell 6.1; ConvertFrom-Json in a try/catch tells valid JSON',
                       _utility('test-json')),
    'get-error': _Rule('Get-Error needs PowerShell 7; read $Error[0] or the catch block\'s $_',
                       _utility('get-error')),
    'get-uptime': _Rule('Get-Uptime needs PowerShell 6.0; read Win32_OperatingSystem.LastBootUpTime',
                        _utility('get-uptime')),
    'remove-alias': _Rule('Remove-Alias needs PowerShell 6; use Remove-Item Alias:\\name', _utility('remove-alias')),
    'remove-service': _Rule('Remove-Service needs PowerShell 6.0; use sc.exe delete',
                            _PS74 % 'microsoft.powershell.management/remove-service'),
    'get-securerandom': _Rule('Get-SecureRandom needs PowerShell 7.4; use '
                              'System.Security.Cryptography.RNGCryptoServiceProvider', _utility('get-securerandom')),
    'convertfrom-markdown': _Rule('ConvertFrom-Markdown needs PowerShell 6.1', _utility('convertfrom-markdown')),
    'show-markdown': _Rule('Show-Markdown needs PowerShell 6.1', _utility('show-markdown')),
    'get-markdownoption': _Rule('Get-MarkdownOption needs PowerShell 6.1', _utility('get-markdownoption')),
    'set-markdownoption': _Rule('Set-MarkdownOption needs PowerShell 6.1', _utility('set-markdownoption')),
    'get-experimentalfeature': _Rule('Get-ExperimentalFeature needs PowerShell 6.2',
                                     _PS74 % 'microsoft.powershell.core/get-experimentalfeature'),
    'enable-experimentalfeature': _Rule('Enable-ExperimentalFeature needs PowerShell 6.2',
                                        _PS74 % 'microsoft.powershell.core/enable-experimentalfeature'),
    'disable-experimentalfeature': _Rule('Disable-ExperimentalFeature needs PowerShell 6.2',
                                         _PS74 % 'microsoft.powershell.core/disable-experimentalfeature'),
}

_FOREACH_PARALLEL = _Rule('ForEach-Object -Parallel%s needs PowerShell 7; use a plain loop or jobs',
                          _PS74 % 'microsoft.powershell.core/foreach-object')
_AS_BYTE_STREAM = _Rule('%s -AsByteStream needs PowerShell 6; Windows PowerShell 5.1 reads and writes bytes with '
                        '-Encoding Byte, or use [System.IO.File]::ReadAllBytes',
                        _PS74 % 'microsoft.powershell.management/get-content')
_WEB_REQUEST = _PS74 % 'microsoft.powershell.utility/invoke-webrequest'


def _web_rules(command: str) -> tuple:
    return (
        _ParameterRule('skipcertificatecheck', 5, _Rule(
            '%s -SkipCertificateCheck needs PowerShell 6; Windows PowerShell 5.1 has no per-request switch '
            '(and the scripts must not turn validation off)' % command, _WEB_REQUEST)),
        _ParameterRule('skiphttperrorcheck', 6, _Rule('%s -SkipHttpErrorCheck needs PowerShell 7; catch the '
                                                      'WebException instead' % command, _WEB_REQUEST)),
        _ParameterRule('noproxy', 3, _Rule('%s -NoProxy needs PowerShell 6; set -Proxy or use HttpWebRequest '
                                           'with an empty WebProxy' % command, _WEB_REQUEST)),
        _ParameterRule('sslprotocol', 2, _Rule('%s -SslProtocol needs PowerShell 6; set '
                                               '[System.Net.ServicePointManager]::SecurityProtocol' % command,
                                               _WEB_REQUEST)),
        _ParameterRule('authentication', 2, _Rule('%s -Authentication needs PowerShell 6' % command, _WEB_REQUEST)),
    )


# command (lower case, module qualifier removed) -> the parameters PowerShell 5.1 does not have. Each
# is absent from the 5.1 page of the cmdlet and present on the 7.4 page the rule names.
_PS6_PARAMETERS = {
    'foreach-object': (_ParameterRule('parallel', 2, _Rule(_FOREACH_PARALLEL.message % '',
                                                           _FOREACH_PARALLEL.source)),),
    'foreach': (_ParameterRule('parallel', 2, _Rule(_FOREACH_PARALLEL.message % " (alias 'foreach')",
                                                    _FOREACH_PARALLEL.source)),),
    '%': (_ParameterRule('parallel', 2, _Rule(_FOREACH_PARALLEL.message % " (alias '%')",
                                              _FOREACH_PARALLEL.source)),),
    'convertfrom-json': (
        _ParameterRule('ashashtable', 2, _Rule(
            'ConvertFrom-Json -AsHashtable needs PowerShell 6; use the PSCustomObject it returns, '
            'or JavaScriptSerializer from System.Web.Extensions', _utility('convertfrom-json'))),
        _ParameterRule('depth', 3, _Rule('ConvertFrom-Json -Depth needs PowerShell 6.2; Windows PowerShell 5.1 '
                                         'reads any depth its JavaScriptSerializer allows',
                                         _utility('convertfrom-json'))),
        _ParameterRule('noenumerate', 2, _Rule('ConvertFrom-Json -NoEnumerate needs PowerShell 7; wrap the '
                                               'result in @( ) instead', _utility('convertfrom-json'))),
    ),
    'convertto-json': (
        _ParameterRule('asarray', 2, _Rule('ConvertTo-Json -AsArray needs PowerShell 6.2; pass '
                                           '-InputObject @($x) instead', _utility('convertto-json'))),
        _ParameterRule('enumsasstrings', 2, _Rule('ConvertTo-Json -EnumsAsStrings needs PowerShell 6.2; cast '
                                                  'the values with [string]', _utility('convertto-json'))),
        _ParameterRule('escapehandling', 2, _Rule('ConvertTo-Json -EscapeHandling needs PowerShell 6.2',
                                                  _utility('convertto-json'))),
    ),
}
for _name, _label in (('get-content', 'Get-Content'), ('gc', 'Get-Content'), ('set-content', 'Set-Content'),
                      ('add-content', 'Add-Content')):
    _PS6_PARAMETERS[_name] = (_ParameterRule('asbytestream', 2, _Rule(_AS_BYTE_STREAM.message % _label,
                                                                      _AS_BYTE_STREAM.source)),)
for _name, _label in (('invoke-webrequest', 'Invoke-WebRequest'), ('iwr', 'Invoke-WebRequest'),
                      ('invoke-restmethod', 'Invoke-RestMethod'), ('irm', 'Invoke-RestMethod')):
    _PS6_PARAMETERS[_name] = _web_rules(_label)

# Automatic variables of PowerShell 6 and 7 (about_Automatic_Variables and about_Preference_Variables,
# 7.4). Windows PowerShell 5.1 reads them as unset, so '$IsWindows' is $null there: false on Windows.
_AUTOMATIC_VARIABLES = _PS74 % 'microsoft.powershell.core/about/about_automatic_variables'
_PREFERENCE_VARIABLES = _PS74 % 'microsoft.powershell.core/about/about_preference_variables'
_PS6_VARIABLES = {
    name.lower(): _Rule('$%s needs PowerShell 6; Windows PowerShell 5.1 reads it as $null (it only runs on '
                        'Windows, so no platform test is needed)' % name, _AUTOMATIC_VARIABLES)
    for name in ('IsWindows', 'IsLinux', 'IsMacOS', 'IsCoreCLR')
}
_PS6_VARIABLES.update({
    'psstyle': _Rule('$PSStyle needs PowerShell 7.2', _AUTOMATIC_VARIABLES),
    'enabledexperimentalfeatures': _Rule('$EnabledExperimentalFeatures needs PowerShell 6.2', _AUTOMATIC_VARIABLES),
    'psnativecommanduseerroractionpreference': _Rule('$PSNativeCommandUseErrorActionPreference needs PowerShell 7.3; '
                                                     'test $LASTEXITCODE instead', _PREFERENCE_VARIABLES),
    'psnativecommandargumentpassing': _Rule('$PSNativeCommandArgumentPassing needs PowerShell 7.3',
                                            _PREFERENCE_VARIABLES),
})

# .NET types that .NET Framework 4.8 does not have: each page's "Applies to" lists .NET Core or
# .NET 5+ only. A namespace entry (ending in '.') covers every type in it.
_NET_CORE_TYPES = {
    'system.text.json.': _Rule('System.Text.Json is not part of .NET Framework; use ConvertFrom-Json and '
                               'ConvertTo-Json', _NET % 'system.text.json'),
    'system.formats.asn1.': _Rule('System.Formats.Asn1 is .NET 5+ only, not in .NET Framework',
                                  _NET % 'system.formats.asn1'),
    'system.security.cryptography.pemencoding': _Rule('PemEncoding is .NET 5+ only; decode the base64 between the '
                                                      'PEM lines with [Convert]::FromBase64String',
                                                      _NET % 'system.security.cryptography.pemencoding'),
    'system.security.cryptography.x509certificates.x509chaintrustmode': _Rule(
        'X509ChainTrustMode (ChainPolicy.CustomTrustStore) is .NET 5+ only; Windows PowerShell 5.1 chains to the '
        'machine stores', _NET % 'system.security.cryptography.x509certificates.x509chaintrustmode'),
    'system.net.security.sslclientauthenticationoptions': _Rule(
        'SslClientAuthenticationOptions is .NET Core 2.1+ only; use the AuthenticateAsClient overloads of '
        '.NET Framework', _NET % 'system.net.security.sslclientauthenticationoptions'),
    'system.net.http.socketshttphandler': _Rule('SocketsHttpHandler is .NET Core 2.1+ only',
                                                _NET % 'system.net.http.socketshttphandler'),
    'system.hashcode': _Rule('System.HashCode is .NET Core 2.1+ only', _NET % 'system.hashcode'),
    'system.range': _Rule('System.Range is .NET Core 3.0+ only', _NET % 'system.range'),
    'system.index': _Rule('System.Index is .NET Core 3.0+ only', _NET % 'system.index'),
    'system.half': _Rule('System.Half is .NET 5+ only', _NET % 'system.half'),
    'system.dateonly': _Rule('System.DateOnly is .NET 6+ only; use [datetime] and its Date', _NET % 'system.dateonly'),
    'system.timeonly': _Rule('System.TimeOnly is .NET 6+ only; use [timespan]', _NET % 'system.timeonly'),
    'system.text.rune': _Rule('System.Text.Rune is .NET Core 3.0+ only', _NET % 'system.text.rune'),
}

# Static members that .NET Framework 4.8 lacks on a type it has: (full type name, member), lower case.
_NET_CORE_STATIC_MEMBERS = {
    ('system.convert', 'tohexstring'): _Rule(
        '[Convert]::ToHexString is .NET 5+ only; use [BitConverter]::ToString($bytes) -replace \'-\'',
        _NET % 'system.convert.tohexstring'),
    ('system.convert', 'fromhexstring'): _Rule('[Convert]::FromHexString is .NET 5+ only',
                                               _NET % 'system.convert.fromhexstring'),
    ('system.convert', 'tryfrombase64string'): _Rule('[Convert]::TryFromBase64String is .NET Core 2.1+ only; use '
                                                     'FromBase64String in a try/catch',
                                                     _NET % 'system.convert.tryfrombase64string'),
    ('system.io.path', 'join'): _Rule('[System.IO.Path]::Join is .NET Core only; use [System.IO.Path]::Combine',
                                      _NET % 'system.io.path.join'),
    ('system.io.path', 'getrelativepath'): _Rule('[System.IO.Path]::GetRelativePath is .NET Core 2.0+ only',
                                                 _NET % 'system.io.path.getrelativepath'),
    ('system.environment', 'processid'): _Rule('[Environment]::ProcessId is .NET 5+ only; use $PID',
                                               _NET % 'system.environment.processid'),
    ('system.environment', 'processpath'): _Rule('[Environment]::ProcessPath is .NET 6+ only',
                                                 _NET % 'system.environment.processpath'),
    ('system.text.encoding', 'latin1'): _Rule('[System.Text.Encoding]::Latin1 is .NET 5+ only; use '
                                              '[System.Text.Encoding]::GetEncoding(28591)',
                                              _NET % 'system.text.encoding.latin1'),
    ('system.random', 'shared'): _Rule('[Random]::Shared is .NET 6+ only; use New-Object System.Random',
                                       _NET % 'system.random.shared'),
    ('system.math', 'clamp'): _Rule('[Math]::Clamp is .NET Core 2.0+ only; use [Math]::Min and [Math]::Max',
                                    _NET % 'system.math.clamp'),
    ('system.array', 'fill'): _Rule('[Array]::Fill is .NET Core 2.0+ only', _NET % 'system.array.fill'),
}
for _member in ('IsWindows', 'IsLinux', 'IsMacOS', 'IsWindowsVersionAtLeast'):
    _NET_CORE_STATIC_MEMBERS[('system.operatingsystem', _member.lower())] = _Rule(
        '[OperatingSystem]::%s is .NET 5+ only; the scripts only run on Windows' % _member,
        _NET % ('system.operatingsystem.' + _member.lower()))
for _member in ('GetInt32', 'Fill', 'GetBytes'):
    _NET_CORE_STATIC_MEMBERS[('system.security.cryptography.randomnumbergenerator', _member.lower())] = _Rule(
        'the static RandomNumberGenerator.%s is .NET Core only; create a RNGCryptoServiceProvider and call its '
        'GetBytes' % _member, _NET % ('system.security.cryptography.randomnumbergenerator.' + _member.lower()))
for _member in ('ReadAllTextAsync', 'ReadAllBytesAsync', 'ReadAllLinesAsync', 'WriteAllTextAsync',
                'WriteAllBytesAsync', 'WriteAllLinesAsync', 'AppendAllTextAsync', 'AppendAllLinesAsync'):
    _NET_CORE_STATIC_MEMBERS[('system.io.file', _member.lower())] = _Rule(
        '[System.IO.File]::%s is .NET Core 2.0+ only; use the synchronous method' % _member,
        _NET % ('system.io.file.' + _member.lower()))
for _member in ('CreateFromPem', 'CreateFromPemFile', 'CreateFromEncryptedPem', 'CreateFromEncryptedPemFile'):
    _NET_CORE_STATIC_MEMBERS[('system.security.cryptography.x509certificates.x509certificate2', _member.lower())] = \
        _Rule('X509Certificate2::%s is .NET 5+ only; decode the PEM body and pass the bytes to the constructor'
              % _member, _NET % ('system.security.cryptography.x509certificates.x509certificate2.'
                                 + _member.lower()))

# Method names that only .NET Core/.NET 5+ has, on whatever type: called as [T]::M(...) or $x.M(...).
_NET_CORE_METHODS = {
    'hashdata': _Rule('the static HashData methods are .NET 5+ only; create the algorithm '
                      '([System.Security.Cryptography.SHA256]::Create()) and call ComputeHash',
                      _NET % 'system.security.cryptography.sha256.hashdata'),
    'hashdataasync': _Rule('the static HashDataAsync methods are .NET 7+ only; use ComputeHash',
                           _NET % 'system.security.cryptography.sha256.hashdataasync'),
    'replacelineendings': _Rule('String.ReplaceLineEndings is .NET 6+ only; use -replace "`r?`n"',
                                _NET % 'system.string.replacelineendings'),
    'exportcertificatepem': _Rule('X509Certificate2.ExportCertificatePem is .NET 7+ only; base64-encode RawData',
                                  _NET % 'system.security.cryptography.x509certificates.'
                                         'x509certificate2.exportcertificatepem'),
}

_SNIPPET_LIMIT = 30


class Problem(t.NamedTuple):
    """One finding; str() gives the 'path:line:col: message' line."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return '%s:%d:%d: %s' % (self.path, self.line, self.col, self.message)


class UsageError(Exception):
    """Bad command line or environment; main() exits 2."""


@functools.lru_cache(maxsize=None)
def _get_parser():
    try:
        import tree_sitter
        import tree_sitter_powershell
    except ImportError as e:
        raise UsageError(
            'tree-sitter-powershell is not importable (%s); install requirements/test.txt' % e
        ) from e
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


class _Positions:
    """Turn byte offsets of a UTF-8 text into 1-based line and character column."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._line_starts = [0]
        index = body.find(b'\n')
        while index != -1:
            self._line_starts.append(index + 1)
            index = body.find(b'\n', index + 1)

    def __call__(self, offset: int) -> tuple[int, int]:
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[line_index]
        col = len(self._body[start:offset].decode('utf-8', errors='replace')) + 1
        return line_index + 1, col


def _first_non_space(body: bytes, start: int, end: int) -> int:
    """Offset of the first non-whitespace byte in [start, end), else start."""
    for offset in range(start, end):
        if body[offset:offset + 1] not in (b' ', b'\t', b'\r', b'\n'):
            return offset
    return start


def _walk(root) -> t.Iterator[t.Any]:
    """Yield code nodes in document order, not descending into comments or verbatim strings.

    Iterative: the grammar nests about fifteen nodes per expression, which
    would reach Python's recursion limit on deeply nested scripts.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if node.type not in _NO_CODE_NODES:
            stack.extend(reversed(node.children))


def _snippet(body: bytes, start: int, end: int) -> str:
    text = body[start:end].decode('utf-8', errors='replace').split('\n', 1)[0].strip()
    if len(text) > _SNIPPET_LIMIT:
        text = text[:_SNIPPET_LIMIT] + '...'
    return text


def _check_encoding(path: str, source: bytes) -> tuple[bytes | None, list[Problem]]:
    """Return (body without BOM, []) or (None, [problem])."""
    if source.startswith(_UTF16_BOMS):
        return None, [Problem(path, 1, 1, 'file is UTF-16 encoded; save it as UTF-8 (a BOM is fine)')]
    body = source[len(_UTF8_BOM):] if source.startswith(_UTF8_BOM) else source
    try:
        body.decode('utf-8')
    except UnicodeDecodeError as e:
        line, col = _Positions(body)(e.start)
        return None, [Problem(
            path, line, col,
            'not valid UTF-8: byte 0x%02X cannot be decoded; save the file as UTF-8' % body[e.start],
        )]
    return body, []


def _lint(path: str, body: bytes, tree, position) -> tuple[list[Problem], list[int]]:
    """Find what Windows PowerShell 5.1 lacks; also return the byte offsets the findings start at."""
    problems = []
    offsets = []
    seen_question_marks = set()

    def add(offset: int, message: str) -> None:
        line, col = position(offset)
        problems.append(Problem(path, line, col, message))
        offsets.append(offset)

    for node in _walk(tree.root_node):
        if node.type == 'pipeline_chain_tail':
            for token in node.children:
                if token.type in ('&&', '||'):
                    add(token.start_byte, _CHAIN_RULE.message % token.type)

        elif node.type == 'command':
            _lint_command(node, add)

        elif node.type == 'variable':
            _lint_variable(node, add)

        elif node.type in ('type_literal', 'attribute_name'):
            spec = ps_allowlist.type_spec_of(node)
            for name_node, name in ps_allowlist.type_names(spec) if spec is not None else ():
                rule = _net_core_type(name)
                if rule is not None:
                    add(name_node.start_byte, rule.message)

        elif node.type in ('member_access', 'invokation_expression'):
            _lint_member(node, add)

        elif node.type == 'ERROR':
            offset = _first_non_space(body, node.start_byte, node.end_byte)
            if body[offset:offset + 1] != b'?' or offset in seen_question_marks:
                continue
            seen_question_marks.add(offset)
            for spelling, rule in _QUESTION_MARK_CONSTRUCTS:
                if body.startswith(spelling.encode('ascii'), offset):
                    add(offset, rule.message)
                    break

    return problems, offsets


def _node_text(node) -> str:
    return node.text.decode('utf-8', errors='replace')


def _type_candidates(name: str) -> tuple:
    # How PowerShell resolves a type name: as written, then with 'System.' in front.
    lower = name.lower()
    return (lower, 'system.' + lower)


def _net_core_type(name: str) -> _Rule | None:
    for candidate in _type_candidates(name):
        for banned, rule in _NET_CORE_TYPES.items():
            if candidate == banned or (banned.endswith('.') and candidate.startswith(banned)):
                return rule
    return None


def _lint_member(node, add: t.Callable[[int, str], None]) -> None:
    """[T]::M and $x.M(...) where M is .NET Core-only."""
    member = ps_allowlist.static_member(node)
    if member is not None:
        type_literal, member_node = member
        spec = ps_allowlist.type_spec_of(type_literal)
        names = ps_allowlist.type_names(spec) if spec is not None else []
        name = _node_text(member_node).lower()
        if names:
            for candidate in _type_candidates(names[0][1]):
                rule = _NET_CORE_STATIC_MEMBERS.get((candidate, name))
                if rule is not None:
                    add(member_node.start_byte, rule.message)
                    return
        rule = _NET_CORE_METHODS.get(name)
        if rule is not None:
            add(member_node.start_byte, rule.message)
        return
    # An instance method call: member_name then argument_list.
    if node.type != 'invokation_expression':
        return
    member_node = next((c for c in node.children if c.type == 'member_name'), None)
    if member_node is not None and any(c.type == 'argument_list' for c in node.children):
        rule = _NET_CORE_METHODS.get(_node_text(member_node).lower())
        if rule is not None:
            add(member_node.start_byte, rule.message)


def _lint_variable(node, add: t.Callable[[int, str], None]) -> None:
    text = _node_text(node).lstrip('$@')
    if text.startswith('{') and text.endswith('}'):
        text = text[1:-1]
    scope, _sep, name = text.rpartition(':')
    # $script:IsWindows is the script's own variable; $global:IsWindows is the automatic one.
    if scope.lower() not in ('', 'global'):
        return
    rule = _PS6_VARIABLES.get(name.lower())
    if rule is not None:
        add(node.start_byte, rule.message)


def _lint_command(node, add: t.Callable[[int, str], None]) -> None:
    found = ps_allowlist.command_name(node)
    if found is None or found[1] is None:
        return
    name_node, name = found
    name = name.lower().rsplit('\\', 1)[-1]
    rule = _PS6_COMMANDS.get(name)
    if rule is not None:
        add(name_node.start_byte, rule.message)
    for element in ps_allowlist.command_elements(node):
        if element.parameter is None:
            continue
        given = element.parameter.lower()
        for banned in _PS6_PARAMETERS.get(name, ()):
            if len(given) >= banned.shortest and banned.parameter.startswith(given):
                add(element.node.start_byte, banned.rule.message)


def rules() -> list:
    """Every PowerShell 6+ and .NET Core rule, for the tests: (what it matches, _Rule)."""
    found = list(_QUESTION_MARK_CONSTRUCTS)
    found.append(('&& ||', _CHAIN_RULE))
    found += list(_PS6_COMMANDS.items())
    found += [('%s -%s' % (command, banned.parameter), banned.rule)
              for command, banned_list in _PS6_PARAMETERS.items() for banned in banned_list]
    found += [('$' + name, rule) for name, rule in _PS6_VARIABLES.items()]
    found += list(_NET_CORE_TYPES.items())
    found += [('[%s]::%s' % key, rule) for key, rule in _NET_CORE_STATIC_MEMBERS.items()]
    found += [('.%s()' % name, rule) for name, rule in _NET_CORE_METHODS.items()]
    return found


def _is_code_free(node, body: bytes) -> bool:
    """True for an ERROR node holding only comments and whitespace.

    The grammar cannot parse a script without statements (empty, blank or
    only comments) and wraps it in ERROR; PowerShell runs such a file fine.
    """
    if node.type == 'comment':
        return True
    if node.type != 'ERROR':
        return False
    cursor = node.start_byte
    for child in node.children:
        if body[cursor:child.start_byte].strip() or not _is_code_free(child, body):
            return False
        cursor = child.end_byte
    return not body[cursor:node.end_byte].strip()


def _syntax_error(path: str, body: bytes, tree, position, lint_offsets: list[int]) -> Problem | None:
    """The first ERROR or MISSING node that no PowerShell 7 finding explains."""
    lint_lines = {position(offset)[0] for offset in lint_offsets}
    seen_error = False
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            seen_error = True
            line, col = position(node.start_byte)
            if line not in lint_lines:
                return Problem(path, line, col, "syntax error: missing '%s'" % node.type)
        elif node.type == 'ERROR':
            # A childless ERROR reports has_error False, so test the type first.
            seen_error = True
            if _is_code_free(node, body):
                continue
            offset = _first_non_space(body, node.start_byte, node.end_byte)
            line, col = position(offset)
            # The grammar's error recovery around a PowerShell 7 operator spills
            # over the rest of the line or statement; that is not a second problem.
            if line in lint_lines or any(node.start_byte <= o < node.end_byte for o in lint_offsets):
                continue
            snippet = _snippet(body, offset, node.end_byte)
            return Problem(path, line, col, "syntax error near '%s'" % snippet if snippet else 'syntax error')
        elif node.has_error:
            stack.extend(reversed(node.children))
    if tree.root_node.has_error and not seen_error:
        # The grammar flagged an error we could not place; still fail.
        return Problem(path, 1, 1, 'syntax error')
    return None


def check_source(source: bytes, path: str = '<source>', allowlist=None) -> list[Problem]:
    """Check one script's bytes; return its problems in file order.

    With an allowlist (ps_allowlist.load_allowlist()), also report every name it does not document.
    """
    body, problems = _check_encoding(path, source)
    if body is None:
        return problems
    problems = _check_body(path, body, _Positions(body), allowlist)
    return sorted(problems, key=lambda p: (p.line, p.col))


# A command named Verb-Noun: what tells PowerShell code in a here-string from data.
_CMDLET_NAME_RE = re.compile(r'^[A-Za-z]+-[A-Za-z]+$')


def _check_body(path: str, body: bytes, position, allowlist) -> list[Problem]:
    """All checks on one body of code; position maps its byte offsets to the file's line and column."""
    tree = _get_parser().parse(body)
    problems, lint_offsets = _lint(path, body, tree, position)
    syntax = _syntax_error(path, body, tree, position, lint_offsets)
    if syntax is not None:
        problems.append(syntax)
    if allowlist is not None:
        # A name a PowerShell 6+ rule already explained is not reported a second time as unknown.
        explained = set(lint_offsets)
        for offset, message in ps_allowlist.check_tree(tree.root_node, allowlist, _walk):
            if offset not in explained:
                line, col = position(offset)
                problems.append(Problem(path, line, col, message))
    for start, end in _embedded_scripts(body, tree):
        problems.extend(_check_body(path, body[start:end], lambda offset, base=start: position(base + offset),
                                    allowlist))
    return problems


def _embedded_scripts(body: bytes, tree) -> list:
    """(start, end) byte ranges of verbatim here-strings that hold PowerShell to run elsewhere.

    A script may carry code for another process in @' '@ (a restart handed to powershell.exe
    -EncodedCommand): it runs in Windows PowerShell 5.1 too, so it is checked like the script. A
    here-string counts as code when it names a Verb-Noun command; other here-strings are data.
    """
    found = []
    for node in _walk(tree.root_node):
        if node.type != 'verbatim_here_string_characters':
            continue
        first_line_end = body.find(b'\n', node.start_byte, node.end_byte)
        end = node.end_byte - 2  # before the closing '@
        if first_line_end == -1 or end <= first_line_end:
            continue
        start = first_line_end + 1
        end = body.rfind(b'\n', start - 1, end)  # the content ends before the line break of '@
        if end < start:
            continue
        if body[end - 1:end] == b'\r':
            end -= 1
        inner = _get_parser().parse(body[start:end])
        names = (ps_allowlist.command_name(n) for n in _walk(inner.root_node) if n.type == 'command')
        if any(found_name and found_name[1] and _CMDLET_NAME_RE.match(found_name[1].rsplit('\\', 1)[-1])
               for found_name in names):
            found.append((start, end))
    return found


def check_file(path: str, display: str | None = None, allowlist=None) -> list[Problem]:
    """Check the file at path; problems name it as display (default: path)."""
    with open(path, 'rb') as handle:
        source = handle.read()
    return check_source(source, path if display is None else display, allowlist)


def _skip_dir(root: str, parent: str, name: str) -> bool:
    if name in _SKIP_DIR_NAMES or name.startswith(_SKIP_DIR_PREFIXES):
        return True
    full = os.path.join(parent, name)
    if os.path.relpath(full, root) in _SKIP_REL_DIRS:
        return True
    # The fixtures hold deliberately broken scripts. They are skipped only
    # when found below ROOT, so pointing ROOT into them still checks them.
    return os.path.abspath(full) == FIXTURES_DIR


def find_ps1_files(root: str) -> list[str]:
    """Every *.ps1 under root (or root itself if it is a file), sorted."""
    if os.path.isfile(root):
        return [root]
    if not os.path.isdir(root):
        raise UsageError('%s is not a file or directory' % root)
    found = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skip_dir(root, parent, d))
        found.extend(os.path.join(parent, f) for f in sorted(files) if f.lower().endswith('.ps1'))
    return found


def _display_path(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def main(argv: list[str] | None = None) -> int:
    arg_parser = argparse.ArgumentParser(
        prog='ps_check',
        description='Syntax-check PowerShell scripts, reject what Windows PowerShell 5.1 lacks, and check every '
                    'cmdlet, parameter and .NET type against the allow-list.',
    )
    arg_parser.add_argument('root', nargs='?', default=DEFAULT_ROOT,
                            help='directory to search for *.ps1, or one file (default: the collection root)')
    group = arg_parser.add_mutually_exclusive_group()
    group.add_argument('--allowlist', default=ps_allowlist.ALLOWLIST_PATH,
                       help='the allow-list file (default: %(default)s)')
    group.add_argument('--no-allowlist', action='store_true', help='skip the allow-list check')
    args = arg_parser.parse_args(argv)

    try:
        paths = find_ps1_files(args.root)
        if not paths:
            print('ps_check: no .ps1 files found under %s' % args.root)
            print('ps_check: 0 files, 0 problems')
            return 0
        _get_parser()
        allowlist = None if args.no_allowlist else ps_allowlist.load_allowlist(args.allowlist)
    except (UsageError, ps_allowlist.AllowlistError) as e:
        print('ps_check: error: %s' % e, file=sys.stderr)
        return 2

    count = 0
    for path in paths:
        try:
            problems = check_file(path, _display_path(path), allowlist)
        except OSError as e:
            problems = [Problem(_display_path(path), 1, 1, 'cannot read file: %s' % e.strerror)]
        for problem in problems:
            print(problem)
        count += len(problems)

    print('ps_check: %d files, %d problems' % (len(paths), count))
    return 1 if count else 0


if __name__ == '__main__':
    sys.exit(main())
