# directaccess.iphttps script: client_info v2
# Returns one JSON document describing this client's IP-HTTPS state. Read-only.
# Input (JSON on stdin): { "connect_timeout_ms": int, "store_certificates": "chain"|"all" }
# Output: { script, version, computer_name, state_source "cmdlet"|"netsh",
#   iphttps_configuration null|{ server_url, state, type, configuration_type, profile, profile_activated },
#   iphttps_state null|{ interface_status (null when read from netsh), last_error_code (uint32) },
#   da_connection_status null|{ status, status_name, substatus, substatus_name },
#   server_chain (base64 DER: the leaf, then the rest of X509Chain.ChainElements),
#   chain_policy_extra_store (base64 DER), server_chain_error, chain_status (X509Chain flags),
#   stores { Root: [thumbprint], CA: [thumbprint], Disallowed: [thumbprint] },
#   store_certificates [{ store, thumbprint, der_base64 }] (Root and CA entries only),
#   iphlpsvc null|{ state, start_mode, process_id } (Win32_Service: State "Running"/"Stopped"..., StartMode
#   "Auto"/"Manual"/"Disabled", ProcessId 0 while stopped) }
# store_certificates "chain" returns the full certificates of the Root and CA entries named as subject or
# issuer in the chain; "all" returns every Root and CA entry in full.
# Windows PowerShell 5.1; keep it plain. The controller does the analysis.
$ErrorActionPreference = 'Stop'
$params = (@($input) -join "`n") | ConvertFrom-Json
$timeoutMs = 5000
if ($null -ne $params -and $null -ne $params.connect_timeout_ms) { $timeoutMs = [int]$params.connect_timeout_ms }
$storeMode = 'chain'
if ($null -ne $params -and $params.store_certificates) { $storeMode = [string]$params.store_certificates }
if (@('chain', 'all') -notcontains $storeMode) { throw "store_certificates must be chain or all, not '$storeMode'" }

$result = [ordered]@{
    script = 'client_info'
    version = 2
    computer_name = $env:COMPUTERNAME
    state_source = $null
    iphttps_configuration = $null
    iphttps_state = $null
    da_connection_status = $null
    server_chain = @()
    chain_policy_extra_store = @()
    server_chain_error = $null
    chain_status = @()
    stores = [ordered]@{ Root = @(); CA = @(); Disallowed = @() }
    store_certificates = @()
    iphlpsvc = $null
}

# IP-HTTPS lives in the IP Helper service: stopped or disabled, it cannot connect whatever the stores hold.
try {
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='iphlpsvc'" -ErrorAction Stop
    if ($null -ne $service) {
        $result.iphlpsvc = [ordered]@{ state = [string]$service.State; start_mode = [string]$service.StartMode; process_id = [uint32]$service.ProcessId }
    }
}
catch { $result.iphlpsvc = $null }

function Read-NetshIPHttps {
    # netsh prints its labels and status text in the display language, so only two values are
    # read: the 0x... last error code and a URL value starting with https://.
    # Continue: Windows PowerShell turns a native command's stderr into error records, which Stop
    # would make terminating; a netsh failure only means there is nothing to read.
    $ErrorActionPreference = 'Continue'
    $found = [ordered]@{ server_url = $null; last_error_code = $null }
    $lines = @()
    try { $lines = @(& netsh.exe interface httpstunnel show interfaces) }
    catch { return $found }
    foreach ($line in $lines) {
        $text = [string]$line
        if ($null -eq $found.server_url -and $text -match ':\s*(https://\S+)') { $found.server_url = $Matches[1] }
        elseif ($null -eq $found.last_error_code -and $text -match ':\s*0x([0-9A-Fa-f]{1,8})\s*$') {
            $found.last_error_code = [Convert]::ToUInt32($Matches[1], 16)
        }
    }
    return $found
}

function Get-NumberAndName($value) {
    # MSFT_DAConnectionStatus declares Status and Substatus as uint32; the cmdlet may hand them over
    # as an enum, whose name is worth keeping next to the number.
    $pair = [ordered]@{ number = $null; name = $null }
    if ($null -eq $value) { return $pair }
    if ($value -is [System.Enum]) { $pair.number = [uint32][int64]$value; $pair.name = [string]$value }
    elseif ($value -is [string] -and $value -notmatch '^\d+$') { $pair.name = $value }
    else { $pair.number = [uint32]$value }
    return $pair
}

# The NetworkTransition cmdlets exist from Windows 8 / Server 2012. Where they are missing, calling
# them fails before -ErrorAction applies, and Stop makes that terminating; so look first.
$hasConfigCmdlet = $null -ne (Get-Command -Name Get-NetIPHttpsConfiguration -ErrorAction SilentlyContinue)
$hasStateCmdlet = $null -ne (Get-Command -Name Get-NetIPHttpsState -ErrorAction SilentlyContinue)
if ($hasConfigCmdlet -and $hasStateCmdlet) {
    $result.state_source = 'cmdlet'
    # Nothing comes back on a machine that is not a DirectAccess client.
    $clients = @(Get-NetIPHttpsConfiguration -ErrorAction SilentlyContinue | Where-Object { $_.Type -eq 0 -or [string]$_.Type -eq 'Client' })
    # A client may hold several profiles: the one in use is activated and names a server.
    $config = $clients | Where-Object { $_.ProfileActivated -eq $true -and [string]$_.ServerURL } | Select-Object -First 1
    if ($null -eq $config) { $config = $clients | Select-Object -First 1 }
    if ($null -ne $config) {
        $result.iphttps_configuration = [ordered]@{
            server_url = [string]$config.ServerURL
            state = [string]$config.State
            type = [string]$config.Type
            configuration_type = [string]$config.ConfigurationType
            profile = [string]$config.Profile
            profile_activated = [bool]$config.ProfileActivated
        }
    }
    # No object while IP-HTTPS is not active: a state, not an error.
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
    $netsh = Read-NetshIPHttps
    if ($netsh.server_url) {
        $result.iphttps_configuration = [ordered]@{
            server_url = $netsh.server_url; state = $null; type = $null; configuration_type = $null; profile = $null
            profile_activated = $null
        }
    }
    if ($null -ne $netsh.last_error_code) {
        $result.iphttps_state = [ordered]@{ interface_status = $null; last_error_code = $netsh.last_error_code }
    }
}

if (Get-Command -Name Get-DAConnectionStatus -ErrorAction SilentlyContinue) {
    # With NcaSvc stopped the cmdlet fails; that must not cost the rest of the report.
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

# Capture the chain this client gets for the IP-HTTPS server.
if ($null -ne $result.iphttps_configuration -and $result.iphttps_configuration.server_url) {
    $tcp = $null
    $ssl = $null
    $script:captured = $null
    # Accept any certificate: the callback only records what Windows made of it.
    $callback = [System.Net.Security.RemoteCertificateValidationCallback] {
        param($sender, $certificate, $chain, $policyErrors)
        $script:captured = [ordered]@{
            leaf = [Convert]::ToBase64String($certificate.GetRawCertData())
            # ChainElements is the chain Windows assembled: the server's certificates plus issuers it
            # found in the stores or through AIA. It is not a record of what the server sent.
            elements = @($chain.ChainElements | ForEach-Object { [Convert]::ToBase64String($_.Certificate.RawData) })
            # Whether SslStream on .NET Framework puts the certificates the server sent into ExtraStore
            # is unconfirmed; when it does, this list is what the server sent.
            extra = @($chain.ChainPolicy.ExtraStore | ForEach-Object { [Convert]::ToBase64String($_.RawData) })
            status = @($chain.ChainStatus | ForEach-Object { [ordered]@{ status = [string]$_.Status; information = [string]$_.StatusInformation } })
        }
        return $true
    }
    try {
        $uri = [System.Uri]$result.iphttps_configuration.server_url
        $port = $uri.Port
        if ($port -le 0) { $port = 443 }
        $tcp = New-Object -TypeName System.Net.Sockets.TcpClient
        $pending = $tcp.BeginConnect($uri.DnsSafeHost, $port, $null, $null)
        if (-not $pending.AsyncWaitHandle.WaitOne($timeoutMs)) {
            throw "connection to $($uri.DnsSafeHost):$port timed out after $timeoutMs ms"
        }
        $tcp.EndConnect($pending)
        $tcp.ReceiveTimeout = $timeoutMs
        $tcp.SendTimeout = $timeoutMs
        # powershell.exe on .NET Framework 4.x may offer TLS 1.0 only unless told otherwise. Should a
        # runtime not know these names, the default protocols are better than no handshake.
        $protocols = $null
        try { $protocols = [System.Security.Authentication.SslProtocols]'Tls12, Tls11, Tls' }
        catch { $protocols = $null }
        $ssl = New-Object -TypeName System.Net.Security.SslStream -ArgumentList @($tcp.GetStream(), $false, $callback)
        if ($null -ne $protocols) { $ssl.AuthenticateAsClient($uri.DnsSafeHost, $null, $protocols, $false) }
        else { $ssl.AuthenticateAsClient($uri.DnsSafeHost) }
    }
    catch {
        $result.server_chain_error = $_.Exception.Message
    }
    finally {
        # Here rather than after the handshake: one that fails after the callback ran keeps its chain.
        if ($null -ne $script:captured) {
            $chainList = New-Object -TypeName System.Collections.ArrayList
            [void]$chainList.Add($script:captured.leaf)
            foreach ($element in @($script:captured.elements | Select-Object -Skip 1)) { [void]$chainList.Add($element) }
            $result.server_chain = @($chainList)
            $result.chain_policy_extra_store = @($script:captured.extra)
            $result.chain_status = @($script:captured.status)
        }
        if ($null -ne $ssl) { $ssl.Dispose() }
        if ($null -ne $tcp) { $tcp.Close() }
    }
}

# Store contents: thumbprints of everything; full certificates of the entries the chain names
# (store_certificates chain) or of every entry (store_certificates all).
$chainNames = @{}
foreach ($b64 in @($result.server_chain) + @($result.chain_policy_extra_store)) {
    $c = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [Convert]::FromBase64String($b64))
    $chainNames[$c.Issuer] = $true
    $chainNames[$c.Subject] = $true
}
$fullCertificates = New-Object -TypeName System.Collections.ArrayList
# Disallowed (Untrusted Certificates) overrides Root: a chain through any of its entries fails with
# TRUST_E_EXPLICIT_DISTRUST, so the controller needs its thumbprints, never its certificates.
foreach ($storeName in @('Root', 'CA', 'Disallowed')) {
    $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList $storeName, 'LocalMachine'
    $store.Open('ReadOnly')
    try {
        $thumbs = New-Object -TypeName System.Collections.ArrayList
        foreach ($cert in $store.Certificates) {
            [void]$thumbs.Add($cert.Thumbprint.ToUpperInvariant())
            if ($storeName -ne 'Disallowed' -and ($storeMode -eq 'all' -or $chainNames.ContainsKey($cert.Subject))) {
                [void]$fullCertificates.Add([ordered]@{
                    store = $storeName
                    thumbprint = $cert.Thumbprint.ToUpperInvariant()
                    der_base64 = [Convert]::ToBase64String($cert.RawData)
                })
            }
        }
        $result.stores[$storeName] = @($thumbs)
    }
    finally {
        $store.Close()
    }
}
$result.store_certificates = @($fullCertificates)

$result | ConvertTo-Json -Depth 6 -Compress
