# directaccess.iphttps script: ca_import v4
# Adds (or removes) CA certificates in LocalMachine\Root and LocalMachine\CA, idempotently by thumbprint,
# and optionally launches a detached restart of the IP Helper service.
# Input (JSON on stdin): { "state": "present"|"absent", "check_mode": bool, "restart_iphlpsvc": bool,
#   "restart_even_if_unchanged": bool, "restart_delay_seconds": int, "restart_method": "auto"|"scheduled_task"|"wmi",
#   "restart_token": str (1-64 letters, digits or '-'), "certificates": [{ "store": "Root"|"CA", "thumbprint": str, "der_base64": str }] }
#   der_base64 may be empty for state absent: the certificate is then found by thumbprint.
# Output: { script, version, changed, imported [{store, thumbprint}], removed [...], already_present [...],
#   absent [...], failed null|{ store, thumbprint, kind, message }, stores_before { Root, CA }, stores_after { Root, CA },
#   kept [{ store, thumbprint, kept_by ["GroupPolicy"|"Enterprise"|"AuthRoot"], removed_default bool }],
#   restart_scheduled bool, restart_error null|str, restart_note null|str, restart_skipped null|str,
#   service_status str (iphlpsvc's status when the script ran),
#   restart_launch null|{ method "scheduled_task"|"wmi", process_id uint32|null, task_name str|null,
#   service_process_id_before uint32|null (iphlpsvc's Win32_Service.ProcessId before the launch), token str } }
# A removal never touches a copy that another physical store delivers ("System Store Locations": the logical Root
# and CA stores merge .Default with .GroupPolicy, .Enterprise and, for Root, .AuthRoot): it would come back at the
# next policy refresh or from Active Directory. Such a certificate is listed in kept; only its .Default copy, the
# one an import makes, is removed (then it is in removed too, with removed_default true).
# The restart is skipped on a machine without an IP-HTTPS client configuration: it is not a DirectAccess client.
# failed.kind is access_denied when the store refused the account (E_ACCESSDENIED), distrusted when a certificate to
# import is in LocalMachine\Disallowed (then nothing is imported), else error.
# The launched restart leaves its proof when Restart-Service returns: registry value iphlpsvc_restart under
# HKLM\SOFTWARE\directaccess.iphttps, JSON { token, outcome "restarted"|"failed", message, finished_at }, which
# iphttps_state.ps1 reads. auto tries a one-shot SYSTEM scheduled task, then WMI's Win32_Process.Create.
# restart_note says what was tried and fell back (no task, a refused or failed breakaway).
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
        # The registry provider's refusal ("Requested registry access is not allowed").
        if ($current -is [System.Security.SecurityException]) { return $true }
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
    version = 4
    changed = $false
    imported = @()
    removed = @()
    already_present = @()
    absent = @()
    kept = @()
    failed = $null
    stores_before = [ordered]@{ Root = @(Get-StoreThumbprints 'Root'); CA = @(Get-StoreThumbprints 'CA') }
    stores_after = $null
    restart_scheduled = $false
    restart_error = $null
    restart_note = $null
    restart_skipped = $null
    service_status = [string](Get-Service -Name iphlpsvc).Status
    restart_launch = $null
}

function Get-OtherCopies([string]$Store, [string]$Thumbprint) {
    # The physical stores besides .Default that hold this certificate: their registry keys, named by thumbprint.
    $keys = [ordered]@{
        GroupPolicy = "HKLM:\SOFTWARE\Policies\Microsoft\SystemCertificates\$Store\Certificates\$Thumbprint"
        Enterprise = "HKLM:\SOFTWARE\Microsoft\EnterpriseCertificates\$Store\Certificates\$Thumbprint"
    }
    if ($Store -eq 'Root') { $keys.AuthRoot = "HKLM:\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates\$Thumbprint" }
    $others = @()
    foreach ($name in @($keys.Keys)) { if (Test-Path -LiteralPath $keys[$name]) { $others += $name } }
    return $others
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

function Get-IphlpsvcProcessId {
    # Win32_Service.ProcessId, 0 while stopped. Where iphlpsvc shares its svchost.exe with other services
    # (Windows 10 before 1703, or 3.5 GB of RAM or less: "Service host grouping in Windows 10"), a restart
    # keeps the id, so the restart's own proof is what the controller relies on.
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='iphlpsvc'" -ErrorAction SilentlyContinue
    if ($null -eq $service) { return $null }
    return [uint32]$service.ProcessId
}

function ConvertTo-EncodedCommand([string]$Text) {
    # powershell.exe -EncodedCommand takes base64 of UTF-16LE: nothing to quote or escape.
    return [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($Text))
}

# What the detached process runs. Restart-Service waits for the service to stop and to run again, and reports a
# failure as a non-terminating error (PowerShell's Service.cs): -ErrorAction Stop lets the catch record it.
# The proof is written either way (Registry.SetValue creates the key when it is missing); the controller accepts
# the reconnect only with this run's token in it.
$RestartScript = @'
Start-Sleep -Seconds __DELAY__
$proof = [ordered]@{ token = '__TOKEN__'; outcome = 'restarted'; message = $null; finished_at = $null }
try { Restart-Service -Name iphlpsvc -Force -ErrorAction Stop }
catch { $proof.outcome = 'failed'; $proof.message = [string]$_.Exception.Message }
$proof.finished_at = [DateTime]::UtcNow.ToString('o')
[Microsoft.Win32.Registry]::SetValue('HKEY_LOCAL_MACHINE\SOFTWARE\directaccess.iphttps', 'iphlpsvc_restart', ($proof | ConvertTo-Json -Compress))
'@
# The task's last act is to delete itself, after the proof is written.
$UnregisterTask = @'
try { Unregister-ScheduledTask -TaskName 'iphlpsvc-restart' -TaskPath '\directaccess.iphttps\' -Confirm:$false } catch { }
'@
$TaskPath = '\directaccess.iphttps\'
$TaskName = 'iphlpsvc-restart'

function Start-RestartTask([string]$Encoded) {
    # A one-shot task run as SYSTEM by the Task Scheduler service: not a child of the WinRM shell and not created
    # through WMI, so neither the end of the WinRM command nor ASR rule d1e49aac ("Block process creations
    # originating from PSExec and WMI commands") stops it. Laptops on battery must still run it.
    $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -NonInteractive -EncodedCommand $Encoded"
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances Parallel -ExecutionTimeLimit (New-TimeSpan -Minutes 10)
    $null = Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Action $action -Principal $principal -Settings $settings -Force
    try { Start-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath }
    catch {
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false -ErrorAction SilentlyContinue
        throw
    }
}

function Start-RestartProcess([string]$CommandLine) {
    # Unless CREATE_BREAKAWAY_FROM_JOB (0x01000000) is set, the new process stays in the WMI provider host's job
    # object and is bound by its limits ("Create method of the Win32_Process class"; CreateFlags is CreateProcess'
    # dwCreationFlags, "Win32_ProcessStartup class"). Breaking away needs the job to allow it, which is
    # unconfirmed: a refusal and an exception alike fall back to the plain Create that Ansible's async_wrapper uses.
    $notes = @()
    try {
        $startup = New-CimInstance -Namespace root/cimv2 -ClassName Win32_ProcessStartup -ClientOnly -Property @{ CreateFlags = [uint32]0x01000000 }
        $created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = $CommandLine; ProcessStartupInformation = $startup }
        if ($created.ReturnValue -eq 0) { return [ordered]@{ process_id = [uint32]$created.ProcessId; notes = $notes } }
        $notes += "Win32_Process.Create refused CREATE_BREAKAWAY_FROM_JOB (returned $($created.ReturnValue))"
    }
    catch { $notes += "Win32_Process.Create with CREATE_BREAKAWAY_FROM_JOB failed ($($_.Exception.Message))" }
    $created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = $CommandLine }
    if ($created.ReturnValue -ne 0) { throw "Win32_Process.Create returned $($created.ReturnValue)" }
    $notes += "the restart runs inside the WMI provider host's job"
    return [ordered]@{ process_id = [uint32]$created.ProcessId; notes = $notes }
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
        # It becomes part of registry paths below: 40 hexadecimal digits and nothing else.
        if ($entry.thumbprint -notmatch '^[0-9A-F]{40}$') { throw "thumbprint must be 40 hexadecimal digits, not '$($entry.thumbprint)'" }
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
            $others = @(Get-OtherCopies $entry.store $entry.thumbprint)
            if ($others.Count -gt 0) {
                $defaultKey = "HKLM:\SOFTWARE\Microsoft\SystemCertificates\$($entry.store)\Certificates\$($entry.thumbprint)"
                $kept = [ordered]@{ store = $entry.store; thumbprint = $entry.thumbprint; kept_by = $others; removed_default = (Test-Path -LiteralPath $defaultKey) }
                # Only the .Default copy goes: deleting its key leaves the policy's or the directory's copy alone,
                # which X509Store.Remove on the logical store does not promise.
                if ($kept.removed_default -and -not $params.check_mode) { Remove-Item -LiteralPath $defaultKey -Recurse }
                $result.kept += $kept
                if ($kept.removed_default) {
                    $result.removed += $entry
                    $result.changed = $true
                }
                continue
            }
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
    # children of the WinRM shell die with it. So the restart runs in a process that is not the shell's child.
    $delay = [Math]::Max(0, [int]$params.restart_delay_seconds)
    $notes = @()
    try {
        $token = [string]$params.restart_token
        if ($token -notmatch '^[A-Za-z0-9-]{1,64}$') { throw "restart_token must be 1 to 64 letters, digits or '-', not '$token'" }
        $method = [string]$params.restart_method
        if (-not $method) { $method = 'auto' }
        if (@('auto', 'scheduled_task', 'wmi') -notcontains $method) { throw "restart_method must be auto, scheduled_task or wmi, not '$method'" }
        $before = Get-IphlpsvcProcessId
        # Only the two checked values are put into the code the detached process runs.
        $restart = $RestartScript.Replace('__DELAY__', [string]$delay).Replace('__TOKEN__', $token)
        $launch = $null
        if ($method -ne 'wmi') {
            if (Get-Command -Name Register-ScheduledTask -ErrorAction SilentlyContinue) {
                try {
                    Start-RestartTask (ConvertTo-EncodedCommand ($restart + "`n" + $UnregisterTask))
                    $launch = [ordered]@{ method = 'scheduled_task'; process_id = $null; task_name = $TaskPath + $TaskName }
                }
                catch {
                    if ($method -eq 'scheduled_task') { throw }
                    $notes += "the scheduled task could not be used ($($_.Exception.Message)); fell back to WMI"
                }
            }
            elseif ($method -eq 'scheduled_task') { throw 'the ScheduledTasks cmdlets are missing (they come with Windows 8)' }
            else { $notes += 'no ScheduledTasks cmdlets (they come with Windows 8); used WMI' }
        }
        if ($null -eq $launch) {
            $created = Start-RestartProcess ('powershell.exe -NoProfile -NonInteractive -EncodedCommand ' + (ConvertTo-EncodedCommand $restart))
            $notes += $created.notes
            $launch = [ordered]@{ method = 'wmi'; process_id = $created.process_id; task_name = $null }
        }
        $launch.service_process_id_before = $before
        $launch.token = $token
        $result.restart_launch = $launch
        $result.restart_scheduled = $true
    }
    catch {
        $result.restart_error = "could not schedule the iphlpsvc restart: $($_.Exception.Message)"
    }
    if ($notes.Count -gt 0) { $result.restart_note = $notes -join '; ' }
}

$result | ConvertTo-Json -Depth 6 -Compress
