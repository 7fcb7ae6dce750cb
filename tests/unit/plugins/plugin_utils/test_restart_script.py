# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The code ca_import.ps1 hands the detached restart, which ps_check never sees: it is text in a here-string.

The restart runs as SYSTEM (scheduled task) or through WMI with nobody to report a syntax error to, so
the text it runs is checked here like a script of its own, and its marker is held to what
iphttps_state.ps1 reads.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[4]
SCRIPTS = REPO / "plugins" / "plugin_utils" / "scripts"
TOOLS = REPO / "tests" / "tools"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def here_string(script: str, variable: str) -> str:
    """The body of ``$<variable> = @' ... '@`` (a verbatim here-string)."""
    match = re.search(rf"^\${variable} = @'\n(.*?)\n'@$", script, re.S | re.M)
    assert match, f"no here-string ${variable} in ca_import.ps1"
    return match.group(1)


@pytest.fixture(scope="module")
def ca_import():
    return (SCRIPTS / "ca_import.ps1").read_text(encoding="utf-8-sig")


def restart_command(ca_import: str, *, task: bool) -> str:
    """What the task or the WMI process runs, with the two values the script puts in."""
    text = here_string(ca_import, "RestartScript").replace("__DELAY__", "5").replace("__TOKEN__", "0123abcd-ef")
    return text + "\n" + here_string(ca_import, "UnregisterTask") if task else text


@pytest.mark.parametrize("task", [True, False])
def test_the_restart_command_is_plain_powershell_5_1_with_documented_names(ca_import, task):
    ps_check, ps_allowlist = _load("ps_check"), _load("ps_allowlist")
    command = restart_command(ca_import, task=task)
    assert "__" not in command  # every placeholder filled
    problems = ps_check.check_source(command.encode("utf-8"), "restart", ps_allowlist.load_allowlist())
    assert [str(p) for p in problems] == []


def test_only_the_checked_delay_and_token_go_into_the_command(ca_import):
    # The token is checked against this pattern before it is put in; the delay is an [int].
    assert "if ($token -notmatch '^[A-Za-z0-9-]{1,64}$')" in ca_import
    assert "$delay = [Math]::Max(0, [int]$params.restart_delay_seconds)" in ca_import
    assert re.findall(r"__[A-Z]+__", here_string(ca_import, "RestartScript")) == ["__DELAY__", "__TOKEN__"]
    assert ".Replace('__DELAY__', [string]$delay).Replace('__TOKEN__', $token)" in ca_import


def test_the_marker_the_restart_writes_is_the_one_the_poll_reads(ca_import):
    restart = here_string(ca_import, "RestartScript")
    poll = (SCRIPTS / "iphttps_state.ps1").read_text(encoding="utf-8-sig")
    where = "'HKEY_LOCAL_MACHINE\\SOFTWARE\\directaccess.iphttps', 'iphlpsvc_restart'"
    assert f"[Microsoft.Win32.Registry]::SetValue({where}, ($proof | ConvertTo-Json -Compress))" in restart
    assert f"[Microsoft.Win32.Registry]::GetValue({where}, $null)" in poll
    for key in ("token", "outcome", "message", "finished_at"):
        assert f"{key} = " in restart.split("\n")[1] and f"{key} = " in poll
    # Restart-Service reports failures as non-terminating errors: without Stop the catch would never run.
    assert "Restart-Service -Name iphlpsvc -Force -ErrorAction Stop" in restart


def test_the_task_deletes_itself_by_the_name_it_was_registered_under(ca_import):
    unregister = here_string(ca_import, "UnregisterTask")
    assert "$TaskPath = '\\directaccess.iphttps\\'" in ca_import and "$TaskName = 'iphlpsvc-restart'" in ca_import
    assert "-TaskName 'iphlpsvc-restart' -TaskPath '\\directaccess.iphttps\\' -Confirm:$false" in unregister
