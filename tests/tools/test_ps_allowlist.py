# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allow-list check of ps_check: every command, parameter, type and CIM class must be documented."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import pytest

TOOLS_DIR = pathlib.Path(__file__).absolute().parent
SCRIPT = TOOLS_DIR / 'ps_check.py'
SHIPPED_SCRIPTS = TOOLS_DIR.parent.parent / 'plugins' / 'plugin_utils' / 'scripts'


def _load_ps_check():
    spec = importlib.util.spec_from_file_location('ps_check', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ps_check = _load_ps_check()
ps_allowlist = ps_check.ps_allowlist
ALLOWLIST = ps_allowlist.load_allowlist()


def check(text, allowlist=ALLOWLIST):
    return ps_check.check_source(text.encode('utf-8'), 't.ps1', allowlist)


def messages(text, allowlist=ALLOWLIST):
    return [(p.line, p.col, p.message) for p in check(text, allowlist)]


def only(text):
    problems = check(text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- the allow-list itself -------------------------------------------------------------------------

def test_the_shipped_scripts_name_only_documented_things():
    paths = sorted(SHIPPED_SCRIPTS.glob('*.ps1'))
    assert len(paths) >= 3
    for path in paths:
        assert ps_check.check_file(str(path), path.name, ALLOWLIST) == []


def test_every_entry_names_its_microsoft_page():
    entries = [c.source for c in ALLOWLIST.commands.values()] + [t.source for t in ALLOWLIST.types.values()]
    entries += [c.source for c in ALLOWLIST.cim_classes.values()] + list(ALLOWLIST.native_commands.values())
    assert len(entries) > 80
    assert all(source.startswith('https://learn.microsoft.com/en-us/') for source in entries)
    # Cmdlets are sourced from the Windows PowerShell 5.1 or Windows Server module reference, types from .NET Framework.
    for command in ALLOWLIST.commands.values():
        assert command.source.endswith(('?view=powershell-5.1', '?view=windowsserver2022-ps')), command.name
    framework_types = [t for t in ALLOWLIST.types.values() if not t.name.startswith('System.Management.Automation.')]
    assert all(t.source.endswith('?view=netframework-4.8') for t in framework_types)


def test_powershell_6_names_are_not_in_the_allow_list():
    for name in ps_check._PS6_COMMANDS:
        assert name not in ALLOWLIST.commands
    for command, rules in ps_check._PS6_PARAMETERS.items():
        listed = ALLOWLIST.commands.get(command)
        for rule in rules:
            assert listed is None or rule.parameter not in listed.parameters, (command, rule.parameter)
    for (type_name, member) in ps_check._NET_CORE_STATIC_MEMBERS:
        listed = ALLOWLIST.types.get(type_name)
        assert listed is None or member not in listed.static_members, (type_name, member)
    for type_name in ps_check._NET_CORE_TYPES:
        assert not any(t == type_name or t.startswith(type_name) for t in ALLOWLIST.types if type_name.endswith('.'))
        assert type_name not in ALLOWLIST.types
    assert 'progressaction' not in ALLOWLIST.common_parameters  # PowerShell 7.4


# --- commands and parameters ---------------------------------------------------------------------

@pytest.mark.parametrize('text', [
    'Get-Service -Name iphlpsvc -ErrorAction SilentlyContinue\n',
    'Get-Service -Name:iphlpsvc -ErrorAction:Stop\n',
    'Get-Service -ServiceName iphlpsvc -ea 0\n',  # a documented alias, a common parameter's alias
    'get-service -name iphlpsvc\n',  # names ignore case
    'Microsoft.PowerShell.Management\\Get-Service -Name iphlpsvc\n',
    'Get-Service iphlpsvc\n',
    'Get-Service \u2013Name iphlpsvc\n',  # en dash
    'Unregister-ScheduledTask -TaskName x -Confirm:$false\n',
    "Get-Service -Name '-Bogus'\n",
    'function Get-Thing([string]$Name) { $Name }\nGet-Thing -Whatever 1\n',
    'Get-Thing -Whatever 1\nfunction Get-Thing { 1 }\n',
    '& netsh.exe interface httpstunnel show interfaces\n',
    "& 'netsh.exe' interface httpstunnel show interfaces\n",
    'netsh.exe interface httpstunnel show interfaces\n',
    '& C:\\Windows\\System32\\netsh.exe show\n',
    "# Get-Foo -Bar [Made.Up]::Type\n$x = 'Get-Foo -Bar [Made.Up]'\n$y = @'\nsome Get Foo text\n'@\n",
])
def test_documented_commands_and_parameters_pass(text):
    assert check(text) == []


@pytest.mark.parametrize('text, col, fragment', [
    ('Get-Foo -Bar 1\n', 1, "command 'Get-Foo' is not in tests/tools/ps_allowlist.yml"),
    ('gsv -Name x\n', 1, "command 'gsv'"),  # aliases are not listed: write the cmdlet
    ('$s | % { $_ }\n', 6, "command '%'"),
    ('Get-Service -Nmae x\n', 13, 'parameter -Nmae of Get-Service is not in'),
    ('Get-Service -Na x\n', 13, 'parameter -Na of Get-Service'),  # an abbreviation: write it in full
    ('Get-Service -Name x -ErrorAct Stop\n', 21, 'parameter -ErrorAct'),
    ('Get-Service -Name x -ProgressAction Stop\n', 21, 'parameter -ProgressAction'),
    ('Get-Service \u2013Nmae x\n', 13, 'parameter -Nmae'),
    ('Restart-Service -Name x -NoWait\n', 25, 'parameter -NoWait of Restart-Service'),
    ('Microsoft.PowerShell.Utility\\Get-Service -Name x\n', 1, 'names module Microsoft.PowerShell.Utility, but'),
    ('& curl.exe https://x\n', 3, "program 'curl.exe' is not in"),
    ('& $tool -x\n', 3, 'command name is computed ($tool)'),
    ('& "$env:windir\\system32\\netsh.exe" x\n', 3, 'command name is computed'),
    ('$s = "$(Get-Foo)"\n', 9, "command 'Get-Foo'"),
    ("$restart = @'\nStart-Sleep -Seconds 1\nRestart-Service -Name x -NoWait\n'@\n", 25, 'parameter -NoWait'),
])
def test_undocumented_commands_and_parameters_fail(text, col, fragment):
    problem = only(text)
    assert problem.col == col
    assert fragment in problem.message


# --- .NET types and static members -------------------------------------------------------------

@pytest.mark.parametrize('text', [
    '$x = [System.Uri]$u\n',
    '$x = [uri]$u\n',  # accelerator
    '$x = [Convert]::ToBase64String($b)\n',  # resolved as System.Convert
    '$x = [System.Convert]::FromBase64String($s)\n',
    '$x = $e -is [System.UnauthorizedAccessException]\n',
    '$x = [ordered]@{ a = 1 }\n',
    '[void]$list.Add(1)\n',
    '$x = [byte[]]@(1, 2)\n',
    '$x = [System.Collections.Generic.List[string]]$y\n',
    '$x = [Net.WebRequest]::Create($u)\n',  # System.Net.WebRequest
    '$x = [System.Net.WebRequest]::createhttp($u)\n',
    '$x = [System.Security.Authentication.SslProtocols]::Tls12\n',
    "$x = [System.Security.Authentication.SslProtocols]'Tls12, Tls11'\n",
    '[CmdletBinding()]\nparam([Parameter(Mandatory = $true)][string]$Name)\n$Name\n',
    '$c = [System.Net.Security.RemoteCertificateValidationCallback] { param($a) $true }\n',
    "$x = New-Object -TypeName System.Net.WebProxy -ArgumentList $u\n",
    "$x = New-Object -TypeName 'System.Collections.Generic.List[string]'\n",
    '$x = New-Object -TypeName byte[] -ArgumentList 16\n',
    '$x = New-Object -TypeName:System.IO.MemoryStream\n',
])
def test_documented_types_and_members_pass(text):
    assert check(text) == []


@pytest.mark.parametrize('text, col, fragment', [
    ('$x = [System.Made.Up]$y\n', 7, ".NET type 'System.Made.Up' is not in"),
    ('$x = $y -as [Made.Up]\n', 14, "'Made.Up'"),
    ('$x = [System.Collections.Generic.List[Made.Up]]$y\n', 39, "'Made.Up'"),
    ('$x = [Made.Up[]]$y\n', 7, "'Made.Up'"),
    ('[MadeUpAttribute()]\nparam($a)\n$a\n', 2, "'MadeUpAttribute'"),
    ('$x = [Convert]::ToChar(65)\n', 17, 'static member System.Convert::ToChar is not in'),
    ('$x = [int]::MaxValue\n', 13, 'static member System.Int32::MaxValue'),  # no System.Int32 entry
    ('$x = [System.Convert]::$name\n', 24, 'static member of System.Convert is computed'),
    ('$x = New-Object -TypeName System.Made.Up\n', 27, ".NET type 'System.Made.Up'"),
    ("$x = New-Object -TypeName 'System.Collections.Generic.List[Made.Up]'\n", 27, "'Made.Up'"),
    ('$x = New-Object System.Uri $u\n', 6, 'New-Object without -TypeName'),
    ('$x = New-Object -ComObject Schedule.Service\n', 6, 'New-Object without -TypeName'),
    ('$x = New-Object -TypeName $type\n', 27, 'New-Object -TypeName is computed'),
    ('$x = New-Object -TypeName "System.$name"\n', 27, 'New-Object -TypeName is computed'),
    # client_info v5 did this: an IPv4-only socket, so a server with only an AAAA record was never reached.
    ('$x = New-Object -TypeName System.Net.Sockets.TcpClient\n', 27, 'TcpClient() works with IPv4 only'),
])
def test_undocumented_types_and_members_fail(text, col, fragment):
    problem = only(text)
    assert problem.col == col
    assert fragment in problem.message


def test_a_tcp_client_with_its_address_family_passes():
    assert messages('$x = New-Object -TypeName System.Net.Sockets.TcpClient -ArgumentList $a.AddressFamily\n') == []


def test_an_unknown_type_is_reported_once_not_again_for_its_member():
    assert [m[2].split(' is ')[0] for m in messages('$x = [Made.Up]::Member()\n')] == [".NET type 'Made.Up'"]


# --- CIM classes -------------------------------------------------------------------------------------

@pytest.mark.parametrize('text', [
    "Get-CimInstance -ClassName Win32_Service -Filter \"Name='iphlpsvc'\" -ErrorAction Stop\n",
    'Get-CimInstance -ClassName Win32_Service -Namespace root\\cimv2\n',
    'Get-CimInstance -ClassName Win32_Service -Namespace ROOT/CIMV2\n',
    'Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = $c }\n',
    'Invoke-CimMethod -Class Win32_Process -Name Create -Arguments @{}\n',  # documented aliases
    'New-CimInstance -Namespace root/cimv2 -ClassName Win32_ProcessStartup -ClientOnly -Property @{}\n',
    'Get-CimInstance -Query "SELECT * FROM Win32_Whatever"\n',  # not checked: no -ClassName
])
def test_documented_cim_classes_pass(text):
    assert check(text) == []


@pytest.mark.parametrize('text, col, fragment', [
    ('Get-CimInstance -ClassName Win32_Made_Up\n', 28, "CIM class 'Win32_Made_Up' is not in"),
    ('Get-CimInstance -ClassName Win32_Service -Namespace root/StandardCimv2\n', 28,
     'CIM class Win32_Service lives in namespace root/cimv2, not root/StandardCimv2'),
    ('Invoke-CimMethod -ClassName Win32_Process -MethodName Kill\n', 55, 'method Kill of CIM class Win32_Process'),
    ('Get-CimInstance -ClassName $class\n', 28, '-ClassName is computed'),
    ('Get-CimInstance -ClassName Win32_Service -Namespace $ns\n', 53, '-Namespace is computed'),
])
def test_undocumented_cim_classes_fail(text, col, fragment):
    problem = only(text)
    assert problem.col == col
    assert fragment in problem.message


# --- with the PowerShell 6+ rules ----------------------------------------------------------------

@pytest.mark.parametrize('text, fragment', [
    ('$h = $j | ConvertFrom-Json -AsHashtable\n', 'ConvertFrom-Json -AsHashtable needs PowerShell 6'),
    ('$x = [Convert]::ToHexString($b)\n', '[Convert]::ToHexString is .NET 5+ only'),
    ('$x = [System.Text.Json.JsonSerializer]::Serialize($o)\n', 'System.Text.Json is not part of .NET Framework'),
    ("$x = 'a', 'b' | Join-String\n", 'Join-String needs PowerShell 6.2'),
])
def test_a_powershell_6_finding_is_not_reported_again_as_undocumented(text, fragment):
    problem = only(text)
    assert fragment in problem.message


# --- loading the allow-list ----------------------------------------------------------------------

_LEARN = 'https://learn.microsoft.com/en-us/x'
MINIMAL = textwrap.dedent('''\
    common_parameters: {source: %(s)s, parameters: {ErrorAction: [ea]}}
    type_accelerators: {source: %(s)s, names: {string: System.String}}
    commands:
      Get-Thing: {module: M, source: %(s)s, parameters: [Name]}
    native_commands: {}
    types:
      System.Thing: {source: %(s)s, static_members: [Make]}
    cim_classes: {}
    ''') % {'s': _LEARN}


def _write(tmp_path, text):
    path = tmp_path / 'allow.yml'
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_a_minimal_allow_list_loads_and_is_used(tmp_path):
    allowlist = ps_allowlist.load_allowlist(_write(tmp_path, MINIMAL))
    assert check('Get-Thing -Name x -ea 0\n$x = [Thing]::Make()\n', allowlist) == []
    assert [m[2].split(' is ')[0] for m in messages('Get-Service\n', allowlist)] == ["command 'Get-Service'"]


@pytest.mark.parametrize('change, fragment', [
    (('source: %s, parameters: [Name]' % _LEARN, 'source: http://example.com/x, parameters: [Name]'),
     'commands.Get-Thing.source: must be a https://learn.microsoft.com/en-us/ page'),
    (('{module: M, source: %s, parameters: [Name]}' % _LEARN, '{module: M, parameters: [Name]}'),
     'commands.Get-Thing: missing key(s) source'),
    (('parameters: [Name]}', 'parameters: [Name], color: red}'), 'commands.Get-Thing: unknown key(s) color'),
    (('parameters: [Name]}', 'parameters: [Name, name]}'), "commands.Get-Thing.parameters: 'name' is listed twice"),
    (('parameters: [Name]}', 'parameters: [Name], parameter_aliases: {Path: [p]}}'),
     'commands.Get-Thing.parameter_aliases: Path is not one of its parameters'),
    (('  System.Thing:', '  Thing:'), 'types.Thing: give the full name with its namespace'),
    (('native_commands: {}', 'native_commands: {netsh: {source: %s}}' % _LEARN),
     'native_commands.netsh: give the file name with .exe'),
    (('cim_classes: {}', 'cim_classes: {Win32_X: {source: %s}}' % _LEARN),
     'cim_classes.Win32_X: missing key(s) namespace'),
    (('cim_classes: {}\n', ''), '(top level): missing key(s) cim_classes'),
    (('types:', 'commands:'), "key 'commands' is given twice"),
    (('cim_classes: {}', 'cim_classes: [oops'), 'not valid YAML'),
    (('names: {string: System.String}', 'names: {ordered: {type: X.Y}}'),
     'type_accelerators.names.ordered: missing key(s) source'),
])
def test_a_malformed_allow_list_names_the_entry_and_the_reason(tmp_path, change, fragment):
    old, new = change
    assert old in MINIMAL
    path = _write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(ps_allowlist.AllowlistError) as error:
        ps_allowlist.load_allowlist(path)
    assert fragment in str(error.value)
    assert str(error.value).startswith(path)


def test_a_missing_allow_list_is_an_error(tmp_path):
    with pytest.raises(ps_allowlist.AllowlistError, match='cannot read'):
        ps_allowlist.load_allowlist(str(tmp_path / 'nope.yml'))


# --- the command line ------------------------------------------------------------------------------

def test_main_checks_against_the_allow_list_given(tmp_path, capsys):
    script = tmp_path / 'scripts' / 'a.ps1'
    script.parent.mkdir()
    script.write_text('Get-Thing -Name x\nGet-Service -Name x\n', encoding='utf-8')
    allow = _write(tmp_path, MINIMAL)
    assert ps_check.main(['--allowlist', allow, str(script.parent)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and ":2:1: command 'Get-Service' is not in" in out[0]
    assert out[-1] == 'ps_check: 1 files, 1 problems'
    assert ps_check.main(['--no-allowlist', str(script.parent)]) == 0


def test_main_with_a_broken_allow_list_exits_2(tmp_path, capsys):
    script = tmp_path / 'a.ps1'
    script.write_text('$x = 1\n', encoding='utf-8')
    assert ps_check.main(['--allowlist', _write(tmp_path, 'commands: [\n'), str(script)]) == 2
    assert 'not valid YAML' in capsys.readouterr().err


def test_command_line_uses_the_repository_allow_list_by_default(tmp_path):
    script = tmp_path / 'a.ps1'
    script.write_text('Get-Service -Name iphlpsvc\nGet-Content -Path C:\\x\n', encoding='utf-8')
    proc = subprocess.run([sys.executable, str(SCRIPT), str(script)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ":2:1: command 'Get-Content' is not in tests/tools/ps_allowlist.yml" in proc.stdout
    assert proc.stdout.splitlines()[-1] == 'ps_check: 1 files, 1 problems'
