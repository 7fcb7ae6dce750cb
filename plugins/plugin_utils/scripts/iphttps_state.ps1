# directaccess.iphttps script: iphttps_state v1
# The light poll after an iphlpsvc restart: IP-HTTPS state and the service state, nothing else.
# Input (JSON on stdin): {}
# Output: { script, version, service_status, iphttps_state null|{ interface_status, last_error_code } }
# Windows PowerShell 5.1; keep it plain.
$ErrorActionPreference = 'Stop'
$null = @($input)

$result = [ordered]@{
    script = 'iphttps_state'
    version = 1
    service_status = [string](Get-Service -Name iphlpsvc).Status
    iphttps_state = $null
}
# No object while IP-HTTPS is not (yet) active: the controller keeps polling.
$state = Get-NetIPHttpsState -ErrorAction SilentlyContinue | Select-Object -First 1
if ($null -ne $state) {
    $result.iphttps_state = [ordered]@{
        interface_status = [string]$state.InterfaceStatus
        last_error_code = [uint32]$state.LastErrorCode
    }
}

$result | ConvertTo-Json -Depth 4 -Compress
