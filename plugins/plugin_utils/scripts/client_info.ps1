# directaccess.iphttps script: client_info v6
# Returns one JSON document describing this client's IP-HTTPS state. Read-only.
# Input (JSON on stdin): { "connect_timeout_ms": int, "store_certificates": "chain"|"all",
#   "revocation": "auto"|"always"|"never" (default auto), "revocation_timeout_ms": int (default 5000) }
# Output: { script, version, computer_name, language_mode ($ExecutionContext.SessionState.LanguageMode),
#   state_source "cmdlet"|"netsh",
#   iphttps_configuration null|{ server_url, state, type, configuration_type, profile, profile_activated,
#     entry_points (every client profile's server URL, each once: several where multisite offers a choice) },
#   iphttps_state null|{ interface_status (null when read from netsh), last_error_code (uint32) },
#   da_connection_status null|{ status, status_name, substatus, substatus_name },
#   winhttp_proxy null (not read)|{ source "winhttp", proxy (the WinHTTP proxy list, null: direct), bypass },
#   server_connection null (no capture tried)|{ via "direct"|"proxy", proxy ("host:port" or null), address (the IP
#     address connected to: the server's, or the proxy's; null when no connection was made) },
#   server_chain (base64 DER: the leaf, then the rest of X509Chain.ChainElements),
#   chain_policy_extra_store (base64 DER: everything the server sent, the leaf included, in no guaranteed order),
#   server_chain_error, chain_status (X509Chain flags, built with revocation off in the WinRM user's context),
#   server_chain_error_hresult (uint32 Schannel status of a failed handshake, or null),
#   policy_errors (the callback's SslPolicyErrors as text, or null when the callback did not run),
#   entry_point_captures [{ server_url, server_connection, server_chain, chain_policy_extra_store,
#     server_chain_error, server_chain_error_hresult, policy_errors, chain_status }] (the other entry points'
#     captures, in entry_points order, at most 7; only when profile_activated is false),
#   stores { Root: [thumbprint], CA: [thumbprint], Disallowed: [thumbprint] },
#   store_certificates [{ store, thumbprint, der_base64 }] (Root and CA entries only),
#   physical_stores { Root: { Default, GroupPolicy, Enterprise, AuthRoot }, CA: { Default, GroupPolicy, Enterprise } }
#     (each a list of the thumbprints that physical store's registry key holds, as its subkey names),
#   iphlpsvc null|{ state, start_mode, process_id } (Win32_Service: State "Running"/"Stopped"..., StartMode
#   "Auto"/"Manual"/"Disabled", ProcessId 0 while stopped),
#   revocation null (not run)|{ proxy (as winhttp_proxy),
#     fetches [{ cert_index (into server_chain), kind "crl"|"ocsp", url, reachable, status (HTTP status or null),
#     size (bytes or null), error (.NET's message, localized, or null), body_base64 (when size <= 262144) }] } }
# The capture connects as IP-HTTPS does: to every address the name resolves to, IPv6 included, in the
# resolver's order, and through the WinHTTP proxy with CONNECT when the proxy list applies to the URL.
# store_certificates "chain" returns the full certificates of the Root and CA entries named as subject or
# issuer in the chains captured (every entry point's); "all" returns every Root and CA entry in full.
# revocation "auto" fetches only when the last error is 0x80092013, 0x80092012 or 0x80092010: every CRL
# distribution point and AIA OCSP URL of every server_chain certificate, each URL once, at most 16, each
# waiting revocation_timeout_ms and all within 30 s; ldap and other non-HTTP URLs are listed, not fetched.
# A CRL is reachable when it came with a 2xx status; an OCSP responder when it answered at all (a GET of the
# responder URL asks about no certificate, so it proves reachability only).
# Constrained Language Mode (WDAC or AppLocker script enforcement, about_Language_Modes) allows cmdlets
# but not New-Object of TcpClient, SslStream, X509Store or WebRequest, nor the delegate cast. There the
# script reads only what cmdlets and netsh give: iphlpsvc through CIM, the IP-HTTPS configuration and
# state, Get-DAConnectionStatus. server_chain, chain_status, stores, winhttp_proxy and revocation stay empty (stores
# null: not read), and the controller reports constrained_language rather than a certificate problem.
# Windows PowerShell 5.1; keep it plain. The controller does the analysis.
$ErrorActionPreference = 'Stop'
# First, before anything the mode forbids. Only FullLanguage runs the .NET parts.
$languageMode = [string]$ExecutionContext.SessionState.LanguageMode
$fullLanguage = $languageMode -eq 'FullLanguage'
# The JSON carries localized texts (status, .NET messages): write it as UTF-8, not in the OEM code
# page, as Ansible's bootstrap_wrapper.ps1 does. Constrained Language Mode refuses [Console]; there
# texts arrive in the console code page.
if ($fullLanguage) {
    try { [Console]::OutputEncoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false }
    catch { $null = $_ }
}
$params = (@($input) -join "`n") | ConvertFrom-Json
$timeoutMs = 5000
if ($null -ne $params -and $null -ne $params.connect_timeout_ms) { $timeoutMs = [int]$params.connect_timeout_ms }
$storeMode = 'chain'
if ($null -ne $params -and $params.store_certificates) { $storeMode = [string]$params.store_certificates }
if (@('chain', 'all') -notcontains $storeMode) { throw "store_certificates must be chain or all, not '$storeMode'" }
$revocationMode = 'auto'
if ($null -ne $params -and $params.revocation) { $revocationMode = [string]$params.revocation }
if (@('auto', 'always', 'never') -notcontains $revocationMode) { throw "revocation must be auto, always or never, not '$revocationMode'" }
$revocationTimeoutMs = 5000
if ($null -ne $params -and $null -ne $params.revocation_timeout_ms) { $revocationTimeoutMs = [int]$params.revocation_timeout_ms }
if ($revocationTimeoutMs -lt 1) { throw "revocation_timeout_ms must be at least 1, not $revocationTimeoutMs" }

$result = [ordered]@{
    script = 'client_info'
    version = 6
    computer_name = $env:COMPUTERNAME
    language_mode = $languageMode
    state_source = $null
    iphttps_configuration = $null
    iphttps_state = $null
    da_connection_status = $null
    winhttp_proxy = $null
    server_connection = $null
    server_chain = @()
    chain_policy_extra_store = @()
    server_chain_error = $null
    server_chain_error_hresult = $null
    policy_errors = $null
    chain_status = @()
    entry_point_captures = @()
    stores = [ordered]@{ Root = @(); CA = @(); Disallowed = @() }
    store_certificates = @()
    physical_stores = $null
    iphlpsvc = $null
    revocation = $null
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
            # In Constrained Language Mode [Convert] may be refused: then the code stays unread.
            try { $found.last_error_code = [Convert]::ToUInt32($Matches[1], 16) }
            catch { $found.last_error_code = $null }
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
    # A client may hold several profiles: the one in use is activated and names a server. With none
    # activated (multisite, before an entry point is chosen) the first is captured and every URL is listed,
    # so the report can say which entry points were not looked at.
    $config = $clients | Where-Object { $_.ProfileActivated -eq $true -and [string]$_.ServerURL } | Select-Object -First 1
    if ($null -eq $config) { $config = $clients | Select-Object -First 1 }
    $entryPoints = @($clients | ForEach-Object { [string]$_.ServerURL } | Where-Object { $_ } | Select-Object -Unique)
    if ($null -ne $config) {
        $result.iphttps_configuration = [ordered]@{
            server_url = [string]$config.ServerURL
            state = [string]$config.State
            type = [string]$config.Type
            configuration_type = [string]$config.ConfigurationType
            profile = [string]$config.Profile
            profile_activated = [bool]$config.ProfileActivated
            entry_points = $entryPoints
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
            profile_activated = $null; entry_points = @($netsh.server_url)
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

function Read-WinHttpProxy {
    # 'netsh winhttp set proxy' keeps the machine proxy in this binary value. Its layout, as Wine's winhttp
    # reads it (WinHttpGetDefaultProxyConfiguration): DWORD, DWORD, DWORD flags (2: named proxy), DWORD
    # length and the ANSI proxy list, DWORD length and the bypass list. Absent or unreadable: direct.
    $settings = [ordered]@{ source = 'winhttp'; proxy = $null; bypass = $null }
    $value = $null
    try {
        $value = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections' -Name WinHttpSettings -ErrorAction Stop).WinHttpSettings
    }
    catch { return $settings }
    $bytes = [byte[]]$value
    if ($bytes.Length -lt 20 -or ([BitConverter]::ToUInt32($bytes, 8) -band 2) -eq 0) { return $settings }
    $proxyLength = [int64][BitConverter]::ToUInt32($bytes, 12)
    $bypassAt = 16 + $proxyLength
    if ($bypassAt + 4 -gt $bytes.Length) { return $settings }
    $bypassLength = [int64][BitConverter]::ToUInt32($bytes, [int]$bypassAt)
    if ($bypassAt + 4 + $bypassLength -gt $bytes.Length) { return $settings }
    if ($proxyLength -gt 0) { $settings.proxy = [System.Text.Encoding]::ASCII.GetString($bytes, 16, [int]$proxyLength) }
    if ($bypassLength -gt 0) { $settings.bypass = [System.Text.Encoding]::ASCII.GetString($bytes, [int]$bypassAt + 4, [int]$bypassLength) }
    return $settings
}

function Get-WebProxyFor([System.Uri]$uri, $settings) {
    # The WebProxy WinHTTP would use for $uri, or $null for a direct connection. The list may name a
    # proxy per scheme ("http=host:port;https=host:port"); '<local>' bypasses names without a dot.
    if (-not $settings.proxy) { return $null }
    foreach ($pattern in ([string]$settings.bypass -split '[;\s]+')) {
        if (-not $pattern) { continue }
        if ($pattern -eq '<local>') { if ($uri.Host -notmatch '\.') { return $null } }
        elseif ($uri.Host -like $pattern -or $uri.Authority -like $pattern) { return $null }
    }
    $chosen = $null
    foreach ($entry in ([string]$settings.proxy -split '[;\s]+')) {
        if (-not $entry) { continue }
        if ($entry -match '^([A-Za-z]+)=(.+)$') {
            if ($Matches[1] -eq $uri.Scheme) { $chosen = $Matches[2]; break }
        }
        elseif ($null -eq $chosen) { $chosen = $entry }
    }
    if (-not $chosen) { return $null }
    if ($chosen -notmatch '://') { $chosen = "http://$chosen" }
    return New-Object -TypeName System.Net.WebProxy -ArgumentList $chosen
}

function Connect-Server([string]$hostName, [int]$port, [int]$waitMs) {
    # TcpClient() works with IPv4 only on .NET Framework ("TcpClient Constructors"), so an AAAA-only
    # name could never be reached: resolve first, then one TcpClient of each address's family, in the
    # resolver's order (Windows sorts by RFC 6724), until one connects. $waitMs bounds all the tries.
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $addresses = @([System.Net.Dns]::GetHostAddresses($hostName))
    $failure = $null
    foreach ($address in $addresses) {
        $left = $waitMs - [int]$clock.ElapsedMilliseconds
        if ($left -le 0) { break }
        $tcp = New-Object -TypeName System.Net.Sockets.TcpClient -ArgumentList $address.AddressFamily
        try {
            $pending = $tcp.BeginConnect($address, $port, $null, $null)
            if (-not $pending.AsyncWaitHandle.WaitOne($left)) { throw "connection to ${hostName}:$port timed out after $waitMs ms" }
            $tcp.EndConnect($pending)
            return [ordered]@{ tcp = $tcp; address = $address.IPAddressToString }
        }
        catch {
            $failure = $_
            $tcp.Close()
        }
    }
    if ($null -ne $failure) { throw $failure }
    throw "connection to ${hostName}:$port timed out after $waitMs ms"
}

function Open-ProxyTunnel($stream, [string]$target, [string]$proxyName) {
    # IP-HTTPS behind an HTTP proxy first asks it for a tunnel with CONNECT ([MS-IPHTTPS] 4, [SSLPROXY]).
    # The answer is read byte by byte up to its blank line, so no byte of the TLS handshake is taken.
    $request = [System.Text.Encoding]::ASCII.GetBytes("CONNECT $target HTTP/1.1`r`nHost: $target`r`n`r`n")
    $stream.Write($request, 0, $request.Length)
    $answer = New-Object -TypeName System.Text.StringBuilder
    while (-not $answer.ToString().EndsWith("`r`n`r`n")) {
        if ($answer.Length -ge 8192) { throw "proxy $proxyName answered CONNECT $target with more than 8192 bytes of headers" }
        $byte = $stream.ReadByte()
        if ($byte -lt 0) { throw "proxy $proxyName closed the connection before it answered CONNECT $target" }
        [void]$answer.Append([char]$byte)
    }
    $status = ($answer.ToString() -split "`r`n")[0]
    if ($status -notmatch '^HTTP/1\.[01] 2\d\d') { throw "proxy $proxyName refused CONNECT ${target}: $status" }
}

function Get-ServerChain([string]$serverUrl, $proxySettings) {
    # One TLS handshake with an IP-HTTPS server, through the WinHTTP proxy when one applies to the URL.
    $capture = [ordered]@{
        server_url = $serverUrl
        server_connection = $null
        server_chain = @()
        chain_policy_extra_store = @()
        server_chain_error = $null
        server_chain_error_hresult = $null
        policy_errors = $null
        chain_status = @()
    }
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
            # SslStream on .NET Framework copies Schannel's remote certificate store into ExtraStore
            # (_SecureChannel.cs): everything the server sent, the leaf too, in no guaranteed order.
            extra = @($chain.ChainPolicy.ExtraStore | ForEach-Object { [Convert]::ToBase64String($_.RawData) })
            status = @($chain.ChainStatus | ForEach-Object { [ordered]@{ status = [string]$_.Status; information = [string]$_.StatusInformation } })
            policy_errors = [string]$policyErrors
        }
        return $true
    }
    try {
        $uri = [System.Uri]$serverUrl
        $port = $uri.Port
        if ($port -le 0) { $port = 443 }
        $proxy = Get-WebProxyFor $uri $proxySettings
        if ($null -ne $proxy) {
            $proxyName = $proxy.Address.Authority
            $capture.server_connection = [ordered]@{ via = 'proxy'; proxy = $proxyName; address = $null }
            $connected = Connect-Server $proxy.Address.DnsSafeHost $proxy.Address.Port $timeoutMs
        }
        else {
            $capture.server_connection = [ordered]@{ via = 'direct'; proxy = $null; address = $null }
            $connected = Connect-Server $uri.DnsSafeHost $port $timeoutMs
        }
        $tcp = $connected.tcp
        $capture.server_connection.address = $connected.address
        $tcp.ReceiveTimeout = $timeoutMs
        $tcp.SendTimeout = $timeoutMs
        if ($null -ne $proxy) { Open-ProxyTunnel $tcp.GetStream() "$($uri.DnsSafeHost):$port" $proxyName }
        # From .NET Framework 4.7 SslProtocols None lets Windows choose, as IP-HTTPS does ("Transport Layer
        # Security (TLS) best practices with the .NET Framework"). Older runtimes may offer TLS 1.0 only
        # unless told otherwise. Release >= 460798 is 4.7 or later ("How to: Determine which .NET
        # Framework versions are installed"). Should a runtime not know these names, the default
        # protocols are better than no handshake.
        $release = 0
        try { $release = [int](Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -Name Release).Release }
        catch { $release = 0 }
        $protocols = $null
        try {
            if ($release -ge 460798) { $protocols = [System.Security.Authentication.SslProtocols]::None }
            else { $protocols = [System.Security.Authentication.SslProtocols]'Tls12, Tls11, Tls' }
        }
        catch { $protocols = $null }
        $ssl = New-Object -TypeName System.Net.Security.SslStream -ArgumentList @($tcp.GetStream(), $false, $callback)
        if ($null -ne $protocols) { $ssl.AuthenticateAsClient($uri.DnsSafeHost, $null, $protocols, $false) }
        else { $ssl.AuthenticateAsClient($uri.DnsSafeHost) }
    }
    catch {
        $capture.server_chain_error = $_.Exception.Message
        # SslStream on .NET Framework throws AuthenticationException with the Schannel status in an
        # inner Win32Exception (_SslState.cs). A SocketException is a Win32Exception too, but says the
        # connection failed, not the handshake: it is left out.
        $inner = $_.Exception
        while ($null -ne $inner) {
            if ($inner -is [System.ComponentModel.Win32Exception] -and $inner -isnot [System.Net.Sockets.SocketException]) {
                $capture.server_chain_error_hresult = [BitConverter]::ToUInt32([BitConverter]::GetBytes([int]$inner.NativeErrorCode), 0)
                break
            }
            $inner = $inner.InnerException
        }
    }
    finally {
        # Here rather than after the handshake: one that fails after the callback ran keeps its chain.
        if ($null -ne $script:captured) {
            $chainList = New-Object -TypeName System.Collections.ArrayList
            [void]$chainList.Add($script:captured.leaf)
            foreach ($element in @($script:captured.elements | Select-Object -Skip 1)) { [void]$chainList.Add($element) }
            $capture.server_chain = @($chainList)
            $capture.chain_policy_extra_store = @($script:captured.extra)
            $capture.chain_status = @($script:captured.status)
            $capture.policy_errors = $script:captured.policy_errors
        }
        if ($null -ne $ssl) { $ssl.Dispose() }
        if ($null -ne $tcp) { $tcp.Close() }
    }
    return $capture
}

# Capture the chain this client gets for the IP-HTTPS server, the way IP-HTTPS reaches it. With no
# profile activated (multisite, before an entry point is chosen) every entry point is captured, at most 8.
if ($fullLanguage) { $result.winhttp_proxy = Read-WinHttpProxy }
if ($fullLanguage -and $null -ne $result.iphttps_configuration -and $result.iphttps_configuration.server_url) {
    $first = Get-ServerChain $result.iphttps_configuration.server_url $result.winhttp_proxy
    # Every field of the capture but its URL, which is iphttps_configuration.server_url already.
    foreach ($key in @($first.Keys)) { if ($key -ne 'server_url') { $result[$key] = $first[$key] } }
    if ($result.iphttps_configuration.profile_activated -eq $false) {
        $others = @($result.iphttps_configuration.entry_points | Where-Object { $_ -ne $result.iphttps_configuration.server_url } | Select-Object -First 7)
        $result.entry_point_captures = @($others | ForEach-Object { Get-ServerChain $_ $result.winhttp_proxy })
    }
}

# Revocation: fetch what CryptoAPI fetches to check this chain, the way it fetches. CryptoAPI downloads
# CRLs through WinHTTP (KB 2623724), so with the machine's WinHTTP proxy, not the user's IE proxy.
function Read-DerElement([byte[]]$der, [int]$offset, [int]$end) {
    # One DER tag-length-value at $offset: @{ tag; start (of the content); end }, or $null when it does
    # not fit before $end. One-byte tags; short lengths, or long ones of up to 3 length bytes.
    if ($offset + 2 -gt $end) { return $null }
    $tag = [int]$der[$offset]
    $length = [int]$der[$offset + 1]
    $start = $offset + 2
    if (($tag -band 0x1F) -eq 0x1F -or $length -eq 0x80) { return $null }
    if ($length -gt 0x80) {
        $count = $length - 0x80
        if ($count -gt 3 -or $start + $count -gt $end) { return $null }
        $length = 0
        for ($i = 0; $i -lt $count; $i++) { $length = $length * 256 + [int]$der[$start + $i] }
        $start += $count
    }
    if ($start + $length -gt $end) { return $null }
    return @{ tag = $tag; start = $start; end = $start + $length }
}

function Get-DerChildren([byte[]]$der, $parent) {
    # The elements inside a constructed element, up to the first one that is malformed.
    $children = New-Object -TypeName System.Collections.ArrayList
    $offset = $parent.start
    while ($offset -lt $parent.end) {
        $element = Read-DerElement $der $offset $parent.end
        if ($null -eq $element) { break }
        [void]$children.Add($element)
        $offset = $element.end
    }
    return ,$children
}

function Get-RevocationUrls($certificate) {
    # @{ kind; url }: the URIs of the CRL distribution points (2.5.29.31), then the OCSP responders of
    # the AIA extension (1.3.6.1.5.5.7.1.1, method 1.3.6.1.5.5.7.48.1). Read from the DER, never from
    # Format(), whose text is localized. A URI is a GeneralName [6] IA5String, tagged implicitly: 0x86.
    $crl = New-Object -TypeName System.Collections.ArrayList
    $ocsp = New-Object -TypeName System.Collections.ArrayList
    foreach ($extension in $certificate.Extensions) {
        $der = [byte[]]$extension.RawData
        $top = Read-DerElement $der 0 $der.Length
        if ($null -eq $top -or $top.tag -ne 0x30) { continue }
        if ($extension.Oid.Value -eq '2.5.29.31') {
            # SEQUENCE OF DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } ... }
            foreach ($point in (Get-DerChildren $der $top)) {
                if ($point.tag -ne 0x30) { continue }
                foreach ($field in (Get-DerChildren $der $point)) {
                    if ($field.tag -ne 0xA0) { continue }
                    foreach ($pointName in (Get-DerChildren $der $field)) {
                        if ($pointName.tag -ne 0xA0) { continue }
                        foreach ($name in (Get-DerChildren $der $pointName)) {
                            if ($name.tag -eq 0x86) {
                                [void]$crl.Add(@{ kind = 'crl'; url = [System.Text.Encoding]::ASCII.GetString($der, $name.start, $name.end - $name.start) })
                            }
                        }
                    }
                }
            }
        }
        elseif ($extension.Oid.Value -eq '1.3.6.1.5.5.7.1.1') {
            # SEQUENCE OF AccessDescription { accessMethod OBJECT IDENTIFIER, accessLocation GeneralName }
            foreach ($access in (Get-DerChildren $der $top)) {
                if ($access.tag -ne 0x30) { continue }
                $parts = Get-DerChildren $der $access
                if ($parts.Count -lt 2 -or $parts[0].tag -ne 0x06 -or $parts[1].tag -ne 0x86) { continue }
                $method = [BitConverter]::ToString($der, $parts[0].start, $parts[0].end - $parts[0].start)
                if ($method -eq '2B-06-01-05-05-07-30-01') {
                    [void]$ocsp.Add(@{ kind = 'ocsp'; url = [System.Text.Encoding]::ASCII.GetString($der, $parts[1].start, $parts[1].end - $parts[1].start) })
                }
            }
        }
    }
    return @($crl) + @($ocsp)
}

function New-FetchOutcome([string]$failure) {
    return [ordered]@{ reachable = $false; status = $null; size = $null; error = $failure; body_base64 = $null }
}

function Get-WebFailure($exception) {
    # PowerShell wraps what a .NET method throws; the WebException inside carries the answer, if any.
    while ($exception -isnot [System.Net.WebException] -and $null -ne $exception.InnerException) { $exception = $exception.InnerException }
    return $exception
}

function Invoke-RevocationFetch([string]$url, [string]$kind, $settings, [int]$waitMs, $clock, [int]$deadlineMs) {
    $outcome = New-FetchOutcome $null
    $response = $null
    try {
        $uri = [System.Uri]$url
        $request = [System.Net.WebRequest]::Create($uri)
        # Always set: left alone it would be the user's IE proxy, which CryptoAPI does not use.
        $request.Proxy = Get-WebProxyFor $uri $settings
        $request.Timeout = $waitMs
        $request.ReadWriteTimeout = $waitMs
        # The User-Agent CryptoAPI sends, so a proxy rule written for it applies here too.
        $request.UserAgent = 'Microsoft-CryptoAPI/6.0'
        $response = $request.GetResponse()
    }
    catch {
        # A 4xx or 5xx answer arrives as a WebException that still holds the response.
        $failure = Get-WebFailure $_.Exception
        $outcome.error = $failure.Message
        if ($failure -is [System.Net.WebException]) { $response = $failure.Response }
    }
    if ($null -eq $response) { return $outcome }
    try {
        $outcome.status = [int]$response.StatusCode
        $outcome.reachable = $kind -eq 'ocsp'
        if ($outcome.status -ge 200 -and $outcome.status -lt 300) {
            $stream = $response.GetResponseStream()
            $kept = New-Object -TypeName System.IO.MemoryStream
            $buffer = New-Object -TypeName byte[] -ArgumentList 65536
            $size = 0
            $read = $stream.Read($buffer, 0, $buffer.Length)
            while ($read -gt 0) {
                $size += $read
                if ($size -le 262144) { $kept.Write($buffer, 0, $read) }
                if ($clock.ElapsedMilliseconds -ge $deadlineMs) { throw "not read to the end: all fetches together may take $deadlineMs ms" }
                $read = $stream.Read($buffer, 0, $buffer.Length)
            }
            $outcome.size = $size
            $outcome.reachable = $true
            if ($size -le 262144) { $outcome.body_base64 = [Convert]::ToBase64String($kept.ToArray()) }
        }
    }
    catch {
        $outcome.error = (Get-WebFailure $_.Exception).Message
        $outcome.reachable = $kind -eq 'ocsp'
        $outcome.size = $null
    }
    finally {
        $response.Close()
    }
    return $outcome
}

$revocationErrors = @(2148081683, 2148081682, 2148081680)  # 0x80092013, 0x80092012, 0x80092010
$lastError = $null
if ($null -ne $result.iphttps_state) { $lastError = $result.iphttps_state.last_error_code }
if ($fullLanguage -and ($revocationMode -eq 'always' -or ($revocationMode -eq 'auto' -and $null -ne $lastError -and $revocationErrors -contains $lastError))) {
    $settings = $result.winhttp_proxy
    $fetches = New-Object -TypeName System.Collections.ArrayList
    $fetched = @{}
    $deadlineMs = 30000
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $chain = @($result.server_chain)
    for ($index = 0; $index -lt $chain.Count; $index++) {
        $certificate = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [Convert]::FromBase64String($chain[$index]))
        foreach ($found in (Get-RevocationUrls $certificate)) {
            if ($fetches.Count -ge 16) { break }
            $scheme = ([string]$found.url -split ':', 2)[0].ToLowerInvariant()
            if ($fetched.ContainsKey($found.url)) { $outcome = $fetched[$found.url] }
            elseif (@('http', 'https') -notcontains $scheme) { $outcome = New-FetchOutcome "$scheme not fetched" }
            elseif ($clock.ElapsedMilliseconds -ge $deadlineMs) {
                $outcome = New-FetchOutcome "not fetched: all fetches together may take $deadlineMs ms, and that time had passed"
            }
            else {
                $waitMs = [int][Math]::Min($revocationTimeoutMs, $deadlineMs - $clock.ElapsedMilliseconds)
                $outcome = Invoke-RevocationFetch $found.url $found.kind $settings $waitMs $clock $deadlineMs
                $fetched[$found.url] = $outcome
            }
            $entry = [ordered]@{ cert_index = $index; kind = $found.kind; url = $found.url }
            foreach ($key in @('reachable', 'status', 'size', 'error', 'body_base64')) { $entry[$key] = $outcome[$key] }
            [void]$fetches.Add($entry)
        }
    }
    $result.revocation = [ordered]@{ proxy = $settings; fetches = @($fetches) }
}

# Where each Root and CA certificate physically lives. The logical stores merge physical ones ("System Store
# Locations"): .Default (the machine's own, where an import lands), .GroupPolicy (rewritten from policy at every
# refresh), .Enterprise (from Active Directory) and, for Root, .AuthRoot. Each is a registry key whose subkeys are
# the thumbprints. Get-ChildItem is a cmdlet, so this works in Constrained Language Mode too.
$physicalKeys = [ordered]@{
    Root = [ordered]@{
        Default = 'HKLM:\SOFTWARE\Microsoft\SystemCertificates\Root\Certificates'
        GroupPolicy = 'HKLM:\SOFTWARE\Policies\Microsoft\SystemCertificates\Root\Certificates'
        Enterprise = 'HKLM:\SOFTWARE\Microsoft\EnterpriseCertificates\Root\Certificates'
        AuthRoot = 'HKLM:\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates'
    }
    CA = [ordered]@{
        Default = 'HKLM:\SOFTWARE\Microsoft\SystemCertificates\CA\Certificates'
        GroupPolicy = 'HKLM:\SOFTWARE\Policies\Microsoft\SystemCertificates\CA\Certificates'
        Enterprise = 'HKLM:\SOFTWARE\Microsoft\EnterpriseCertificates\CA\Certificates'
    }
}
$result.physical_stores = [ordered]@{}
foreach ($storeName in @('Root', 'CA')) {
    $held = [ordered]@{}
    foreach ($physical in @($physicalKeys[$storeName].Keys)) {
        # A missing key is an empty physical store, not an error.
        $held[$physical] = @(Get-ChildItem -Path $physicalKeys[$storeName][$physical] -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.PSChildName })
    }
    $result.physical_stores[$storeName] = $held
}

# Store contents: thumbprints of everything; full certificates of the entries the chain names
# (store_certificates chain) or of every entry (store_certificates all). X509Store needs FullLanguage.
if (-not $fullLanguage) {
    $result.stores = $null
    $result | ConvertTo-Json -Depth 6 -Compress
    return
}
$chainNames = @{}
$captured = @($result.server_chain) + @($result.chain_policy_extra_store)
foreach ($other in @($result.entry_point_captures)) { $captured += @($other.server_chain) + @($other.chain_policy_extra_store) }
foreach ($b64 in $captured) {
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
