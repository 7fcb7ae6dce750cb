# directaccess.iphttps script: client_info v1
# Returns one JSON document describing this client's IP-HTTPS state. Read-only.
# Input (JSON on stdin): { "connect_timeout_ms": int }
# Output: { script, version, computer_name, iphttps_configuration, iphttps_state, da_connection_status,
#           server_chain (base64 DER, leaf first), server_chain_error, chain_status (X509Chain flags),
#           stores { Root: [thumbprint], CA: [thumbprint] }, store_certificates [{ store, thumbprint, der_base64 }] }
# Windows PowerShell 5.1; keep it plain. The controller does the analysis.
$ErrorActionPreference = 'Stop'
$params = (@($input) -join "`n") | ConvertFrom-Json
$timeoutMs = 5000
if ($null -ne $params -and $null -ne $params.connect_timeout_ms) { $timeoutMs = [int]$params.connect_timeout_ms }

$result = [ordered]@{
    script = 'client_info'
    version = 1
    computer_name = $env:COMPUTERNAME
    iphttps_configuration = $null
    iphttps_state = $null
    da_connection_status = $null
    server_chain = @()
    server_chain_error = $null
    chain_status = @()
    stores = [ordered]@{ Root = @(); CA = @() }
    store_certificates = @()
}

# Get-NetIPHttpsConfiguration returns nothing on a machine that is not a DirectAccess client.
$config = Get-NetIPHttpsConfiguration -ErrorAction SilentlyContinue | Where-Object { $_.Type -eq 0 -or $_.Type -eq 'Client' } | Select-Object -First 1
if ($null -ne $config) {
    $result.iphttps_configuration = [ordered]@{
        server_url = [string]$config.ServerURL
        state = [string]$config.State
        type = [string]$config.Type
        configuration_type = [string]$config.ConfigurationType
        profile = [string]$config.Profile
    }
}

# Get-NetIPHttpsState returns no object when IP-HTTPS is not active: a state, not an error.
$state = Get-NetIPHttpsState -ErrorAction SilentlyContinue | Select-Object -First 1
if ($null -ne $state) {
    $result.iphttps_state = [ordered]@{
        interface_status = [string]$state.InterfaceStatus
        last_error_code = [uint32]$state.LastErrorCode
    }
}

if (Get-Command -Name Get-DAConnectionStatus -ErrorAction SilentlyContinue) {
    $da = Get-DAConnectionStatus -ErrorAction SilentlyContinue
    if ($null -ne $da) {
        $result.da_connection_status = [ordered]@{ status = [string]$da.Status; substatus = [string]$da.Substatus }
    }
}

# Capture the chain this client receives from the IP-HTTPS server.
if ($null -ne $result.iphttps_configuration -and $result.iphttps_configuration.server_url) {
    $tcp = $null
    $ssl = $null
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
        $script:captured = $null
        # Accept any certificate: we only record what the server sends and what Windows thinks of it.
        $callback = [System.Net.Security.RemoteCertificateValidationCallback] {
            param($sender, $certificate, $chain, $policyErrors)
            $script:captured = [ordered]@{
                leaf = [Convert]::ToBase64String($certificate.GetRawCertData())
                elements = @($chain.ChainElements | ForEach-Object { [Convert]::ToBase64String($_.Certificate.RawData) })
                status = @($chain.ChainStatus | ForEach-Object { [ordered]@{ status = [string]$_.Status; information = [string]$_.StatusInformation } })
            }
            return $true
        }
        $stream = $tcp.GetStream()
        $ssl = New-Object -TypeName System.Net.Security.SslStream -ArgumentList @($stream, $false, $callback)
        $ssl.AuthenticateAsClient($uri.DnsSafeHost)
        if ($null -ne $script:captured) {
            $chainList = New-Object -TypeName System.Collections.ArrayList
            [void]$chainList.Add($script:captured.leaf)
            foreach ($element in @($script:captured.elements | Select-Object -Skip 1)) { [void]$chainList.Add($element) }
            $result.server_chain = @($chainList)
            $result.chain_status = @($script:captured.status)
        }
    }
    catch {
        $result.server_chain_error = $_.Exception.Message
    }
    finally {
        if ($null -ne $ssl) { $ssl.Dispose() }
        if ($null -ne $tcp) { $tcp.Close() }
    }
}

# Store contents: thumbprints of everything, full certificates of the entries the chain refers to.
$chainIssuers = @{}
foreach ($b64 in @($result.server_chain)) {
    $c = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [Convert]::FromBase64String($b64))
    $chainIssuers[$c.Issuer] = $true
    $chainIssuers[$c.Subject] = $true
}
foreach ($storeName in @('Root', 'CA')) {
    $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList $storeName, 'LocalMachine'
    $store.Open('ReadOnly')
    try {
        $thumbs = New-Object -TypeName System.Collections.ArrayList
        foreach ($cert in $store.Certificates) {
            [void]$thumbs.Add($cert.Thumbprint.ToUpperInvariant())
            if ($chainIssuers.ContainsKey($cert.Subject)) {
                $result.store_certificates += [ordered]@{
                    store = $storeName
                    thumbprint = $cert.Thumbprint.ToUpperInvariant()
                    der_base64 = [Convert]::ToBase64String($cert.RawData)
                }
            }
        }
        $result.stores[$storeName] = @($thumbs)
    }
    finally {
        $store.Close()
    }
}

$result | ConvertTo-Json -Depth 6 -Compress
