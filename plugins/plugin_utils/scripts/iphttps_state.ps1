# directaccess.iphttps script: iphttps_state v3
# The light poll after an iphlpsvc restart: IP-HTTPS state, the DirectAccess connection status, the services,
# and the proof the detached restart left; nothing else.
# Input (JSON on stdin): {}
# Output: { script, version, service_status, service_process_id null|uint32, nca_service_status null|str,
#   state_source "cmdlet"|"netsh", iphttps_state null|{ interface_status (null when read from netsh), last_error_code (uint32) },
#   da_connection_status null|{ status, status_name, substatus, substatus_name },
#   restart_marker null|{ token, outcome, message, finished_at } }
# service_process_id is iphlpsvc's Win32_Service.ProcessId (0 while stopped). restart_marker is what the restart
# ca_import.ps1 launched wrote when Restart-Service returned (the last one; the controller matches its token).
# nca_service_status is null where the Network Connectivity Assistant service does not exist.
# Windows PowerShell 5.1; keep it plain.
$ErrorActionPreference = 'Stop'
$null = @($input)

function Read-NetshLastError {
    # netsh prints its labels in the display language: read only the 0x... last error code.
    # Continue: Windows PowerShell turns a native command's stderr into error records, which Stop
    # would make terminating; a netsh failure only means there is nothing to read.
    $ErrorActionPreference = 'Continue'
    $lines = @()
    try { $lines = @(& netsh.exe interface httpstunnel show interfaces) }
    catch { return $null }
    foreach ($line in $lines) {
        if ([string]$line -match ':\s*0x([0-9A-Fa-f]{1,8})\s*$') { return [Convert]::ToUInt32($Matches[1], 16) }
    }
    return $null
}

function Get-NumberAndName($value) {
    # As client_info.ps1 reads MSFT_DAConnectionStatus: uint32 in the class, maybe an enum from the cmdlet.
    $pair = [ordered]@{ number = $null; name = $null }
    if ($null -eq $value) { return $pair }
    if ($value -is [System.Enum]) { $pair.number = [uint32][int64]$value; $pair.name = [string]$value }
    elseif ($value -is [string] -and $value -notmatch '^\d+$') { $pair.name = $value }
    else { $pair.number = [uint32]$value }
    return $pair
}

# NcaSvc is what Get-DAConnectionStatus asks. Restart-Service -Force stops it with iphlpsvc, its
# dependency, and starts it again (PowerShell's Service.cs); reporting it shows whether it came back.
$nca = Get-Service -Name NcaSvc -ErrorAction SilentlyContinue
$service = Get-CimInstance -ClassName Win32_Service -Filter "Name='iphlpsvc'" -ErrorAction SilentlyContinue
$result = [ordered]@{
    script = 'iphttps_state'
    version = 3
    service_status = [string](Get-Service -Name iphlpsvc).Status
    service_process_id = $null
    nca_service_status = $null
    state_source = $null
    iphttps_state = $null
    da_connection_status = $null
    restart_marker = $null
}
if ($null -ne $service) { $result.service_process_id = [uint32]$service.ProcessId }
if ($null -ne $nca) { $result.nca_service_status = [string]$nca.Status }

# No object while IP-HTTPS is not active (not yet, or Teredo, 6to4 or the corporate network carries
# DirectAccess): the controller then looks at the DirectAccess status. The cmdlet exists from
# Windows 8; calling a missing one fails before -ErrorAction applies, so look first.
if (Get-Command -Name Get-NetIPHttpsState -ErrorAction SilentlyContinue) {
    $result.state_source = 'cmdlet'
    $state = Get-NetIPHttpsState -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -ne $state) {
        $result.iphttps_state = [ordered]@{
            interface_status = [string]$state.InterfaceStatus
            last_error_code = [uint32]$state.LastErrorCode
        }
    }
}
else {
    $result.state_source = 'netsh'
    $code = Read-NetshLastError
    if ($null -ne $code) { $result.iphttps_state = [ordered]@{ interface_status = $null; last_error_code = $code } }
}

if (Get-Command -Name Get-DAConnectionStatus -ErrorAction SilentlyContinue) {
    # While NcaSvc is stopped (mid-restart) the cmdlet throws: that is "no status yet", not a failure.
    try {
        $da = Get-DAConnectionStatus -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($null -ne $da) {
            $status = Get-NumberAndName $da.Status
            $substatus = Get-NumberAndName $da.Substatus
            $result.da_connection_status = [ordered]@{
                status = $status.number
                status_name = $status.name
                substatus = $substatus.number
                substatus_name = $substatus.name
            }
        }
    }
    catch { $result.da_connection_status = $null }
}

# Registry.GetValue gives null while the key or the value does not exist (no restart yet).
$proof = [Microsoft.Win32.Registry]::GetValue('HKEY_LOCAL_MACHINE\SOFTWARE\directaccess.iphttps', 'iphlpsvc_restart', $null)
if ($proof) {
    try {
        $marker = [string]$proof | ConvertFrom-Json
        $result.restart_marker = [ordered]@{
            token = [string]$marker.token
            outcome = [string]$marker.outcome
            message = $marker.message
            finished_at = $marker.finished_at
        }
    }
    catch { $result.restart_marker = [ordered]@{ token = $null; outcome = 'unreadable'; message = [string]$proof; finished_at = $null } }
}

$result | ConvertTo-Json -Depth 4 -Compress
