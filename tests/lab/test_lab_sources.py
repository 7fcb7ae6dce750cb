# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab follows the sources: every Windows behaviour it imitates has a row in docs/lab.md.

Each imitated behaviour is marked in the lab's code with a comment line ``# lab-behaviour: <key>``
right above the code that does it. The table in docs/lab.md's section "What the lab imitates, and
where each behaviour comes from" has one row per key, saying where the lab does it
(``file.py:Class.function``) and where the behaviour comes from: a Microsoft page, the .NET
reference source, the PowerShell or Ansible source, or an assumption with what would confirm it.
These tests fail when a marker has no row, a row has no marker, a row names the wrong place, or a
row has neither a source nor an assumption.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

LAB_DIR = pathlib.Path(__file__).absolute().parent
LAB_DOC = LAB_DIR.parent.parent / 'docs' / 'lab.md'
SECTION = '## What the lab imitates, and where each behaviour comes from'

MARKER_RE = re.compile(r'^[ \t]*#[ \t]*lab-behaviour:[ \t]*(\S+)[ \t]*$')
KEY_RE = re.compile(r'^[a-z0-9]+(?:-[a-z0-9]+)*$')
ROW_RE = re.compile(r'^\|\s*`([^`]+)`\s*\|(.*)\|\s*$')
WHERE_RE = re.compile(r'`([A-Za-z0-9_]+\.py):([A-Za-z0-9_.]+)`')
LINK_RE = re.compile(r'\]\((https://[^)\s]+)\)')
# Where a behaviour may come from: Microsoft's own pages and sources, and the Ansible source.
SOURCE_PREFIXES = (
    'https://learn.microsoft.com/',
    'https://support.microsoft.com/',
    'https://github.com/microsoft/referencesource/',
    'https://github.com/PowerShell/PowerShell/',
    'https://github.com/ansible/ansible/',
)


def _scopes(tree: ast.Module) -> list:
    """(first line, last line, qualified name, node) of every class and function."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found.append((first, child.end_lineno, name, child))
                visit(child, name + '.')

    visit(tree, '')
    return found


def _module_target(tree: ast.Module, line: int) -> str | None:
    """The name a module-level statement starting at line assigns or defines."""
    for statement in tree.body:
        if statement.lineno != line:
            continue
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            return statement.targets[0].id
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            return statement.target.id
    return None


def markers_in(path: pathlib.Path) -> list:
    """(key, 'file.py:qualified.name', line) for every marker in one lab file.

    A marker belongs to the first code line after it: the function or class that line defines or
    lies in, or the module-level name it assigns.
    """
    text = path.read_text(encoding='utf-8')
    lines = text.splitlines()
    tree = ast.parse(text)
    scopes = _scopes(tree)
    found = []
    for number, line in enumerate(lines, start=1):
        match = MARKER_RE.match(line)
        if match is None:
            continue
        code = next((n for n in range(number + 1, len(lines) + 1)
                     if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith('#')), None)
        assert code is not None, '%s:%d: marker %s is not followed by code' % (path.name, number, match.group(1))
        starting = [s for s in scopes if s[0] == code]
        containing = [s for s in scopes if s[0] <= code <= s[1]]
        if starting:
            where = starting[0][2]
        elif containing:
            where = max(containing, key=lambda s: s[0])[2]
        else:
            where = _module_target(tree, code)
        assert where, '%s:%d: marker %s is not above a function, class or assignment' % (
            path.name, number, match.group(1))
        found.append((match.group(1), '%s:%s' % (path.name, where), number))
    return found


def lab_markers() -> list:
    found = []
    for path in sorted(LAB_DIR.glob('*.py')):
        if path.name.startswith('test_'):
            continue
        found.extend(markers_in(path))
    return found


def table_rows(text: str) -> list:
    """(key, behaviour, where cell, source cell) of the section's table."""
    assert SECTION in text, 'docs/lab.md has no section %r' % SECTION
    section = text.split(SECTION, 1)[1]
    section = re.split(r'^## ', section, maxsplit=1, flags=re.MULTILINE)[0]
    rows = []
    for line in section.splitlines():
        match = ROW_RE.match(line.strip())
        if match is None:
            continue
        cells = [cell.strip() for cell in match.group(2).split(' | ')]
        assert len(cells) == 3, 'row %s must have 4 cells: key | behaviour | where | source' % match.group(1)
        rows.append((match.group(1), *cells))
    return rows


def source_problem(cell: str) -> str | None:
    """Why a source cell is not acceptable, or None."""
    links = LINK_RE.findall(cell)
    sourced = any(link.startswith(SOURCE_PREFIXES) for link in links)
    assumed = re.search(r'\bassum(ed|ption)\b', cell, re.IGNORECASE) is not None
    if assumed and not re.search(r'\bconfirm', cell, re.IGNORECASE):
        return 'an assumption must say what would confirm it'
    if not sourced and not assumed:
        return 'needs a link to a Microsoft page, the reference source or the Ansible source, or an assumption'
    return None


# --- the lab against the table ----------------------------------------------------------------------

MARKERS = lab_markers()
ROWS = table_rows(LAB_DOC.read_text(encoding='utf-8'))


def test_the_lab_marks_the_behaviours_it_imitates():
    assert len(MARKERS) >= 40
    keys = [key for key, _place, _line in MARKERS]
    assert [key for key in keys if not KEY_RE.match(key)] == []
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert duplicates == [], 'each behaviour is marked once: %s' % duplicates


def test_every_marker_has_a_row_and_every_row_a_marker():
    marked = {key for key, _place, _line in MARKERS}
    listed = [row[0] for row in ROWS]
    assert sorted({k for k in listed if listed.count(k) > 1}) == [], 'a key is listed twice'
    missing_rows = sorted(marked - set(listed))
    missing_markers = sorted(set(listed) - marked)
    assert missing_rows == [], 'marked in the lab but not in docs/lab.md: %s' % missing_rows
    assert missing_markers == [], 'in docs/lab.md but marked nowhere in tests/lab: %s' % missing_markers


def test_every_row_names_where_the_lab_does_it():
    where = {key: place for key, place, _line in MARKERS}
    wrong = []
    for key, _behaviour, cell, _source in ROWS:
        places = ['%s:%s' % match for match in WHERE_RE.findall(cell)]
        if key in where and where[key] not in places:
            wrong.append('%s: the table says %s, the marker is in %s' % (key, places or cell, where[key]))
    assert wrong == []


@pytest.mark.parametrize('key, behaviour, where, source', ROWS, ids=[row[0] for row in ROWS])
def test_every_row_has_a_source_or_an_assumption(key, behaviour, where, source):
    assert behaviour, key
    problem = source_problem(source)
    assert problem is None, '%s: %s' % (key, problem)


# --- the checks themselves -----------------------------------------------------------------------------

@pytest.mark.parametrize('cell, problem', [
    ('[X](https://learn.microsoft.com/en-us/x)', None),
    ('[reference source](https://github.com/microsoft/referencesource/blob/master/a.cs)', None),
    ('[async_wrapper](https://github.com/ansible/ansible/blob/devel/x.ps1)', None),
    ('*Assumption:* 4 s. Confirm by timing a real tunnel.', None),
    ('[X](https://learn.microsoft.com/x); the text is assumed: confirm on Windows', None),
    ('[a blog](https://example.com/post)', 'needs a link'),
    ('learn.microsoft.com/en-us/x', 'needs a link'),
    ('', 'needs a link'),
    ('*Assumption:* the realm is WSMAN.', 'what would confirm it'),
])
def test_source_cells_are_judged(cell, problem):
    found = source_problem(cell)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_markers_are_placed_by_the_code_that_follows(tmp_path):
    path = tmp_path / 'lab_sample.py'
    path.write_text(
        '# lab-behaviour: module-constant\n'
        'LIMIT = 4\n'
        '\n'
        'class Host:\n'
        '    # lab-behaviour: method-def\n'
        '    def answer(self):\n'
        '        x = 1\n'
        '        # lab-behaviour: inside-method\n'
        '        # a comment between the marker and its code\n'
        '        return x\n'
        '\n'
        '# lab-behaviour: function-def\n'
        'def helper():\n'
        '    return {\n'
        '        # lab-behaviour: in-a-literal\n'
        '        "a": 1,\n'
        '    }\n', encoding='utf-8')
    assert [(key, where) for key, where, _line in markers_in(path)] == [
        ('module-constant', 'lab_sample.py:LIMIT'),
        ('method-def', 'lab_sample.py:Host.answer'),
        ('inside-method', 'lab_sample.py:Host.answer'),
        ('function-def', 'lab_sample.py:helper'),
        ('in-a-literal', 'lab_sample.py:helper'),
    ]


def test_a_marker_above_nothing_it_can_name_fails(tmp_path):
    path = tmp_path / 'lab_sample.py'
    path.write_text('# lab-behaviour: dangling\nprint(1)\n', encoding='utf-8')
    with pytest.raises(AssertionError, match='not above a function, class or assignment'):
        markers_in(path)


def test_table_rows_are_read_from_the_section_only():
    text = ('# Lab\n\n| `other` | not this table | `x.py:f` | [s](https://learn.microsoft.com/x) |\n\n'
            + SECTION + '\n\n| key | behaviour | where | source |\n|---|---|---|---|\n'
            '| `a-key` | does a | `handlers.py:f` | *Assumption:* x; confirm by y |\n\n## Next\n\n'
            '| `later` | no | `x.py:g` | no |\n')
    assert table_rows(text) == [('a-key', 'does a', '`handlers.py:f`', '*Assumption:* x; confirm by y')]
    with pytest.raises(AssertionError, match='has no section'):
        table_rows('# Lab\n')
