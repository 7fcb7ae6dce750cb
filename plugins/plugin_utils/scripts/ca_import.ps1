# directaccess.iphttps script: ca_import v2
# Adds (or removes) CA certificates in LocalMachine\Root and LocalMachine\CA, idempotently by thumbprint,
# and optionally schedules a detached restart of the IP Helper service.
# Input (JSON on stdin): { "state": "present"|"absent", "check_mode": bool, "restart_iphlpsvc": bool,
#   "restart_even_if_unchanged": bool, "restart_delay_seconds": int, "certificates": [{ "store": "Root"|"CA", "thumbprint": str, "der_base64": str }] }
#   der_base64 may be empty for state absent: the certificate is then found by thumbprint.
# Output: { script, version, changed, imported [{store, thumbprint}], removed [...], already_present [...],
#   absent [...], failed null|{ store, thumbprint, kind, message }, stores_before { Root, CA }, stores_after { Root, CA },
#   restart_scheduled bool, restart_error null|str, restart_note null|str, restart_skipped null|str,
#   service_status str (iphlpsvc's status when the script ran) }
# The restart is skipped on a machine without an IP-HTTPS client configuration: it is not a DirectAccess client.
# failed.kind is access_denied when the store refused the account (E_ACCESSDENIED), distrusted when a certificate to
# import is in LocalMachine\Disallowed (then nothing is imported), else error.
# restart_note says the restart was scheduled without leaving the WMI provider host's job object.
# Windows PowerShell 5.1; keep it plain. The controller decides what goes where.
$ErrorActionPreference = 'Stop'
$params = (@($input) -join "`n") | ConvertFrom-Json

function Get-StoreThumbprints([string]$Name) {
    $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList $Name, 'LocalMachine'
    $store.Open('ReadOnly')
    try { return @($store.Certificates | ForEach-Object { $_.Thumbprint.ToUpperInvariant() }) }
    finally { $store.Close() }
}

function Test-AccessDenied($exception) {
    # PowerShell wraps a .NET method's exception in MethodInvocationException and the message is in
    # the display language, so walk the inner exceptions and look at the type and the code:
    # E_ACCESSDENIED 0x80070005, or the bare Win32 ERROR_ACCESS_DENIED (5), which X509Store's
    # CryptographicException may carry instead (which of the two it uses is unconfirmed).
    $current = $exception
    while ($null -ne $current) {
        if ($current -is [System.UnauthorizedAccessException]) { return $true }
        # Exception.HResult is public from .NET Framework 4.5; earlier it reads as null.
        if ($current.HResult -eq -2147024891) { return $true }
        if ($current -is [System.Security.Cryptography.CryptographicException] -and $current.HResult -eq 5) { return $true }
        if ($current -is [System.ComponentModel.Win32Exception] -and $current.NativeErrorCode -eq 5) { return $true }
        $current = $current.InnerException
    }
    return $false
}

$result = [ordered]@{
    script = 'ca_import'
    version = 2
    changed = $false
    imported = @()
    removed = @()
    already_present = @()
    absent = @()
    failed = $null
    stores_before = [ordered]@{ Root = @(Get-StoreThumbprints 'Root'); CA = @(Get-StoreThumbprints 'CA') }
    stores_after = $null
    restart_scheduled = $false
    restart_error = $null
    restart_note = $null
    restart_skipped = $null
    service_status = [string](Get-Service -Name iphlpsvc).Status
}

function Test-IPHttpsClient {
    # The same test client_info.ps1 makes: an IP-HTTPS client configuration that names a server.
    if (Get-Command -Name Get-NetIPHttpsConfiguration -ErrorAction SilentlyContinue) {
        $clients = @(Get-NetIPHttpsConfiguration -ErrorAction SilentlyContinue | Where-Object { ($_.Type -eq 0 -or [string]$_.Type -eq 'Client') -and [string]$_.ServerURL })
        return $clients.Count -gt 0
    }
    $ErrorActionPreference = 'Continue'
    $lines = @()
    try { $lines = @(& netsh.exe interface httpstunnel show interfaces) }
    catch { return $false }
    foreach ($line in $lines) { if ([string]$line -match ':\s*https://\S+') { return $true } }
    return $false
}

# Windows refuses every chain through a certificate in Disallowed, whatever Root holds: importing one fixes
# nothing and hides the cause. Checked for all of them first, so a refusal leaves the stores untouched.
$items = @($params.certificates)
if ($params.state -ne 'absent') {
    $disallowed = @(Get-StoreThumbprints 'Disallowed')
    foreach ($item in $items) {
        $thumb = ([string]$item.thumbprint).ToUpperInvariant()
        if ($disallowed -contains $thumb) {
            $result.failed = [ordered]@{ store = [string]$item.store; thumbprint = $thumb; kind = 'distrusted'; message = "certificate $thumb is in the Untrusted Certificates store (LocalMachine\Disallowed); Windows would still refuse it, so nothing was imported" }
            $items = @()
            break
        }
    }
}

foreach ($item in $items) {
    $entry = [ordered]@{ store = [string]$item.store; thumbprint = ([string]$item.thumbprint).ToUpperInvariant() }
    try {
        if (@('Root', 'CA') -notcontains $entry.store) { throw "store must be Root or CA, not '$($entry.store)'" }
        $present = $result.stores_before[$entry.store] -contains $entry.thumbprint
        $cert = $null
        if ([string]$item.der_base64) {
            $cert = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [Convert]::FromBase64String([string]$item.der_base64))
            # The thumbprint is computed here from the bytes received, so a transfer fault cannot slip through.
            if ($cert.Thumbprint.ToUpperInvariant() -ne $entry.thumbprint) {
                throw "thumbprint mismatch: the controller sent $($entry.thumbprint), the host computed $($cert.Thumbprint)"
            }
        }
        elseif ($params.state -ne 'absent') { throw 'der_base64 is required to import a certificate' }
        if ($params.state -eq 'absent') {
            if (-not $present) { $result.absent += $entry; continue }
        }
        elseif ($present) { $result.already_present += $entry; continue }

        if (-not $params.check_mode) {
            $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList $entry.store, 'LocalMachine'
            $store.Open('ReadWrite')
            try {
                if ($params.state -eq 'absent') {
                    # A removal may name the certificate by thumbprint only (a rollback from a report).
                    foreach ($found in @($store.Certificates.Find('FindByThumbprint', $entry.thumbprint, $false))) { $store.Remove($found) }
                }
                else { $store.Add($cert) }
            }
            finally { $store.Close() }
        }
        if ($params.state -eq 'absent') { $result.removed += $entry } else { $result.imported += $entry }
        $result.changed = $true
    }
    catch {
        $kind = 'error'
        if ((Test-AccessDenied $_.Exception) -or $_.Exception.Message -match 'Access is denied') { $kind = 'access_denied' }
        $result.failed = [ordered]@{ store = $entry.store; thumbprint = $entry.thumbprint; kind = $kind; message = $_.Exception.Message }
        break
    }
}

$result.stores_after = [ordered]@{ Root = @(Get-StoreThumbprints 'Root'); CA = @(Get-StoreThumbprints 'CA') }

$wantRestart = $params.restart_iphlpsvc -and ($result.changed -or $params.restart_even_if_unchanged) -and -not $params.check_mode -and $null -eq $result.failed
if ($wantRestart -and -not (Test-IPHttpsClient)) {
    $wantRestart = $false
    $result.restart_skipped = 'not a DirectAccess client: no IP-HTTPS client configuration, so iphlpsvc was left alone'
}
if ($wantRestart) {
    # Restarting iphlpsvc tears down IP-HTTPS, Teredo and 6to4; if this WinRM session rides on one of them,
    # children of the WinRM shell die with it. A process made through WMI is not a child of the shell.
    $delay = [int]$params.restart_delay_seconds
    $command = "powershell.exe -NoProfile -NonInteractive -Command `"Start-Sleep -Seconds $delay; Restart-Service -Name iphlpsvc -Force`""
    try {
        # Unless CREATE_BREAKAWAY_FROM_JOB (0x01000000) is set, the new process stays in the WMI provider
        # host's job object and is bound by its limits ("Create method of the Win32_Process class").
        # CreateFlags is CreateProcess' dwCreationFlags ("Win32_ProcessStartup class").
        $breakaway = $null
        try { $breakaway = New-CimInstance -Namespace root/cimv2 -ClassName Win32_ProcessStartup -ClientOnly -Property @{ CreateFlags = [uint32]0x01000000 } }
        catch { $result.restart_note = "Win32_ProcessStartup could not be built ($($_.Exception.Message)); the restart runs inside the WMI provider host's job" }
        $arguments = @{ CommandLine = $command }
        if ($null -ne $breakaway) { $arguments.ProcessStartupInformation = $breakaway }
        $created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments $arguments
        if ($created.ReturnValue -ne 0 -and $null -ne $breakaway) {
            # Breaking away needs the job to allow it (JOB_OBJECT_LIMIT_BREAKAWAY_OK, "Process Creation
            # Flags"); that the provider host's job does is unconfirmed. A restart inside the job beats none.
            $refused = $created.ReturnValue
            $created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = $command }
            if ($created.ReturnValue -eq 0) {
                $result.restart_note = "Win32_Process.Create refused CREATE_BREAKAWAY_FROM_JOB (returned $refused); the restart runs inside the WMI provider host's job"
            }
        }
        if ($created.ReturnValue -ne 0) { throw "Win32_Process.Create returned $($created.ReturnValue)" }
        $result.restart_scheduled = $true
    }
    catch {
        $result.restart_error = "could not schedule the iphlpsvc restart: $($_.Exception.Message)"
    }
}

$result | ConvertTo-Json -Depth 6 -Compress
