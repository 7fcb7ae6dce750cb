# directaccess.iphttps script: gpo_certificates v2
# Reads (and, when asked, changes) the CA certificates a GPO deploys through Public Key Policies, on a
# domain-joined management host with the GroupPolicy module (RSAT or GPMC).
# Input (JSON on stdin): { "gpo_name": str|null, "gpo_guid": str|null, "domain": str|null, "server": str|null,
#   "remote_access_server": str|null, "write": [{ "store": "Root"|"CA", "thumbprint": str, "blob_base64": str }],
#   "remove": [{ "store": "Root"|"CA", "thumbprint": str }], "enterprise": bool (read AD's enterprise stores),
#   "publish": [{ "container": "RootCA"|"SubCA", "thumbprint": str, "der_base64": str }] (certutil -dspublish) }
#   With neither gpo_name nor gpo_guid, the GPO is the DirectAccess client GPO: the first GpoName Get-DAClient
#   reports (run on the Remote Access server, or with -ComputerName remote_access_server), else the GPO named
#   'DirectAccess Client Settings', the name the Remote Access setup wizard gives it by default.
# Output: { script, version, error null|{ kind "no_grouppolicy_module"|"gpo_not_found"|"error", message },
#   gpo null|{ name, guid, domain, status (GpoStatus), modified (ModificationTime, ISO 8601), found_by
#   "guid"|"name"|"Get-DAClient"|"default_name" }, da_client null|{ gpo_names [str], security_groups [str] },
#   da_client_note null|str, links [{ som_path, som_name, enabled bool, enforced bool }],
#   apply_trustees [{ name, type, denied bool }] (security filtering: trustees with the GpoApply permission),
#   certificates [{ store, thumbprint, blob_base64 null|str }] (read after the writes),
#   written [{ store, thumbprint }], removed [{ store, thumbprint }], failed null|{ store, thumbprint, message },
#   enterprise null (not asked)|{ configuration_nc, RootCA [{ thumbprint, der_base64 }], SubCA [...] } (read after the
#   publishing: the cACertificate values of the objects under CN=Certification Authorities (RootCA) and CN=AIA
#   (SubCA) in CN=Public Key Services,CN=Services of the configuration naming context),
#   published [{ container, thumbprint }], publish_failed null|{ container, thumbprint, message } }
# Every certificate is HKLM\Software\Policies\Microsoft\SystemCertificates\<store>\Certificates\<thumbprint>,
# value Blob (REG_BINARY, a serialized certificate store element the controller builds and reads).
# Writes stop at the first failure, and so does publishing; the controller decides what to write and publish.
# Publishing runs only after every GPO write succeeded. Windows PowerShell 5.1; keep it plain.
$ErrorActionPreference = 'Stop'
$params = (@($input) -join "`n") | ConvertFrom-Json

$result = [ordered]@{
    script = 'gpo_certificates'
    version = 2
    error = $null
    gpo = $null
    da_client = $null
    da_client_note = $null
    links = @()
    apply_trustees = @()
    certificates = @()
    written = @()
    removed = @()
    failed = $null
    enterprise = $null
    published = @()
    publish_failed = $null
}
$CertificatesKey = 'HKLM\Software\Policies\Microsoft\SystemCertificates\{0}\Certificates'

function Get-Target {
    # Domain and Server only when given: the cmdlets default to the session user's domain and its PDC emulator.
    $target = @{}
    if ($params.domain) { $target.Domain = [string]$params.domain }
    if ($params.server) { $target.Server = [string]$params.server }
    return $target
}

function Find-Gpo {
    $target = Get-Target
    if ($params.gpo_guid) { return @{ gpo = (Get-GPO -Guid ([guid][string]$params.gpo_guid) @target); found_by = 'guid' } }
    if ($params.gpo_name) { return @{ gpo = (Get-GPO -Name ([string]$params.gpo_name) @target); found_by = 'name' } }
    if (Get-Command -Name Get-DAClient -ErrorAction SilentlyContinue) {
        try {
            $daArgs = @{}
            if ($params.remote_access_server) { $daArgs.ComputerName = [string]$params.remote_access_server }
            $client = Get-DAClient @daArgs
            # GpoName and SecurityGroupNameList read 'domain\name' (Get-DAClient's example output).
            $result.da_client = [ordered]@{ gpo_names = @($client.GpoName | ForEach-Object { [string]$_ }); security_groups = @($client.SecurityGroupNameList | ForEach-Object { [string]$_ }) }
            $first = @($result.da_client.gpo_names)[0]
            if ($first) {
                $name = $first.Substring($first.IndexOf('\') + 1)
                return @{ gpo = (Get-GPO -Name $name @target); found_by = 'Get-DAClient' }
            }
            $result.da_client_note = 'Get-DAClient named no client GPO'
        }
        catch { $result.da_client_note = "Get-DAClient failed: $($_.Exception.Message)" }
    }
    else { $result.da_client_note = 'no Get-DAClient cmdlet (RemoteAccess module) on this host' }
    return @{ gpo = (Get-GPO -Name 'DirectAccess Client Settings' @target); found_by = 'default_name' }
}

function Read-Certificates([guid]$Guid) {
    $target = Get-Target
    $found = @()
    foreach ($store in @('Root', 'CA')) {
        $key = $CertificatesKey -f $store
        $subkeys = @()
        # A key with no policy setting under it is an error, not an empty answer (assumed; docs/gpo.md).
        try { $subkeys = @(Get-GPRegistryValue -Guid $Guid -Key $key @target) }
        catch { if ([string]$_.FullyQualifiedErrorId -notlike 'UnableToRetrievePolicyRegistryItem*') { throw } }
        foreach ($entry in $subkeys) {
            # Asked for a key alone, the cmdlet also returns its first-level subkeys: one per certificate.
            $path = [string]$entry.FullKeyPath
            if ($entry.HasValue -or -not $path) { continue }
            $thumbprint = $path.Substring($path.LastIndexOf('\') + 1)
            $blob = $null
            try {
                $setting = Get-GPRegistryValue -Guid $Guid -Key ($key + '\' + $thumbprint) -ValueName 'Blob' @target
                if ($setting.Value -is [byte[]]) { $blob = [Convert]::ToBase64String([byte[]]$setting.Value) }
            }
            catch { if ([string]$_.FullyQualifiedErrorId -notlike 'UnableToRetrievePolicyRegistryItem*') { throw } }
            $found += [ordered]@{ store = $store; thumbprint = $thumbprint; blob_base64 = $blob }
        }
    }
    return $found
}

function Read-Enterprise {
    # The containers certutil -dspublish writes: RootCA under CN=Certification Authorities, SubCA under CN=AIA, each
    # CA an object whose cACertificate values are DER certificates. With server, that domain controller is asked.
    $prefix = 'LDAP://'
    if ($params.server) { $prefix = 'LDAP://' + [string]$params.server + '/' }
    $rootDse = [adsi]($prefix + 'RootDSE')
    $configuration = [string]$rootDse.Properties['configurationNamingContext'].Value
    $found = [ordered]@{ configuration_nc = $configuration; RootCA = @(); SubCA = @() }
    $containers = [ordered]@{ RootCA = 'CN=Certification Authorities'; SubCA = 'CN=AIA' }
    foreach ($name in @($containers.Keys)) {
        $container = [adsi]($prefix + $containers[$name] + ',CN=Public Key Services,CN=Services,' + $configuration)
        foreach ($child in $container.Children) {
            foreach ($value in @($child.Properties['cACertificate'])) {
                if ($value -isnot [byte[]]) { continue }
                try { $cert = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList (, [byte[]]$value) }
                catch { throw "$([string]$child.Path): a cACertificate value is not a certificate: $($_.Exception.Message)" }
                $found[$name] += [ordered]@{ thumbprint = $cert.Thumbprint.ToUpperInvariant(); der_base64 = [Convert]::ToBase64String([byte[]]$value) }
            }
        }
    }
    return $found
}

function Publish-Certificate($Item) {
    # certutil -dspublish -f <file> RootCA|SubCA, from a temporary file it removes again.
    $file = [System.IO.Path]::GetTempFileName()
    try {
        [System.IO.File]::WriteAllBytes($file, [Convert]::FromBase64String([string]$Item.der_base64))
        $ErrorActionPreference = 'Continue'
        $output = @(& certutil.exe -dspublish -f $file ([string]$Item.container) 2>&1)
        if ($LASTEXITCODE -ne 0) { throw "certutil -dspublish exited with $LASTEXITCODE`: $(($output | ForEach-Object { [string]$_ }) -join ' ')" }
    }
    finally { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue }
}

if (-not (Get-Command -Name Get-GPO -ErrorAction SilentlyContinue)) {
    $result.error = [ordered]@{ kind = 'no_grouppolicy_module'; message = 'the GroupPolicy module is not installed on this host: install RSAT Group Policy Management Tools (GPMC)' }
    $result | ConvertTo-Json -Depth 6 -Compress
    return
}

try { $located = Find-Gpo }
catch {
    $result.error = [ordered]@{ kind = 'gpo_not_found'; message = [string]$_.Exception.Message }
    $result | ConvertTo-Json -Depth 6 -Compress
    return
}

try {
    $gpo = $located.gpo
    $guid = [guid]$gpo.Id
    $target = Get-Target
    $result.gpo = [ordered]@{
        name = [string]$gpo.DisplayName; guid = $guid.ToString(); domain = [string]$gpo.DomainName
        status = [string]$gpo.GpoStatus; modified = ([datetime]$gpo.ModificationTime).ToUniversalTime().ToString('o'); found_by = $located.found_by
    }
    # Links: the XML report lists them as LinksTo elements (SOMName, SOMPath, Enabled, NoOverride).
    [xml]$report = Get-GPOReport -Guid $guid -ReportType Xml @target
    foreach ($link in @($report.GPO.LinksTo)) {
        if ($null -eq $link) { continue }
        $result.links += [ordered]@{ som_path = [string]$link.SOMPath; som_name = [string]$link.SOMName; enabled = ([string]$link.Enabled -eq 'true'); enforced = ([string]$link.NoOverride -eq 'true') }
    }
    $permissionArgs = @{}
    if ($params.domain) { $permissionArgs.DomainName = [string]$params.domain }
    if ($params.server) { $permissionArgs.Server = [string]$params.server }
    foreach ($permission in @(Get-GPPermission -Guid $guid -All @permissionArgs)) {
        if ([string]$permission.Permission -ne 'GpoApply') { continue }
        $trustee = $permission.Trustee
        $name = [string]$trustee.Name
        if ($trustee.Domain) { $name = [string]$trustee.Domain + '\' + $name }
        $result.apply_trustees += [ordered]@{ name = $name; type = [string]$trustee.SidType; denied = [bool]$permission.Denied }
    }

    foreach ($item in @($params.write)) {
        if ($null -eq $item) { continue }
        try {
            $value = [Convert]::FromBase64String([string]$item.blob_base64)
            $null = Set-GPRegistryValue -Guid $guid -Key (($CertificatesKey -f $item.store) + '\' + $item.thumbprint) -ValueName 'Blob' -Type Binary -Value $value @target
            $result.written += [ordered]@{ store = [string]$item.store; thumbprint = [string]$item.thumbprint }
        }
        catch { $result.failed = [ordered]@{ store = [string]$item.store; thumbprint = [string]$item.thumbprint; message = [string]$_.Exception.Message }; break }
    }
    if ($null -eq $result.failed) {
        foreach ($item in @($params.remove)) {
            if ($null -eq $item) { continue }
            try {
                # The key alone: every value of that certificate's key goes, and with them the key.
                $null = Remove-GPRegistryValue -Guid $guid -Key (($CertificatesKey -f $item.store) + '\' + $item.thumbprint) @target
                $result.removed += [ordered]@{ store = [string]$item.store; thumbprint = [string]$item.thumbprint }
            }
            catch { $result.failed = [ordered]@{ store = [string]$item.store; thumbprint = [string]$item.thumbprint; message = [string]$_.Exception.Message }; break }
        }
    }
    $result.certificates = @(Read-Certificates $guid)
    if ($null -eq $result.failed) {
        foreach ($item in @($params.publish)) {
            if ($null -eq $item) { continue }
            try {
                if (@('RootCA', 'SubCA') -notcontains [string]$item.container) { throw "container must be RootCA or SubCA, not '$($item.container)'" }
                Publish-Certificate $item
                $result.published += [ordered]@{ container = [string]$item.container; thumbprint = [string]$item.thumbprint }
            }
            catch { $result.publish_failed = [ordered]@{ container = [string]$item.container; thumbprint = [string]$item.thumbprint; message = [string]$_.Exception.Message }; break }
        }
    }
    if ($params.enterprise) { $result.enterprise = Read-Enterprise }
}
catch {
    $result.error = [ordered]@{ kind = 'error'; message = [string]$_.Exception.Message }
}

$result | ConvertTo-Json -Depth 6 -Compress
