# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option checks every action of the collection starts with.

Internal to directaccess.iphttps; may change without notice.
"""
from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)

# The detached restart only waits for the WinRM reply to leave the host; a minute is far more than that needs.
MAX_RESTART_DELAY = 60


def validated_args(action: t.Any, plugin: str, argument_spec: dict, *, positive: t.Iterable[str] = (),
                   non_negative: t.Iterable[str] = ()) -> dict:
    """Validate the task's options, then check what the argument spec cannot express."""
    _validation, args = action.validate_argument_spec(argument_spec=argument_spec)
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleActionFail(f"{plugin} needs the Python 'cryptography' library on the controller: "
                                f"{CRYPTOGRAPHY_IMPORT_ERROR}")
    for option in positive:
        if args[option] <= 0:
            raise AnsibleActionFail(f"{option}: must be a positive number of seconds, got {args[option]}")
    for option in non_negative:
        if args[option] < 0:
            raise AnsibleActionFail(f"{option}: must not be negative, got {args[option]}")
    return args
