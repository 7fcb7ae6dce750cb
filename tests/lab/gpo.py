# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's domain: a management host that answers gpo_certificates.ps1 against a persisted GPO store.

Test infrastructure only; the collection never imports anything from here, and this module does
not import the collection. The contract it carries out is the header comment of
``plugins/plugin_utils/scripts/gpo_certificates.ps1``; each GroupPolicy or RemoteAccess cmdlet
behaviour it imitates carries a ``# lab-behaviour:`` marker and a row in docs/lab.md.

A domain file (``tests/lab/domains/*.yml``, given to ``python -m tests.lab up --domain FILE``)
describes the GPOs once: name, GUID, status, links to OUs, the trustees that hold GpoApply, and
what Get-DAClient reports. On the first start it is copied to ``<lab>/state/domain.json``; from
then on that file is the GPO store: registry-based policy values the script writes stay across
``down`` and ``up``, as a real GPO's do. ``rm -rf .lab`` starts over.

The store, per GPO: ``registry`` maps a key path (``HKLM\\Software\\...``, compared without
regard to case) to its values, each ``{"type": "Binary", "base64": ...}``. Beside the GPOs, ``enterprise``
is Active Directory's enterprise stores, what ``certutil -dspublish`` writes: ``{"RootCA": {thumbprint:
base64 DER}, "SubCA": {...}}``, the CN=Certification Authorities and CN=AIA containers of the
configuration naming context. A domain file may set ``publish_denied: true``: the account may not write them.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import struct
import threading
import typing as t
import uuid
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .client_state import ClientState, list_clients
from .handlers import IDENTITY_RE, clixml_error, powershell_json
from .wsman import CommandRequest, CommandResult

SCRIPT = ("gpo_certificates", 2)
STORE_FILE = "domain.json"
CERTIFICATES_KEY = "HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\{store}\\Certificates"
DEFAULT_CLIENT_GPO = "DirectAccess Client Settings"
# certutil -dspublish's types and the containers under CN=Public Key Services,CN=Services they write.
CONTAINERS = {"RootCA": "CN=Certification Authorities", "SubCA": "CN=AIA"}
_GPO_STATUSES = ("AllSettingsEnabled", "UserSettingsDisabled", "ComputerSettingsDisabled", "AllSettingsDisabled")


class DomainError(ValueError):
    """A domain file is wrong; the message names the file and the field."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def load_domain(path: str | os.PathLike) -> dict:
    """Read and check a domain file; returns the store's initial document."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DomainError(f"{path}: cannot read the domain file: {exc}") from None

    def fail(field: str, reason: str):
        raise DomainError(f"{path}: {field}: {reason}")

    if not isinstance(document, dict):
        fail("(top level)", "must be a mapping")
    unknown = set(document) - {"description", "domain", "management_host", "grouppolicy_module", "da_client", "gpos",
                               "clients", "publish_denied"}
    if unknown:
        fail("(top level)", f"unknown keys {', '.join(sorted(map(str, unknown)))}")
    domain = document.get("domain")
    if not isinstance(domain, str) or not domain:
        fail("domain", "must be the domain's DNS name")
    gpos = []
    for index, gpo in enumerate(document.get("gpos") or []):
        field = f"gpos[{index}]"
        if not isinstance(gpo, dict) or not isinstance(gpo.get("name"), str):
            fail(field, "must be a mapping with a name")
        try:
            guid = str(uuid.UUID(str(gpo.get("guid"))))
        except ValueError:
            fail(f"{field}.guid", f"not a GUID: {gpo.get('guid')!r}")
        status = gpo.get("status", "AllSettingsEnabled")
        if status not in _GPO_STATUSES:
            fail(f"{field}.status", f"one of {', '.join(_GPO_STATUSES)}")
        links = []
        for link in gpo.get("links") or []:
            if isinstance(link, str):
                link = {"som_path": link}
            if not isinstance(link, dict) or not isinstance(link.get("som_path"), str):
                fail(f"{field}.links", "each link is an OU path or {som_path, enabled, enforced}")
            links.append({"som_path": link["som_path"], "som_name": link["som_path"].rsplit("/", 1)[-1],
                          "enabled": bool(link.get("enabled", True)), "enforced": bool(link.get("enforced", False))})
        apply = [{"name": str(name), "type": "WellKnownGroup" if str(name).startswith("NT AUTHORITY\\") else "Group",
                  "denied": False} for name in gpo.get("apply") or []]
        gpos.append({"name": gpo["name"], "guid": guid, "status": status, "modified": _now(), "links": links,
                     "apply": apply, "registry": {}})
    da_client = document.get("da_client")
    if da_client is not None and (not isinstance(da_client, dict) or not isinstance(da_client.get("gpo_names"), list)):
        fail("da_client", "a mapping with gpo_names and security_groups, or absent (no Get-DAClient on the host)")
    # Where the lab's DirectAccess clients sit: the OU their computer accounts are in, and their groups.
    clients = document.get("clients") or {}
    if not isinstance(clients, dict) or not isinstance(clients.get("ou", ""), str) \
            or not isinstance(clients.get("groups", []), list):
        fail("clients", "a mapping with ou (an OU path) and groups (a list of group names)")
    clients = {"ou": clients.get("ou") or f"{domain}/DirectAccess Clients",
               "groups": [str(name) for name in clients.get("groups") or (da_client or {}).get("security_groups") or []]}
    return {"domain": domain, "management_host": str(document.get("management_host") or "gpo-mgmt-01"),
            "grouppolicy_module": bool(document.get("grouppolicy_module", True)), "da_client": da_client, "gpos": gpos,
            "clients": clients, "enterprise": {container: {} for container in CONTAINERS},
            "publish_denied": bool(document.get("publish_denied", False))}


class DomainStore:
    """The persisted GPO store, read and written whole under a lock (one management host)."""

    def __init__(self, state_dir: str | os.PathLike, initial: dict | None = None):
        self.path = Path(state_dir) / STORE_FILE
        self._lock = threading.Lock()
        if not self.path.exists():
            if initial is None:
                raise DomainError(f"{self.path}: no GPO store and no domain file to make one from")
            self.save(initial)

    def load(self) -> dict:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, document: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)

    def update(self, change: t.Callable[[dict], t.Any]) -> t.Any:
        with self._lock:
            document = self.load()
            outcome = change(document)
            self.save(document)
            return outcome


class _CmdletError(Exception):
    """An error a cmdlet raises; ``error_id`` is its FullyQualifiedErrorId's first part."""

    def __init__(self, message: str, error_id: str = "GpoError"):
        super().__init__(message)
        self.error_id = error_id


def _key_match(first: str, second: str) -> bool:
    return first.lower() == second.lower()


# lab-behaviour: get-gpo-lookup
def get_gpo(document: dict, *, guid: str | None = None, name: str | None = None) -> dict:
    """Get-GPO -Guid / -Name: one GPO of the domain, else an error naming it."""
    for gpo in document["gpos"]:
        if guid is not None and gpo["guid"].lower() == guid.strip("{}").lower():
            return gpo
        if name is not None and gpo["name"].lower() == name.lower():
            return gpo
    if guid is not None:
        raise _CmdletError(f"A GPO with ID {{{guid}}} was not found in the {document['domain']} domain.")
    raise _CmdletError(f"A GPO with the display name '{name}' was not found in the {document['domain']} domain.")


# lab-behaviour: get-gpregistryvalue-key
def get_registry_subkeys(gpo: dict, key: str) -> list[str]:
    """Get-GPRegistryValue -Key without -ValueName: the first-level subkeys that hold a policy setting;
    a key with no setting under it at all is an error, not an empty answer."""
    prefix = key.lower().rstrip("\\") + "\\"
    below = [path for path, values in gpo["registry"].items() if path.lower().startswith(prefix) and values]
    if not below and not any(_key_match(path, key) and values for path, values in gpo["registry"].items()):
        raise _CmdletError(f'The following Group Policy registry setting was not found: "{key}".',
                           "UnableToRetrievePolicyRegistryItem")
    subkeys = {}
    for path in below:
        first = path[len(prefix):].split("\\", 1)[0]
        subkeys.setdefault(first.lower(), first)
    return sorted(subkeys.values(), key=str.lower)


# lab-behaviour: get-gpregistryvalue-value
def get_registry_value(gpo: dict, key: str, value_name: str) -> dict:
    for path, values in gpo["registry"].items():
        if _key_match(path, key):
            for name, value in values.items():
                if name.lower() == value_name.lower():
                    return value
    raise _CmdletError(f'The following Group Policy registry setting was not found: "{key}\\{value_name}".',
                       "UnableToRetrievePolicyRegistryItem")


# lab-behaviour: set-gpregistryvalue-binary
def set_registry_value(gpo: dict, key: str, value_name: str, data: bytes) -> None:
    """Set-GPRegistryValue -Type Binary: creates the key's setting or replaces the value; the GPO's
    modification time moves."""
    path = next((p for p in gpo["registry"] if _key_match(p, key)), key)
    gpo["registry"].setdefault(path, {})[value_name] = {"type": "Binary", "base64": base64.b64encode(data).decode()}
    gpo["modified"] = _now()


# lab-behaviour: remove-gpregistryvalue-key
def remove_registry_key(gpo: dict, key: str) -> None:
    """Remove-GPRegistryValue -Key without -ValueName: every first-level value of the key goes; a key
    with no setting is an error, and so is a key with settings in its subkeys."""
    path = next((p for p in gpo["registry"] if _key_match(p, key) and gpo["registry"][p]), None)
    prefix = key.lower().rstrip("\\") + "\\"
    if any(p.lower().startswith(prefix) and v for p, v in gpo["registry"].items()):
        raise _CmdletError(f'Registry-based policy settings exist for subkeys of "{key}".')
    if path is None:
        raise _CmdletError(f'The following Group Policy registry setting was not found: "{key}".',
                           "UnableToRetrievePolicyRegistryItem")
    del gpo["registry"][path]
    gpo["modified"] = _now()


def configuration_nc(domain: dict) -> str:
    """The configuration naming context of the forest the lab's domain roots: CN=Configuration,DC=..."""
    return "CN=Configuration," + ",".join(f"DC={label}" for label in domain["domain"].split("."))


# lab-behaviour: certutil-dspublish
def dspublish(domain: dict, container: str, der_base64: str) -> str:
    """certutil -dspublish -f <file> RootCA|SubCA: the CA certificate joins that container (a second publish of
    the same certificate changes nothing); an account without write access there is refused."""
    if container not in CONTAINERS:
        raise _CmdletError(f"certutil -dspublish exited with -2147024809: container must be RootCA or SubCA, not '{container}'")
    if domain.get("publish_denied"):
        raise _CmdletError("certutil -dspublish exited with -2147024891: CertUtil: -dsPublish command FAILED: "
                           "0x80070005 (WIN32: 5 ERROR_ACCESS_DENIED) Access is denied.")
    try:
        der = base64.b64decode(der_base64, validate=True)
        x509.load_der_x509_certificate(der)
    except ValueError:
        raise _CmdletError("certutil -dspublish exited with -2146885623: CertUtil: -dsPublish command FAILED: "
                           "0x80092009 (-2146885623 CRYPT_E_NO_MATCH) Cannot find the requested object.") from None
    thumbprint = _sha1(der)
    domain.setdefault("enterprise", {name: {} for name in CONTAINERS})[container][thumbprint] = base64.b64encode(der).decode()
    return thumbprint


# lab-behaviour: ad-pki-containers-read
def read_enterprise(domain: dict) -> dict:
    """The cACertificate values under CN=Certification Authorities (RootCA) and CN=AIA (SubCA) of
    CN=Public Key Services,CN=Services in the configuration naming context, as [adsi] reads them."""
    held = domain.get("enterprise") or {}
    return {"configuration_nc": configuration_nc(domain),
            **{container: [{"thumbprint": thumb, "der_base64": der} for thumb, der in sorted((held.get(container) or {}).items())]
               for container in CONTAINERS}}


def _sha1(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


class ManagementHandler:
    """The ``handler`` of the management host's WSManEndpoint."""

    def __init__(self, store: DomainStore):
        self.store = store

    def __call__(self, request: CommandRequest) -> CommandResult:
        match = IDENTITY_RE.search(request.script or "")
        if match is None or (match.group(1), int(match.group(2))) != SCRIPT:
            what = f"{match.group(1)} v{match.group(2)}" if match else "a command without a directaccess.iphttps identity line"
            message = (f"lab management host {request.host}: {what} is not implemented here "
                       f"(the management host answers {SCRIPT[0]} v{SCRIPT[1]} only)\n")
            return CommandResult(stderr=message.encode("utf-8"), rc=1)
        try:
            params = json.loads(request.stdin.decode("utf-8-sig") or "null")
        except ValueError as exc:
            return CommandResult(stderr=clixml_error(f"ConvertFrom-Json : Invalid JSON primitive: {exc}",
                                                     "NotSpecified: (:) [ConvertFrom-Json], ArgumentException",
                                                     "System.ArgumentException"), rc=1)
        if not isinstance(params, dict):
            params = {}
        document = self.store.update(lambda domain: gpo_certificates(domain, params))
        return CommandResult(stdout=(powershell_json(document) + "\r\n").encode("utf-8"))


def _text(value: t.Any) -> str:
    return "" if value is None else str(value)


def _find(domain: dict, params: dict, result: dict) -> tuple[dict, str]:
    if params.get("gpo_guid"):
        try:
            guid = str(uuid.UUID(_text(params["gpo_guid"]).strip("{}")))
        except ValueError:
            raise _CmdletError(f'Cannot convert value "{params["gpo_guid"]}" to type "System.Guid".') from None
        return get_gpo(domain, guid=guid), "guid"
    if params.get("gpo_name"):
        return get_gpo(domain, name=_text(params["gpo_name"])), "name"
    # lab-behaviour: get-daclient-gpo
    if domain.get("da_client") is not None:
        da_client = domain["da_client"]
        result["da_client"] = {"gpo_names": list(da_client.get("gpo_names") or []),
                               "security_groups": list(da_client.get("security_groups") or [])}
        if result["da_client"]["gpo_names"]:
            first = result["da_client"]["gpo_names"][0]
            return get_gpo(domain, name=first[first.find("\\") + 1:]), "Get-DAClient"
        result["da_client_note"] = "Get-DAClient named no client GPO"
    else:
        result["da_client_note"] = "no Get-DAClient cmdlet (RemoteAccess module) on this host"
    return get_gpo(domain, name=DEFAULT_CLIENT_GPO), "default_name"


def _read_certificates(gpo: dict) -> list[dict]:
    found = []
    for store in ("Root", "CA"):
        key = CERTIFICATES_KEY.format(store=store)
        try:
            subkeys = get_registry_subkeys(gpo, key)
        except _CmdletError as exc:
            if exc.error_id != "UnableToRetrievePolicyRegistryItem":
                raise
            subkeys = []
        for thumbprint in subkeys:
            blob = None
            try:
                value = get_registry_value(gpo, f"{key}\\{thumbprint}", "Blob")
                if value.get("type") == "Binary":
                    blob = value["base64"]
            except _CmdletError as exc:
                if exc.error_id != "UnableToRetrievePolicyRegistryItem":
                    raise
            found.append({"store": store, "thumbprint": thumbprint, "blob_base64": blob})
    return found


def gpo_certificates(domain: dict, params: dict) -> dict:
    """What gpo_certificates.ps1 prints, worked on ``domain`` (changed in place when it writes)."""
    result: dict[str, t.Any] = {"script": SCRIPT[0], "version": SCRIPT[1], "error": None, "gpo": None,
                                "da_client": None, "da_client_note": None, "links": [], "apply_trustees": [],
                                "certificates": [], "written": [], "removed": [], "failed": None, "enterprise": None,
                                "published": [], "publish_failed": None}
    if not domain.get("grouppolicy_module", True):
        result["error"] = {"kind": "no_grouppolicy_module", "message": "the GroupPolicy module is not installed on "
                           "this host: install RSAT Group Policy Management Tools (GPMC)"}
        return result
    try:
        gpo, found_by = _find(domain, params, result)
    except _CmdletError as exc:
        result["error"] = {"kind": "gpo_not_found", "message": str(exc)}
        return result
    try:
        result["gpo"] = {"name": gpo["name"], "guid": gpo["guid"], "domain": domain["domain"], "status": gpo["status"],
                         "modified": gpo["modified"], "found_by": found_by}
        # lab-behaviour: get-gporeport-links
        result["links"] = [dict(link) for link in gpo["links"]]
        # lab-behaviour: get-gppermission-apply
        result["apply_trustees"] = [dict(trustee) for trustee in gpo["apply"]]
        for item in params.get("write") or []:
            key = f"{CERTIFICATES_KEY.format(store=_text(item.get('store')))}\\{_text(item.get('thumbprint'))}"
            try:
                set_registry_value(gpo, key, "Blob", base64.b64decode(_text(item.get("blob_base64")), validate=True))
            except (ValueError, _CmdletError) as exc:
                result["failed"] = {"store": item.get("store"), "thumbprint": item.get("thumbprint"), "message": str(exc)}
                break
            result["written"].append({"store": item.get("store"), "thumbprint": item.get("thumbprint")})
        if result["failed"] is None:
            for item in params.get("remove") or []:
                key = f"{CERTIFICATES_KEY.format(store=_text(item.get('store')))}\\{_text(item.get('thumbprint'))}"
                try:
                    remove_registry_key(gpo, key)
                except _CmdletError as exc:
                    result["failed"] = {"store": item.get("store"), "thumbprint": item.get("thumbprint"),
                                        "message": str(exc)}
                    break
                result["removed"].append({"store": item.get("store"), "thumbprint": item.get("thumbprint")})
        result["gpo"]["modified"] = gpo["modified"]
        result["certificates"] = _read_certificates(gpo)
        if result["failed"] is None:
            for item in params.get("publish") or []:
                try:
                    dspublish(domain, _text(item.get("container")), _text(item.get("der_base64")))
                except _CmdletError as exc:
                    result["publish_failed"] = {"container": item.get("container"), "thumbprint": item.get("thumbprint"),
                                                "message": str(exc)}
                    break
                result["published"].append({"container": item.get("container"), "thumbprint": item.get("thumbprint")})
        if params.get("enterprise"):
            result["enterprise"] = read_enterprise(domain)
    except _CmdletError as exc:
        result["error"] = {"kind": "error", "message": str(exc)}
    return result


# --- for the lab's clients and tests -------------------------------------------------------------

# lab-behaviour: gpo-filter-evaluation
def certificates_reaching(domain: dict, ou_path: str, groups: t.Iterable[str]) -> dict[str, list[str]]:
    """The Root and CA thumbprints every GPO linked (enabled) to ``ou_path`` and applying to one of ``groups``
    (or Authenticated Users) deploys; what a client in that OU and those groups gets at a policy refresh."""
    wanted = {name.rsplit("\\", 1)[-1].lower() for name in groups} | {"authenticated users"}
    stores: dict[str, set[str]] = {"Root": set(), "CA": set()}
    for gpo in domain["gpos"]:
        if gpo["status"] in ("ComputerSettingsDisabled", "AllSettingsDisabled"):
            continue
        if not any(link["enabled"] and link["som_path"].lower() == ou_path.lower() for link in gpo["links"]):
            continue
        if not any(t_["name"].rsplit("\\", 1)[-1].lower() in wanted and not t_["denied"] for t_ in gpo["apply"]):
            continue
        for path, values in gpo["registry"].items():
            match = re.fullmatch(r"hklm\\software\\policies\\microsoft\\systemcertificates\\(root|ca)\\certificates\\(\w+)",
                                 path.lower())
            if match and "blob" in {name.lower() for name in values}:
                stores["Root" if match.group(1) == "root" else "CA"].add(match.group(2).upper())
    return {store: sorted(thumbs) for store, thumbs in stores.items()}


def _certificate_in_blob(blob: bytes) -> bytes | None:
    """The DER certificate of a serialized certificate store element: property 32 (CERT_CERT_PROP_ID), each
    property a little-endian id, reserved and length, then the data (the layout docs/gpo.md cites)."""
    offset = 0
    while offset + 12 <= len(blob):
        prop, _reserved, length = struct.unpack_from("<III", blob, offset)
        offset += 12
        if prop == 32:
            return blob[offset:offset + length]
        offset += length
    return None


def policy_certificates(domain: dict) -> dict[str, list[str]]:
    """PEMs per store that the GPOs deploy to the lab's clients (``domain["clients"]``) at a policy refresh."""
    clients = domain.get("clients") or {}
    wanted = certificates_reaching(domain, clients.get("ou", ""), clients.get("groups", ()))
    found: dict[str, list[str]] = {"Root": [], "CA": []}
    for store, thumbprints in wanted.items():
        for thumbprint in thumbprints:
            key = CERTIFICATES_KEY.format(store=store) + "\\" + thumbprint
            for gpo in domain["gpos"]:
                try:
                    value = get_registry_value(gpo, key, "Blob")
                except _CmdletError:
                    continue
                der = _certificate_in_blob(base64.b64decode(value["base64"]))
                if der is not None:
                    found[store].append(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii"))
                    break
    return found


# lab-behaviour: policy-refresh-needs-domain
def refresh_group_policy(state_dir: str | os.PathLike) -> dict[str, bool | None]:
    """``gpupdate /target:computer`` on every lab client: each that reaches a domain controller (inside, or
    through a working DirectAccess tunnel) gets its .GroupPolicy stores rewritten from the GPOs that apply to
    it, and its .Enterprise stores from Active Directory's RootCA and SubCA containers; the others keep what
    they had. -> {client: changed, or None when it could not refresh}."""
    domain = DomainStore(state_dir).load()
    certificates = policy_certificates(domain)
    enterprise = enterprise_certificates(domain)
    return {name: ClientState(state_dir, name).apply_group_policy(certificates, enterprise)
            for name in list_clients(state_dir)}


# lab-behaviour: enterprise-containers-to-stores
def enterprise_certificates(domain: dict) -> dict[str, list[str]]:
    """PEMs per client store that Active Directory's enterprise stores give every domain member at a policy
    refresh: RootCA (CN=Certification Authorities) into Root, SubCA (CN=AIA) into CA."""
    held = domain.get("enterprise") or {}
    return {store: [x509.load_der_x509_certificate(base64.b64decode(der)).public_bytes(Encoding.PEM).decode("ascii")
                    for _thumb, der in sorted((held.get(container) or {}).items())]
            for store, container in (("Root", "RootCA"), ("CA", "SubCA"))}


# --- the management host in a running lab ------------------------------------------------------

INVENTORY_FILE = "gpo_inventory.yml"


def start_management_host(lab_dir: Path, domain_file: str | os.PathLike, state_dir: Path, *, bind: str, certfile: Path,
                          keyfile: Path, winrm_ca: Path, user: str, password: str, transport: str,
                          command_cost: float = 0.0) -> tuple[t.Any, dict]:
    """Start the management host's WinRM endpoint and write ``<lab>/gpo_inventory.yml`` (group ``gpo_management``).

    Returns (endpoint, what lab.json records under ``management_host``). The GPO store persists in
    ``state/domain.json``; the domain file only seeds it.
    """
    from .wsman import WSManEndpoint  # the daemon's import; the handler tests need none of it

    initial = load_domain(domain_file)
    store = DomainStore(state_dir, initial)
    name = initial["management_host"]
    endpoint = WSManEndpoint(name, bind=(bind, 0), scheme="https", certfile=certfile, keyfile=keyfile,
                             users={user: password}, auth=(transport,), handler=ManagementHandler(store),
                             state_dir=state_dir, command_cost=command_cost).start()
    host = {"ansible_host": bind, "ansible_port": endpoint.port, "ansible_connection": "winrm",
            "ansible_winrm_transport": transport, "ansible_winrm_scheme": "https",
            "ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": str(winrm_ca),
            "ansible_user": user, "ansible_password": password}
    inventory = {"all": {"children": {"gpo_management": {"hosts": {name: host}}}}}
    path = Path(lab_dir) / INVENTORY_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"# Generated by python -m tests.lab up --domain {domain_file}; rewritten at every start.\n"
                         + yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    os.chmod(temporary, 0o600)  # it holds the password
    os.replace(temporary, path)
    return endpoint, {"name": name, "port": endpoint.port, "domain_file": str(domain_file), "store": str(store.path),
                      "inventory": str(path)}
