# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/verdicts.md must explain every code the decoder knows, with the decoder's own words."""
from __future__ import annotations

import os

from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import KNOWN_CODES

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "verdicts.md")


def test_every_known_code_is_documented_with_its_remedy():
    with open(DOC, encoding="utf-8") as handle:
        rows = {line.split("|")[1].strip().strip("`"): line for line in handle if line.startswith("| `0x")}
    for code, entry in KNOWN_CODES.items():
        row = rows.get(f"0x{code:X}")
        assert row is not None, f"docs/verdicts.md lacks 0x{code:X} {entry.name}"
        assert entry.name in row and entry.remedy in row, f"docs/verdicts.md is out of date for {entry.name}"
    assert set(rows) == {f"0x{code:X}" for code in KNOWN_CODES}
