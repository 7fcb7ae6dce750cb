# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation lives in iphttps_record.yml beside this file.

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._host_record import RecordError, build_record


def iphttps_record(client, host, trust=None, change=None, mode="remediate", run_id=""):
    """Condense one host's results into a fleet report record; see iphttps_record.yml."""
    try:
        return build_record(str(host), client, trust=trust, change=change, mode=str(mode), run_id=str(run_id))
    except RecordError as exc:
        raise AnsibleFilterError(f"iphttps_record: {exc}") from None


class FilterModule:
    """directaccess.iphttps fleet report filters."""

    def filters(self):
        return {"iphttps_record": iphttps_record}
