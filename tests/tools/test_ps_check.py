# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

TOOLS_DIR = pathlib.Path(__file__).absolute().parent
FIXTURES = TOOLS_DIR / 'fixtures'
SCRIPT = TOOLS_DIR / 'ps_check.py'


def _load_ps_check():
    # Loaded by path: tests/tools is not a package, and this must not depend
    # on pytest's import mode.
    spec = importlib.util.spec_from_file_location('ps_check', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ps_check = _load_ps_check()


def check(text, path='t.ps1'):
    """Problems for a script given as text (encoded UTF-8)."""
    return ps_check.check_source(text.encode('utf-8'), path)


def only(problems):
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- a clean Windows PowerShell 5.1 script -------------------------------------------

def test_good_fixture_passes():
    assert ps_check.check_file(str(FIXTURES / 'good_ps51.ps1')) == []


@pytest.mark.parametrize('text', [
    "$x = 'a && b'\n",
    '$x = "a && b || c"\n',
    '# ?? \n',
    '$x = 1 # trailing ?? and && and a ? b : c\n',
    '<#\n ?. ?[ ??= ForEach-Object -Parallel\n#>\n',
    "$x = @'\n$a ?? $b\ngit pull && git push\n'@\n",
    '$x = @"\n$a ?? $b && c\n"@\n',
    "Write-Output 'ConvertFrom-Json -AsHashtable'\n",
    "$j | ConvertFrom-Json # -AsHashtable\n",
    "$x = 'it''s ? fine : yes'\n",
], ids=[
    'verbatim string', 'expandable string', 'line comment', 'trailing comment', 'block comment',
    'verbatim here-string', 'expandable here-string', 'parameter in a string', 'parameter in a comment',
    'escaped quote',
])
def test_constructs_inside_strings_and_comments_pass(text):
    assert check(text) == []


@pytest.mark.parametrize('text', [
    'Get-ChildItem | ? { $_.Name }\n',  # '?' is the Where-Object alias in 5.1
    'Get-ChildItem | ? Name -eq x\n',
    'Get-ChildItem -Filter a?b.txt\n',
    'Get-Process | Group-Object -Property Name -AsHashTable -AsString\n',  # 5.1 has this one
    '1..3 | ForEach-Object -Process { $_ }\n',
    '1..3 | ForEach-Object -PipelineVariable p { $_ }\n',
    '1..3 | ForEach-Object -p { $_ }\n',  # too short to mean -Parallel
    '$j | ConvertFrom-Json -InputObject $s\n',
    '$x = ($a -and $b) -or (-not $c)\n',
    "cmd.exe /c 'a && b'\n",
    '$h = @{ \'a?\' = 1 }; $h.\'a?\'\n',
    'foreach ($i in 1..3) { $i }\n',
], ids=[
    'where alias block', 'where alias simple', 'wildcard', 'Group-Object -AsHashTable', 'ForEach -Process',
    'ForEach -PipelineVariable', 'ForEach -p', 'ConvertFrom-Json -InputObject', 'logical operators',
    'quoted cmd chain', 'question mark key', 'foreach statement',
])
def test_windows_powershell_lookalikes_pass(text):
    assert check(text) == []


@pytest.mark.parametrize('text', ['', '\n\n', '   \r\n', '# only a comment', '#Requires -Version 5.1\n', '<# a #>\n# b\n'],
                         ids=['empty', 'blank lines', 'spaces', 'comment', 'requires', 'two comments'])
def test_script_without_statements_passes(text):
    # The grammar wraps these in ERROR; PowerShell runs them fine.
    assert check(text) == []


def test_comment_only_file_with_a_stray_token_still_fails():
    problem = only(check('# header\n$x = (\n'))
    assert problem.message.startswith('syntax error')


# --- banned constructs ---------------------------------------------------------------

BANNED = [
    # (line 2 of the script, expected column, message fragment)
    ("$a = $b ? 'y' : 'n'", 9, "ternary operator '? :'"),
    ('Write-Output ($null -eq $b ? 1 : 2)', 28, "ternary operator '? :'"),
    ("$a = $b ?? 'd'", 9, "null-coalescing operator '??'"),
    ("$a = $b??'d'", 8, "null-coalescing operator '??'"),
    ("$a ??= 'd'", 4, "null-coalescing assignment '??='"),
    ('$a = ${b}?.Name', 10, "null-conditional member access '?.'"),
    ('$a = (Get-Item .)?.FullName', 18, "null-conditional member access '?.'"),
    ('$a = ${b}?[0]', 10, "null-conditional index '?['"),
    ('git pull && git push', 10, "pipeline chain operator '&&'"),
    ('git pull || exit 1', 10, "pipeline chain operator '||'"),
    ('$s = "$(git pull && git push)"', 18, "pipeline chain operator '&&'"),
    ('$s = "$($b ?? 1)"', 12, "null-coalescing operator '??'"),
    ('1..3 | ForEach-Object -Parallel { $_ }', 23, 'ForEach-Object -Parallel needs'),
    ('1..3 | ForEach-Object -Parallel:{ $_ }', 23, 'ForEach-Object -Parallel needs'),
    ('1..3 | ForEach-Object -Para { $_ }', 23, 'ForEach-Object -Parallel needs'),
    ('1..3 | FOREACH-OBJECT -PARALLEL { $_ }', 23, 'ForEach-Object -Parallel needs'),
    ('1..3 | Microsoft.PowerShell.Core\\ForEach-Object -Parallel { $_ }', 49, 'ForEach-Object -Parallel needs'),
    ('1..3 | foreach -Parallel { $_ }', 16, "alias 'foreach'"),
    ('1..3 | % -Parallel { $_ }', 10, "alias '%'"),
    ('$h = $j | ConvertFrom-Json -AsHashtable', 28, 'ConvertFrom-Json -AsHashtable needs'),
    ('$h = $j | ConvertFrom-Json -AsHashTable', 28, 'ConvertFrom-Json -AsHashtable needs'),
    ('$h = $j | convertfrom-json -ASHASHTABLE', 28, 'ConvertFrom-Json -AsHashtable needs'),
    ('$h = ConvertFrom-Json -InputObject $j -AsHashtable:$true', 39, 'ConvertFrom-Json -AsHashtable needs'),
    ('$h = $j | ConvertFrom-Json -AsHash', 28, 'ConvertFrom-Json -AsHashtable needs'),
    ('$h = $j | ConvertFrom-Json \u2013AsHashtable', 28, 'ConvertFrom-Json -AsHashtable needs'),
]


@pytest.mark.parametrize('statement, col, fragment', BANNED, ids=[row[0] for row in BANNED])
def test_banned_construct_is_reported_once_at_its_position(statement, col, fragment):
    problem = only(check('$b = $null\n%s\n$c = 3\n' % statement))
    assert (problem.line, problem.col) == (2, col)
    assert fragment in problem.message
    assert 'PowerShell 6' in problem.message or 'PowerShell 7' in problem.message


def test_every_construct_in_the_fixture_is_found_on_its_line():
    problems = ps_check.check_file(str(FIXTURES / 'ps7_constructs.ps1'), 'ps7.ps1')
    found = [(p.line, re.split(r' needs | is \.NET', p.message)[0]) for p in problems]
    assert found == [
        (4, "ternary operator '? :'"),
        (5, "null-coalescing operator '??'"),
        (6, "null-coalescing assignment '??='"),
        (7, "null-conditional member access '?.'"),
        (8, "null-conditional index '?['"),
        (9, "pipeline chain operator '&&'"),
        (10, "pipeline chain operator '||'"),
        (11, 'ForEach-Object -Parallel'),
        (12, "ForEach-Object -Parallel (alias 'foreach')"),
        (13, "ForEach-Object -Parallel (alias '%')"),
        (14, 'ConvertFrom-Json -AsHashtable'),
        (15, 'ConvertFrom-Json -AsHashtable'),
        (16, 'Join-String'),
        (17, '$IsWindows'),
        (18, 'Get-Content -AsByteStream'),
        (19, '[Convert]::ToHexString'),
    ]
    assert all(p.path == 'ps7.ps1' for p in problems)


def test_several_constructs_on_one_line_are_all_reported():
    problems = check("$a = $b ?? ($c ? 1 : 2)\n")
    assert [(p.line, p.col, p.message.split(' ')[0]) for p in problems] == [
        (1, 9, 'null-coalescing'), (1, 16, 'ternary'),
    ]


# --- PowerShell 6+ cmdlets, parameters and variables, .NET Core APIs ----------------------

def _first(problems):
    assert problems, 'expected a problem'
    return problems[0]


@pytest.mark.parametrize('name', sorted(ps_check._PS6_COMMANDS))
def test_every_powershell_6_cmdlet_is_rejected_but_not_in_strings_or_comments(name):
    problem = only(check('$x = 1\n%s\n' % name))
    assert (problem.line, problem.col) == (2, 1)
    assert problem.message.lower().startswith(name)
    assert 'PowerShell 6' in problem.message or 'PowerShell 7' in problem.message
    assert check("$x = '%s'\n# %s\n<# %s #>\n" % (name, name, name)) == []


def test_powershell_6_cmdlet_is_found_module_qualified_and_in_a_subexpression():
    assert only(check('Microsoft.PowerShell.Utility\\Join-String -Separator ","\n')).col == 1
    assert only(check('$s = "$(1, 2 | Join-String)"\n')).col == 16


PARAMETER_CASES = [(command, banned.parameter) for command, rules in sorted(ps_check._PS6_PARAMETERS.items())
                   for banned in rules]


@pytest.mark.parametrize('command, parameter', PARAMETER_CASES, ids=['%s -%s' % c for c in PARAMETER_CASES])
def test_every_powershell_6_parameter_is_rejected_but_not_as_a_value_string_or_comment(command, parameter):
    # In a pipeline, so that 'foreach' is the alias and not the foreach statement.
    problem = only(check('$x | %s -%s 1\n' % (command, parameter)))
    assert problem.col == len(command) + 7
    assert 'PowerShell 6' in problem.message or 'PowerShell 7' in problem.message
    # The same word as a quoted argument, in a comment, or on another command is no parameter of this one.
    assert check("$x | %s '-%s'\n$x | %s # -%s\nStart-Sleep -%s\n"
                 % (command, parameter, command, parameter, parameter)) == []


@pytest.mark.parametrize('statement, fragment', [
    ('Get-Content -Path x.bin -AsByteStream', 'Get-Content -AsByteStream needs PowerShell 6'),
    ('gc x.bin -AsByteStream', 'Get-Content -AsByteStream'),
    ('Set-Content -Path x.bin -Value $b -AsByteStream', 'Set-Content -AsByteStream'),
    ('$j | ConvertFrom-Json -Depth 10', 'ConvertFrom-Json -Depth needs PowerShell 6.2'),
    ('$j | ConvertFrom-Json -Dep 10', 'ConvertFrom-Json -Depth'),
    ('$o | ConvertTo-Json -AsArray', 'ConvertTo-Json -AsArray needs PowerShell 6.2'),
    ('Invoke-WebRequest -Uri $u -SkipCertificateCheck', 'Invoke-WebRequest -SkipCertificateCheck needs PowerShell 6'),
    ('irm $u -SkipCertificateCheck:$true', 'Invoke-RestMethod -SkipCertificateCheck'),
    ('Invoke-WebRequest $u -NoProxy', 'Invoke-WebRequest -NoProxy needs PowerShell 6'),
])
def test_powershell_6_parameter_messages(statement, fragment):
    assert fragment in only(check(statement + '\n')).message


@pytest.mark.parametrize('statement', [
    '$j | ConvertFrom-Json -De 1',  # ambiguous with -Debug in PowerShell 7 too: nobody means -Depth by it
    '$o | ConvertTo-Json -Depth 5 -Compress',  # ConvertTo-Json has -Depth in 5.1
    'Get-Content -Path x.bin -Encoding Byte',
    'Get-Content -Path x.txt -Raw',
])
def test_windows_powershell_parameters_of_the_same_cmdlets_pass(statement):
    assert check(statement + '\n') == []


@pytest.mark.parametrize('name', sorted(ps_check._PS6_VARIABLES))
def test_every_powershell_6_automatic_variable_is_rejected_where_powershell_reads_it(name):
    for text, col in (('if ($%s) { 1 }', 5), ('$x = ${%s}', 6), ('$x = $global:%s', 6), ('$x = "a $%s b"', 9)):
        problem = only(check(text % name + '\n'))
        assert problem.col == col, text
        assert 'PowerShell 6' in problem.message or 'PowerShell 7' in problem.message


@pytest.mark.parametrize('text', [
    "$x = '$IsWindows'\n", '# $IsWindows\n', '$x = "`$IsWindows"\n', '$script:IsWindows = $true\n',
    '$x = $IsWindowsClient\n', "$x = @'\n$IsLinux\n'@\n",
], ids=['verbatim string', 'comment', 'escaped dollar', 'script scope', 'longer name', 'here-string'])
def test_automatic_variable_lookalikes_pass(text):
    assert check(text) == []


NET_TYPE_CASES = [name + 'JsonSerializer' if name.endswith('.') else name for name in sorted(ps_check._NET_CORE_TYPES)]


@pytest.mark.parametrize('type_name', NET_TYPE_CASES)
def test_every_net_core_type_is_rejected_in_casts_and_not_in_strings(type_name):
    problem = only(check('$x = $y -as [%s]\n' % type_name))
    assert problem.col == 14
    assert '.NET' in problem.message
    assert check("$x = '[%s]'\n# [%s]\n" % (type_name, type_name)) == []


@pytest.mark.parametrize('text, col', [
    ('$x = [Text.Json.JsonSerializer]::Serialize($o)\n', 7),  # resolved as System.Text.Json...
    ('$x = [System.Collections.Generic.List[System.DateOnly]]::new()\n', 39),
    ('[System.Half]$h = 1\n', 2),
    ('function f([System.Range]$r) { $r }\n', 13),
])
def test_net_core_types_are_found_wherever_a_type_is_named(text, col):
    assert only(check(text)).col == col


STATIC_CASES = sorted(ps_check._NET_CORE_STATIC_MEMBERS)


@pytest.mark.parametrize('type_name, member', STATIC_CASES, ids=['%s::%s' % c for c in STATIC_CASES])
def test_every_net_core_static_member_is_rejected(type_name, member):
    problem = only(check('$x = [%s]::%s(1)\n' % (type_name, member)))
    assert problem.col == len(type_name) + 10
    assert '.NET' in problem.message
    assert check("$x = '[%s]::%s(1)'\n# [%s]::%s\n" % (type_name, member, type_name, member)) == []


@pytest.mark.parametrize('text, col, fragment', [
    ('$h = [System.Security.Cryptography.SHA256]::HashData($b)\n', 45, 'HashData methods are .NET 5+ only'),
    ('$h = [Security.Cryptography.SHA1]::HashData($b)\n', 36, 'HashData'),
    ('$h = [System.Security.Cryptography.HMACSHA256]::HashData($k, $b)\n', 49, 'HashData'),
    ('$x = [Convert]::ToHexString($b)\n', 17, '[Convert]::ToHexString is .NET 5+ only'),
    ('$x = [System.Convert]::ToHexString($b)\n', 24, 'ToHexString'),
    ('$x = [convert]::tohexstring($b)\n', 17, 'ToHexString'),
    ('$x = [IO.Path]::Join($a, $b)\n', 17, 'Path]::Join'),
    ('$s = $text.ReplaceLineEndings()\n', 12, 'ReplaceLineEndings is .NET 6+ only'),
    ('$p = $cert.ExportCertificatePem()\n', 12, 'ExportCertificatePem'),
    ('$s = "$([Convert]::ToHexString($b))"\n', 20, 'ToHexString'),
])
def test_net_core_members_are_found(text, col, fragment):
    problem = only(check(text))
    assert problem.col == col
    assert fragment in problem.message


@pytest.mark.parametrize('text', [
    '$h = [System.Security.Cryptography.SHA256]::Create().ComputeHash($b)\n',
    "$x = [BitConverter]::ToString($b) -replace '-'\n",
    '$x = [Convert]::ToBase64String($b)\n',
    '$x = [System.IO.Path]::Combine($a, $b)\n',
    '$x = [string]::Join(",", $a)\n',  # String.Join is in .NET Framework; only Path.Join is not
    '$x = $text.ReplaceLineEndings\n',  # a property read, not the .NET 6 method call
    '$x = $o.HashData\n',
    '$x = [System.Text.Encoding]::UTF8\n',
    '$x = [System.Environment]::MachineName\n',
])
def test_net_framework_members_of_the_same_types_pass(text):
    assert check(text) == []


def test_every_rule_names_a_microsoft_page():
    rules = ps_check.rules()
    assert len(rules) > 60
    for what, rule in rules:
        assert rule.source.startswith('https://learn.microsoft.com/en-us/'), what
        assert rule.message, what


# --- code for another process, in a here-string -------------------------------------------------

def test_a_here_string_of_powershell_code_is_checked_at_its_own_lines():
    text = "$ok = 1\n$restart = @'\nStart-Sleep -Seconds 1\n$a = $b ?? 1\n'@\n"
    problem = only(check(text))
    assert (problem.line, problem.col) == (4, 9)
    assert problem.message.startswith("null-coalescing operator '??'")
    crlf = only(check(text.replace('\n', '\r\n')))
    assert (crlf.line, crlf.col) == (4, 9)


@pytest.mark.parametrize('text', [
    "$data = @'\n$a ?? $b\ngit pull && git push\n'@\n",  # no Verb-Noun command: data
    '$s = @"\nStart-Sleep $($x)\n$a ?? $b\n"@\n',  # expandable: only its $( ) is code
    "$x = 'Start-Sleep -Seconds 1; $a ?? 1'\n",  # a one-line string is not looked into
], ids=['data', 'expandable here-string', 'single-quoted string'])
def test_other_strings_stay_data(text):
    assert check(text) == []


# --- syntax errors ---------------------------------------------------------------------

def test_syntax_error_fixture_reports_the_missing_brace():
    problem = only(ps_check.check_file(str(FIXTURES / 'syntax_error.ps1'), 'broken.ps1'))
    assert problem.path == 'broken.ps1'
    assert problem.line == 6
    assert problem.message == "syntax error: missing '}'"


def test_syntax_error_names_the_text_where_parsing_broke():
    problem = only(check('$ok = 1\n$x = (1 +\n'))
    assert (problem.line, problem.col) == (2, 1)
    assert problem.message == "syntax error near '$x = (1 +'"


def test_syntax_error_snippet_is_shortened():
    problem = only(check('$x = @(' + ' 1,' * 40 + '\n'))
    assert problem.message.startswith("syntax error near '$x = @(")
    assert problem.message.endswith("...'")
    assert len(problem.message) < 60


def test_only_the_first_syntax_error_is_reported():
    # Later errors are often fallout of the first; one is enough to act on.
    problem = only(check('$ok = 1\n$x = (1 +\n$y = 2\n$z = @{ a = \n'))
    assert problem.line == 2


def test_syntax_error_on_another_line_than_a_ps7_construct_is_still_reported():
    problems = check("$a = $b ?? 'x'\n$ok = 1\nif ($ok) { 'open'\n")
    assert [(p.line, p.message.split(':')[0].split(' ')[0]) for p in problems] == [
        (1, 'null-coalescing'), (3, 'syntax'),
    ]
    assert problems[1].message == "syntax error: missing '}'"


# --- encoding ----------------------------------------------------------------------------

def test_utf8_bom_is_allowed_and_not_counted_as_a_column():
    source = b'\xef\xbb\xbf' + "$x = 'caf\u00e9'\n$a = $b ? 1 : 2\n".encode('utf-8')
    problem = only(ps_check.check_source(source, 'bom.ps1'))
    assert (problem.line, problem.col) == (2, 9)
    assert ps_check.check_source(b'\xef\xbb\xbf' + b"$x = 1\n", 'bom.ps1') == []


def test_columns_count_characters_not_bytes():
    problem = only(check("$s = '\u00e9\u00e9\u00e9'; $a = $b ? 1 : 2\n"))
    assert problem.col == 21  # 24 if bytes were counted


def test_crlf_line_endings():
    problem = only(check('$x = 1\r\n$y = 2\r\n$a = $b ?? 1\r\n'))
    assert (problem.line, problem.col) == (3, 9)


def test_latin1_file_is_rejected_with_the_bad_byte_position():
    source = "$ok = 1\n# caf\u00e9\n".encode('latin-1')
    problem = only(ps_check.check_source(source, 'latin1.ps1'))
    assert (problem.path, problem.line, problem.col) == ('latin1.ps1', 2, 6)
    assert problem.message.startswith('not valid UTF-8: byte 0xE9')


def test_invalid_utf8_after_multibyte_text_reports_a_character_column():
    source = "# \u00e9\u00e9 ".encode('utf-8') + b'\xff\n'
    problem = only(ps_check.check_source(source, 'x.ps1'))
    assert (problem.line, problem.col) == (1, 6)
    assert 'byte 0xFF' in problem.message


@pytest.mark.parametrize('encoding', ['utf-16', 'utf-16-be'])
def test_utf16_file_is_rejected(encoding):
    source = "$x = 1\n".encode(encoding)
    if encoding == 'utf-16-be':
        source = b'\xfe\xff' + source
    problem = only(ps_check.check_source(source, 'wide.ps1'))
    assert (problem.line, problem.col) == (1, 1)
    assert 'UTF-16' in problem.message


def test_deeply_nested_script_does_not_hit_the_recursion_limit():
    depth = 600
    text = 'if ($true) {\n' * depth + '$a = $b ?? 1\n' + '}\n' * depth
    problem = only(check(text))
    assert problem.line == depth + 1


# --- finding files ---------------------------------------------------------------------

def _touch(root, relative, content='$x = 1\n'):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding='utf-8')
    return path


def test_find_skips_build_and_tool_directories(tmp_path):
    keep = [
        'a.ps1',
        'plugins/action/scripts/b.ps1',
        'roles/r/files/C.PS1',
        'docs/tests/output/d.ps1',  # only ROOT/tests/output is skipped
    ]
    skip = [
        '.venv/lib/x.ps1',
        '.venv-3.13/lib/x.ps1',
        'plugins/.venv/x.ps1',
        '.build/x.ps1',
        '.git/hooks/x.ps1',
        'tests/output/x.ps1',
    ]
    for relative in keep + skip:
        _touch(tmp_path, relative)
    _touch(tmp_path, 'plugins/notes.txt')
    _touch(tmp_path, 'plugins/x.ps1.bak')

    found = ps_check.find_ps1_files(str(tmp_path))
    assert sorted(os.path.relpath(p, tmp_path) for p in found) == sorted(
        os.path.normpath(k) for k in keep
    )


def test_find_skips_the_fixtures_folder_only_below_root(tmp_path, monkeypatch):
    fixtures = tmp_path / 'tests' / 'tools' / 'fixtures'
    _touch(fixtures, 'bad.ps1')
    _touch(tmp_path, 'tests/tools/fine.ps1')
    monkeypatch.setattr(ps_check, 'FIXTURES_DIR', str(fixtures))

    assert [os.path.basename(p) for p in ps_check.find_ps1_files(str(tmp_path))] == ['fine.ps1']
    assert [os.path.basename(p) for p in ps_check.find_ps1_files(str(fixtures))] == ['bad.ps1']


def test_real_fixtures_are_skipped_from_the_collection_root():
    found = ps_check.find_ps1_files(ps_check.DEFAULT_ROOT)
    assert not [p for p in found if os.path.abspath(p).startswith(str(FIXTURES) + os.sep)]
    assert len(ps_check.find_ps1_files(str(FIXTURES))) == 3


def test_default_root_is_the_collection_root():
    assert os.path.samefile(ps_check.DEFAULT_ROOT, TOOLS_DIR.parent.parent)


def test_find_rejects_a_missing_root(tmp_path):
    with pytest.raises(ps_check.UsageError, match='is not a file or directory'):
        ps_check.find_ps1_files(str(tmp_path / 'nope'))


# --- the command line ------------------------------------------------------------------

def test_main_clean_tree_exits_0(tmp_path, capsys):
    _touch(tmp_path, 'a.ps1')
    _touch(tmp_path, 'b/c.ps1', "Start-Sleep -Seconds 'a && b'\n")
    assert ps_check.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == 'ps_check: 2 files, 0 problems\n'


def test_main_reports_problems_and_exits_1(tmp_path, capsys):
    bad = _touch(tmp_path, 'bad.ps1', '$x = 1\n$a = $b ?? 2\ngit pull && git push\n')
    _touch(tmp_path, 'good.ps1')
    # Without the allow-list, which would also name git as an unknown command.
    assert ps_check.main(['--no-allowlist', str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    shown = ps_check._display_path(str(bad))
    assert lines == [
        "%s:2:9: null-coalescing operator '??' needs PowerShell 7; use if ($null -eq $x) { ... } else { ... }" % shown,
        "%s:3:10: pipeline chain operator '&&' needs PowerShell 7; test $? or $LASTEXITCODE with if instead" % shown,
        'ps_check: 2 files, 2 problems',
    ]


def test_main_with_no_ps1_files_says_so_and_exits_0(tmp_path, capsys):
    _touch(tmp_path, 'readme.md', '# nothing\n')
    assert ps_check.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'no .ps1 files found under %s' % tmp_path in out
    assert out.endswith('ps_check: 0 files, 0 problems\n')


def test_main_accepts_a_single_file(tmp_path, capsys):
    path = _touch(tmp_path, 'one.ps1', '$a = $b ? 1 : 2\n')
    assert ps_check.main([str(path)]) == 1
    assert capsys.readouterr().out.endswith('ps_check: 1 files, 1 problems\n')


def test_main_missing_root_exits_2(tmp_path, capsys):
    assert ps_check.main([str(tmp_path / 'missing')]) == 2
    assert 'is not a file or directory' in capsys.readouterr().err


def test_main_reports_an_unreadable_file(tmp_path, capsys):
    (tmp_path / 'dangling.ps1').symlink_to(tmp_path / 'gone.ps1')
    assert ps_check.main([str(tmp_path)]) == 1
    assert 'dangling.ps1:1:1: cannot read file' in capsys.readouterr().out


@pytest.mark.parametrize('root, expected_rc', [
    (FIXTURES / 'good_ps51.ps1', 0),
    (FIXTURES, 1),
])
def test_command_line_exit_codes(root, expected_rc):
    # The fixtures exercise the syntax and PowerShell 6+ rules; the allow-list has its own (test_ps_allowlist.py).
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), '--no-allowlist', str(root)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == expected_rc, proc.stdout + proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last == ('ps_check: 1 files, 0 problems' if expected_rc == 0 else 'ps_check: 3 files, 17 problems')


def test_main_without_tree_sitter_exits_2(tmp_path, capsys, monkeypatch):
    _touch(tmp_path, 'a.ps1')
    # None in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, 'tree_sitter_powershell', None)
    ps_check._get_parser.cache_clear()
    try:
        assert ps_check.main([str(tmp_path)]) == 2
    finally:
        monkeypatch.undo()
        ps_check._get_parser.cache_clear()
    err = capsys.readouterr().err
    assert 'tree-sitter-powershell is not importable' in err
    assert 'requirements/test.txt' in err
    # and the parser works again afterwards
    assert ps_check.main([str(tmp_path)]) == 0
