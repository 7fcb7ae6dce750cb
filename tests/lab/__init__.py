# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test lab: simulated Windows clients for directaccess.iphttps.

Test infrastructure only; the collection never imports anything from here.
"""

from __future__ import annotations
