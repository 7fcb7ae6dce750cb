# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make fuzz` only: diagnose() takes under a second of CPU per 20-certificate chain with
5,000-certificate pools (issue 8, section 6).

Timed tests do not belong in `make test` (noisy, shared machines; performance is measured by
tests/bench). Here each scenario is run three times on freshly loaded certificates with the
per-certificate caches emptied, and the fastest run's CPU time (not wall time, which other jobs on
the machine inflate) must stay under the limit. `make test` checks the same scenarios by counting
signature checks instead (test_fuzz_certificates.py).
"""
from __future__ import annotations

import os
import time

import pytest

from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

pytestmark = pytest.mark.skipif(os.environ.get("IPHTTPS_FUZZ_TIMING") != "1",
                                reason="timed only by `make fuzz` (IPHTTPS_FUZZ_TIMING=1)")

LIMIT_SECONDS = 1.0


@pytest.mark.parametrize("name", ["deep", "same_name", "key_id_mesh", "cross_mesh"])
def test_a_20_certificate_chain_with_5000_certificate_pools_takes_under_a_second(name):
    scenario = fuzz.pool_scenarios()[name]
    seconds = [fuzz.timed_diagnosis(scenario)[0] for _run in range(3)]
    print(f"\n{name}: {len(scenario['server_chain'])}-certificate chain, {fuzz.pool_size(scenario)}-certificate "
          f"pools: CPU seconds per diagnosis {', '.join(f'{s:.3f}' for s in seconds)}")
    assert min(seconds) < LIMIT_SECONDS


def test_the_timer_measures_the_analysis():
    """The scenarios' diagnoses are what the limit is about, not a shortcut: their verdicts."""
    verdicts = {name: fuzz.timed_diagnosis(scenario)[1]["verdict"] for name, scenario in fuzz.pool_scenarios().items()}
    assert verdicts == {"deep": "no_chain", "same_name": "untrusted_root", "key_id_mesh": "no_chain",
                        "cross_mesh": "trusted"}
    assert time.process_time() > 0
