"""A per-lab certificate authority and one certificate per TLS service.

Made once and kept in the lab's state folder, so re-rendering yields the same
files (a second `up` changes nothing) and a student imports the CA into
Thunderbird only once (`ca.pem`). labctl.render.certificates makes and checks
them; once it has, the folder records what it found good (RECORD): the files'
digests, what they were checked for, by which version of that module, and when
the first of them is due for renewal. A later `up` that finds all of it
unchanged takes the files as they are, without importing cryptography.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labctl.spec.models import Lab, Role

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
RECORD = "checked.json"
_CHECKER = Path(__file__).with_name("certificates.py")


@dataclass(frozen=True)
class TlsPair:
    cert: str  # PEM
    key: str  # PEM


@dataclass(frozen=True)
class CaScope:
    """What the lab CA may sign for: the lab's domains (and their subdomains) and its subnet."""

    domains: tuple[str, ...]
    subnet: ipaddress.IPv4Network

    @classmethod
    def of(cls, lab: Lab) -> "CaScope":
        names = {*lab.zones, *lab.mail_domains, *(svc.hostname for svc in lab.services.values())}
        names = {name.lower().rstrip(".") for name in names}
        # A name under another listed name is already permitted by it.
        top = sorted(n for n in names if not any(n.endswith("." + other) for other in names))
        return cls(tuple(top), lab.network.subnet)


@dataclass(frozen=True)
class LabCertificates:
    ca: str  # PEM of the lab CA, what clients trust
    servers: dict[str, TlsPair]  # by mail service name


def _wanted(scope: CaScope, servers: dict[str, tuple[str, ipaddress.IPv4Address]]) -> dict:
    """What the files are checked for, and by which code: any change means checking again."""
    return {
        "checker": hashlib.sha256(_CHECKER.read_bytes()).hexdigest(),
        "scope": [list(scope.domains), str(scope.subnet)],
        "servers": {name: [hostname, str(ip)] for name, (hostname, ip) in sorted(servers.items())},
    }


def _file_names(servers: dict) -> list[str]:
    return [CA_CERT, CA_KEY, *(f"{name}.{ext}" for name in sorted(servers) for ext in ("pem", "key"))]


def _digests(tls_dir: Path, names: list[str]) -> dict[str, str] | None:
    try:
        return {name: hashlib.sha256((tls_dir / name).read_bytes()).hexdigest() for name in names}
    except OSError:
        return None


def _still_good(tls_dir: Path, wanted: dict, names: list[str]) -> bool:
    """The files are byte for byte those checked for exactly `wanted`, and none is due for renewal."""
    try:
        record = json.loads((tls_dir / RECORD).read_text(encoding="utf-8"))
        renew_at = datetime.datetime.fromisoformat(record["renew_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (record.get("wanted") == wanted and record.get("files") == _digests(tls_dir, names)
            and datetime.datetime.now(datetime.timezone.utc) < renew_at)


def _keep_record(tls_dir: Path, wanted: dict, names: list[str], renew_at: datetime.datetime) -> None:
    record = {"wanted": wanted, "files": _digests(tls_dir, names), "renew_at": renew_at.isoformat()}
    partial = tls_dir / f".{RECORD}.new"
    partial.write_text(json.dumps(record), encoding="utf-8")
    os.replace(partial, tls_dir / RECORD)


def lab_certificates(tls_dir: Path, lab: Lab) -> LabCertificates:
    """The lab CA and a certificate for each service that offers TLS: mail (STARTTLS) and
    webmail (HTTPS, as webmail.<its mail domain>)."""
    scope = CaScope.of(lab)
    names = {name: svc.hostname for name, svc in lab.by_role(Role.mail).items()}
    names |= {name: lab.webmail_host(svc) for name, svc in lab.by_role(Role.webmail).items()}
    if not names:
        return LabCertificates("", {})
    servers = {name: (hostname, lab.services[name].ip) for name, hostname in names.items()}
    wanted, files = _wanted(scope, servers), _file_names(servers)
    if not _still_good(tls_dir, wanted, files):
        # Here only: cryptography is imported when something is to be made or checked.
        from labctl.render import certificates

        pairs = [certificates.server_pair(tls_dir, lab.name, scope, name, hostname, ip) for name, (hostname, ip) in servers.items()]
        _keep_record(tls_dir, wanted, files, certificates.renewal_due([(tls_dir / CA_CERT).read_text(), *(p.cert for p in pairs)]))
    pairs = {name: TlsPair((tls_dir / f"{name}.pem").read_text(), (tls_dir / f"{name}.key").read_text()) for name in servers}
    return LabCertificates((tls_dir / CA_CERT).read_text(), pairs)
