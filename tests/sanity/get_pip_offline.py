# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Stand-in for ansible-test's get-pip bootstrap download, which is not reachable offline:
# `make test` copies it to ansible-test's cache so new test venvs get pip from ensurepip.
from __future__ import annotations

import ensurepip

ensurepip.bootstrap(upgrade=True)
