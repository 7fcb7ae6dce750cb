# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the collection's action plugins the way the task executor does, with a mocked task."""
from __future__ import annotations

from unittest.mock import MagicMock

from ansible.playbook.play_context import PlayContext


def run_action(module, name: str, connection, *, check_mode: bool = False, diff: bool = False,
               task_vars: dict | None = None, **args) -> dict:
    """``module`` is the action plugin's Python module; ``name`` its short name, e.g. ``ca_import``."""
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = f"directaccess.iphttps.{name}"
    action = module.ActionModule(task, connection, PlayContext(), loader=MagicMock(), templar=None,
                                 shared_loader_obj=None)
    return action.run(task_vars=task_vars or {})
