#!/usr/bin/env python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Check the collection's PowerShell scripts without running PowerShell.

Usage: python tests/tools/ps_check.py [ROOT]

Every *.ps1 file under ROOT (default: the collection root) must

1. be valid UTF-8 (a UTF-8 BOM is fine),
2. parse with the tree-sitter PowerShell grammar, and
3. avoid PowerShell 6/7 syntax, because the scripts run on Windows
   PowerShell 5.1: the ternary operator, '??' and '??=', '?.' and '?[',
   the pipeline chain operators '&&' and '||', ForEach-Object -Parallel
   and ConvertFrom-Json -AsHashtable.

It prints one "path:line:col: message" line per problem, then a summary,
and exits 1 if there was any problem, 0 if not and 2 on a usage error.
Lines and columns count from 1; columns count characters, not bytes.

Test tooling only: it is not part of the collection's runtime.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import os
import sys
import typing as t

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
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

# The grammar rejects these PowerShell 7 operators, so they show up as ERROR
# nodes starting at the '?'. Longest spelling first.
_QUESTION_MARK_CONSTRUCTS = (
    ('??=', "null-coalescing assignment '??=' needs PowerShell 7; use if ($null -eq $x) { $x = ... }"),
    ('??', "null-coalescing operator '??' needs PowerShell 7; use if ($null -eq $x) { ... } else { ... }"),
    ('?.', "null-conditional member access '?.' needs PowerShell 7.1; test the value for $null first"),
    ('?[', "null-conditional index '?[' needs PowerShell 7.1; test the value for $null first"),
    ('?', "ternary operator '? :' needs PowerShell 7; use if/else"),
)

_CHAIN_MESSAGE = (
    "pipeline chain operator '%s' needs PowerShell 7; test $? or $LASTEXITCODE with if instead"
)

# command name (lower case, module qualifier removed) -> (parameter, shortest
# abbreviation PowerShell would bind to it, message). PowerShell accepts any
# unambiguous prefix of a parameter name, so '-Para' is '-Parallel'.
_BANNED_PARAMETERS = {
    'foreach-object': ('parallel', 2, 'ForEach-Object -Parallel needs PowerShell 7; use a plain loop or jobs'),
    'foreach': ('parallel', 2, "ForEach-Object -Parallel (alias 'foreach') needs PowerShell 7; use a plain loop or jobs"),
    '%': ('parallel', 2, "ForEach-Object -Parallel (alias '%') needs PowerShell 7; use a plain loop or jobs"),
    'convertfrom-json': (
        'ashashtable', 2,
        'ConvertFrom-Json -AsHashtable needs PowerShell 6; use the PSCustomObject it returns, '
        'or JavaScriptSerializer from System.Web.Extensions',
    ),
}

# PowerShell also takes en dash, em dash and horizontal bar as the parameter dash.
_PARAMETER_DASHES = '-\u2013\u2014\u2015'

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
    """Find PowerShell 6+ constructs; also return the byte offsets they start at."""
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
                    add(token.start_byte, _CHAIN_MESSAGE % token.type)

        elif node.type == 'command':
            _lint_command(node, add)

        elif node.type == 'ERROR':
            offset = _first_non_space(body, node.start_byte, node.end_byte)
            if body[offset:offset + 1] != b'?' or offset in seen_question_marks:
                continue
            seen_question_marks.add(offset)
            for spelling, message in _QUESTION_MARK_CONSTRUCTS:
                if body.startswith(spelling.encode('ascii'), offset):
                    add(offset, message)
                    break

    return problems, offsets


def _lint_command(node, add: t.Callable[[int, str], None]) -> None:
    name_node = next((child for child in node.children if child.type == 'command_name'), None)
    if name_node is None:
        return
    name = name_node.text.decode('utf-8', errors='replace').lower().rsplit('\\', 1)[-1]
    banned = _BANNED_PARAMETERS.get(name)
    if banned is None:
        return
    parameter, shortest, message = banned
    for elements in node.children:
        if elements.type != 'command_elements':
            continue
        for element in elements.children:
            # The grammar reads an en-dash parameter as a bare word.
            if element.type not in ('command_parameter', 'generic_token'):
                continue
            text = element.text.decode('utf-8', errors='replace')
            if not text or text[0] not in _PARAMETER_DASHES:
                continue
            given = text.lstrip(_PARAMETER_DASHES).split(':', 1)[0].lower()
            if len(given) >= shortest and parameter.startswith(given):
                add(element.start_byte, message)


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


def check_source(source: bytes, path: str = '<source>') -> list[Problem]:
    """Check one script's bytes; return its problems in file order."""
    body, problems = _check_encoding(path, source)
    if body is None:
        return problems
    tree = _get_parser().parse(body)
    position = _Positions(body)
    problems, lint_offsets = _lint(path, body, tree, position)
    syntax = _syntax_error(path, body, tree, position, lint_offsets)
    if syntax is not None:
        problems.append(syntax)
    return sorted(problems, key=lambda p: (p.line, p.col))


def check_file(path: str, display: str | None = None) -> list[Problem]:
    """Check the file at path; problems name it as display (default: path)."""
    with open(path, 'rb') as handle:
        source = handle.read()
    return check_source(source, path if display is None else display)


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
        description='Syntax-check PowerShell scripts and reject PowerShell 6+ constructs '
                    '(the scripts must run on Windows PowerShell 5.1).',
    )
    arg_parser.add_argument('root', nargs='?', default=DEFAULT_ROOT,
                            help='directory to search for *.ps1, or one file (default: the collection root)')
    args = arg_parser.parse_args(argv)

    try:
        paths = find_ps1_files(args.root)
        if not paths:
            print('ps_check: no .ps1 files found under %s' % args.root)
            print('ps_check: 0 files, 0 problems')
            return 0
        _get_parser()
    except UsageError as e:
        print('ps_check: error: %s' % e, file=sys.stderr)
        return 2

    count = 0
    for path in paths:
        try:
            problems = check_file(path, _display_path(path))
        except OSError as e:
            problems = [Problem(_display_path(path), 1, 1, 'cannot read file: %s' % e.strerror)]
        for problem in problems:
            print(problem)
        count += len(problems)

    print('ps_check: %d files, %d problems' % (len(paths), count))
    return 1 if count else 0


if __name__ == '__main__':
    sys.exit(main())
