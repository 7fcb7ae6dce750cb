# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation lives in iphttps_error.yml beside this file.

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error


def iphttps_error(value):
    """Decode an IP-HTTPS last error code; see iphttps_error.yml."""
    try:
        return decode_error(value)
    except TypeError as e:
        raise AnsibleFilterError('iphttps_error: %s' % e) from e


class FilterModule:
    """directaccess.iphttps filters."""

    def filters(self):
        return {
            'iphttps_error': iphttps_error,
        }
