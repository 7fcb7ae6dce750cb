# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import importlib.util
import os
import pathlib
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
    found = [(p.line, p.message.split(' needs ')[0]) for p in problems]
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
    ]
    assert all(p.path == 'ps7.ps1' for p in problems)


def test_several_constructs_on_one_line_are_all_reported():
    problems = check("$a = $b ?? ($c ? 1 : 2)\n")
    assert [(p.line, p.col, p.message.split(' ')[0]) for p in problems] == [
        (1, 9, 'null-coalescing'), (1, 16, 'ternary'),
    ]


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
    _touch(tmp_path, 'b/c.ps1', "Write-Output 'a && b'\n")
    assert ps_check.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == 'ps_check: 2 files, 0 problems\n'


def test_main_reports_problems_and_exits_1(tmp_path, capsys):
    bad = _touch(tmp_path, 'bad.ps1', '$x = 1\n$a = $b ?? 2\ngit pull && git push\n')
    _touch(tmp_path, 'good.ps1')
    assert ps_check.main([str(tmp_path)]) == 1
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
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(root)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == expected_rc, proc.stdout + proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last == ('ps_check: 1 files, 0 problems' if expected_rc == 0 else 'ps_check: 3 files, 13 problems')


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
