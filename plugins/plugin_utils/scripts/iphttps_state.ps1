# directaccess.iphttps script: iphttps_state v2
# The light poll after an iphlpsvc restart: IP-HTTPS state and the state of the services, nothing else.
# Input (JSON on stdin): {}
# Output: { script, version, service_status, nca_service_status null|str, state_source "cmdlet"|"netsh",
#   iphttps_state null|{ interface_status (null when read from netsh), last_error_code (uint32) } }
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

# NcaSvc is what Get-DAConnectionStatus asks. Whether it depends on iphlpsvc, so that restarting IP
# Helper stops it and leaves it to be started again, is not confirmed in Microsoft's documentation;
# reporting it shows whether it came back.
$nca = Get-Service -Name NcaSvc -ErrorAction SilentlyContinue
$result = [ordered]@{
    script = 'iphttps_state'
    version = 2
    service_status = [string](Get-Service -Name iphlpsvc).Status
    nca_service_status = $null
    state_source = $null
    iphttps_state = $null
}
if ($null -ne $nca) { $result.nca_service_status = [string]$nca.Status }

# No object while IP-HTTPS is not (yet) active: the controller keeps polling. The cmdlet exists from
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

$result | ConvertTo-Json -Depth 4 -Compress
