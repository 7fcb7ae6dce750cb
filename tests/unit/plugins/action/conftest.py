# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the action plugin tests."""
from __future__ import annotations

import functools

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import FakeClock


@pytest.fixture
def clock(monkeypatch):
    """Polls run on a fake clock: no real sleeping, and the waits can be checked."""
    fake = FakeClock()
    monkeypatch.setattr(_windows_scripts, "poll_script",
                        functools.partial(_windows_scripts.poll_script, sleep=fake.sleep, clock=fake))
    return fake
