"""Every configuration file a lab's services need, rendered from templates/."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable

from labctl.mailserver.config import Retry
from labctl.render.templating import render
from labctl.render.tls import LabCertificates
from labctl.spec.models import Lab, MtaOptions, Role, Service

# Where the mail container keeps its state (one volume): Maildirs, spool, log.
MAIL_DATA_DIR = "/var/lib/labctl-mail"
MAILDIR_ROOT = f"{MAIL_DATA_DIR}/maildirs"
# What one mailbox may hold, for the MTA (refused at RCPT) and Dovecot (IMAP APPEND, COPY),
# and the MTA's queue (new mail refused while it holds as much):
# Postfix's default mailbox_size_limit, five messages at the course's 10 MB size limit.
# Every lab of a class shares the host's disk.
MAILBOX_QUOTA = 51200000
# ...and how many messages (files: each is an inode and at least a 4 KiB block, and 51.2 MB
# of tiny ones would be 170k) and folders (Maildir++: four directories and Dovecot's index
# files each; a loop of IMAP CREATEs made 118 a second). Far above what a student files: the
# exercises' folders and Thunderbird's six (Sent, Drafts, Trash, Junk, Archives, Templates).
MAILBOX_MESSAGES = 10000
MAILBOX_FOLDERS = 100
# ...and keywords (each new name stays in the folder's index): Thunderbird's tags and
# labels are a dozen.
MAILBOX_KEYWORDS = 200
# Where each service's rendered folder is mounted inside its container.
CONFIG_MOUNT = "/etc/labctl"


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath  # relative to the lab's config folder
    content: str
    # A secret (a TLS key): written 0640, owned by root and this group id, so
    # inside the container only root and the service's group read it.
    secret_group: int | None = None


# The vmail group of the mail image (images/mail/Dockerfile): the MTA runs as vmail.
MAIL_GID = 5000
ROOT_GID = 0


def config_mount(role: Role) -> str:
    return f"{CONFIG_MOUNT}/{role.value}"


# The mail container's two configuration files, where its processes (and
# `docker exec` of the checks and `labctl mail`) find them.
MTA_FILE = "mta.yaml"
DOVECOT_FILE = "dovecot.conf"
MTA_CONFIG = f"{config_mount(Role.mail)}/{MTA_FILE}"
DOVECOT_CONFIG = f"{config_mount(Role.mail)}/{DOVECOT_FILE}"


def resolver_ip(lab: Lab) -> str:
    return str(lab.services[lab.resolver].ip)


# What the student authors reaches a dns container through two mounts: the
# installed copy BIND reads (only `labctl apply` writes it, after validating)
# and the workspace folder itself, editable from `labctl shell ns1`.
STUDENT_MOUNT = "/etc/bind/alumno"
DRAFT_MOUNT = "/etc/bind/trabajo"
STUDENT_OPTIONS = "named.conf.options"
STUDENT_ZONES = "named.conf.local"
# The registry's installed delegations, included at the end of its zone.
REGISTRY_MOUNT = "/etc/bind/registro"
# The student's installed settings that a mail server reads: the cloud server's backup-MX
# setting (item m), re-read by its MTA whenever `labctl apply` installs a new one.
SETTINGS_MOUNT = "/etc/labctl/alumno"
BACKUP_MX = "respaldo-mx.yaml"
DELEGATIONS_FILE = "delegaciones.db"


def zone_file(zone: str) -> str:
    """The zone's file name in the rendered folder ("." is the root zone)."""
    return "db.root" if zone == "." else f"db.{zone}"


def root_hint(lab: Lab) -> tuple[str, str]:
    """Name and address recursion starts from: the lab's root server, or else the
    resolver itself, so that names outside the lab's zones fail fast."""
    if lab.root is not None:
        root = lab.services[lab.root]
        return root.hostname.rstrip("."), str(root.ip)
    return "lab-root", resolver_ip(lab)


def registry_zone(lab: Lab, service: str) -> str | None:
    """The zone of `service` where `labctl apply` installs the student's registration."""
    ws = lab.workspace
    return ws.registry_zone if ws is not None and ws.registry == service else None


def _dns(lab: Lab, name: str, svc: Service, certs: LabCertificates) -> list[RenderedFile]:
    base = PurePosixPath(name)
    context = dict(
        service=name,
        hostname=svc.hostname,
        mount=config_mount(Role.dns),
        recursion=svc.recursion,
        allow_transfer=svc.allow_transfer,
        zones={zone: zone_file(zone) for zone in svc.zones},
        student_mount=STUDENT_MOUNT,
        student_options=STUDENT_OPTIONS,
        student_zones=STUDENT_ZONES,
    )
    template = "dns/named-student.conf.j2" if svc.student_config else "dns/named.conf.j2"
    files = [RenderedFile(base / "named.conf", render(template, **context))]
    if svc.recursion or svc.student_config:
        hint_name, hint_ip = root_hint(lab)
        files.append(RenderedFile(base / "root.hints", render("dns/root.hints.j2", name=hint_name, ip=hint_ip)))
    delegations = registry_zone(lab, name)
    for zone in svc.zones:
        include = f"{REGISTRY_MOUNT}/{DELEGATIONS_FILE}" if zone == delegations else None
        files.append(RenderedFile(base / zone_file(zone), render("dns/zone.db.j2", zone=zone, z=lab.zones[zone], include=include)))
    return files


def mail_accounts(lab: Lab, svc: Service) -> list[dict[str, str]]:
    return [
        {"address": f"{a.user}@{domain}", "user": a.user, "domain": domain, "password": a.password}
        for domain in svc.mail_domains
        for a in lab.mail_domains[domain].accounts
    ]


TLS_DIR = "tls"


def mta_retry(mta: MtaOptions) -> Retry:
    """When a mail service's MTA retries deferred mail: at the service's fixed interval,
    or on the MTA's own backoff (its Retry defaults: from 5 s, doubling, up to 300 s)."""
    if mta.retry_interval:
        return Retry(initial=mta.retry_interval, max_interval=mta.retry_interval)
    return Retry()


def _mail(lab: Lab, name: str, svc: Service, certs: LabCertificates) -> list[RenderedFile]:
    base = PurePosixPath(name)
    tls = certs.servers.get(name)
    mounted = f"{config_mount(Role.mail)}/{TLS_DIR}"
    first = lab.mail_domains[svc.mail_domains[0]]
    context = dict(
        service=name,
        hostname=svc.hostname,
        mount=config_mount(Role.mail),
        banner=first.banner or f"{svc.hostname} ESMTP labctl",
        domains=svc.mail_domains,
        default_domain=svc.mail_domains[0],
        accounts=mail_accounts(lab, svc),
        ports=svc.ports,
        size_limit=first.size_limit,
        mailbox_quota=MAILBOX_QUOTA,
        mailbox_messages=MAILBOX_MESSAGES,
        mailbox_folders=MAILBOX_FOLDERS,
        mailbox_keywords=MAILBOX_KEYWORDS,
        data_dir=MAIL_DATA_DIR,
        maildir_root=MAILDIR_ROOT,
        resolver_ip=resolver_ip(lab),
        tls={"cert": f"{mounted}/cert.pem", "key": f"{mounted}/key.pem"} if tls else None,
        mta=svc.mta,
        retry=mta_retry(svc.mta),
        relay_domains_file=f"{SETTINGS_MOUNT}/{BACKUP_MX}" if svc.mta.backup_mx_from_workspace else None,
    )
    files = [
        RenderedFile(base / DOVECOT_FILE, render("mail/dovecot.conf.j2", **context)),
        RenderedFile(base / "users", render("mail/users.j2", **context)),
        RenderedFile(base / MTA_FILE, render("mail/mta.yaml.j2", **context)),
    ]
    if tls:
        files += [RenderedFile(base / TLS_DIR / "cert.pem", tls.cert), RenderedFile(base / TLS_DIR / "key.pem", tls.key, secret_group=MAIL_GID)]
    return files


def _web(lab: Lab, name: str, svc: Service, certs: LabCertificates) -> list[RenderedFile]:
    base = PurePosixPath(name)
    context = dict(service=name, hostname=svc.hostname, ip=str(svc.ip), web=lab.web, mount=config_mount(Role.web))
    return [
        RenderedFile(base / "nginx.conf", render("web/nginx.conf.j2", **context)),
        RenderedFile(base / "site" / "index.html", render("web/index.html.j2", **context)),
    ]


# Made by the webmail image's entrypoint at the container's first start.
WEBMAIL_DES_KEY = "/var/lib/roundcube/labctl-des-key.inc.php"


def _webmail(lab: Lab, name: str, svc: Service, certs: LabCertificates) -> list[RenderedFile]:
    base = PurePosixPath(name)
    tls = certs.servers.get(name)
    mail = lab.services[svc.mail_service]
    context = dict(
        service=name,
        host=lab.webmail_host(svc),
        mount=config_mount(Role.webmail),
        domain=mail.mail_domains[0],
        mail_ip=str(mail.ip),
        imap_port=mail.ports.imap,
        submission_port=mail.ports.submission,
        des_key_file=WEBMAIL_DES_KEY,
    )
    files = [
        RenderedFile(base / "nginx.conf", render("webmail/nginx.conf.j2", **context)),
        RenderedFile(base / "config.inc.php", render("webmail/config.inc.php.j2", **context)),
    ]
    if tls:
        # nginx's master (root) reads it; its workers never do.
        files += [RenderedFile(base / TLS_DIR / "cert.pem", tls.cert), RenderedFile(base / TLS_DIR / "key.pem", tls.key, secret_group=ROOT_GID)]
    return files


# SSH access to the client (spec.models.Access): where its parts live in the container.
ACCESS_SCRIPT = "access.sh"
ACCESS_PASSWORD_FILE = "password"
SSH_KEYS_MOUNT = "/etc/labctl/ssh-keys"  # kept in the lab's state folder: one host key across resets
CLIENT_CAPTURES = "/capturas"  # the lab's captures, read-only
# The lab CA as the client container installs it into its system store
# (images/client/entrypoint.sh), so swaks, curl, openssl, mutt and python verify STARTTLS.
CLIENT_CA_FILE = "lab-ca.crt"


def _client(lab: Lab, name: str, svc: Service, certs: LabCertificates) -> list[RenderedFile]:
    base = PurePosixPath(name)
    files = [RenderedFile(base / CLIENT_CA_FILE, certs.ca)] if certs.ca else []
    if lab.access is None:
        return files
    context = dict(user=lab.access.user, mount=config_mount(Role.client), keys=SSH_KEYS_MOUNT,
                   captures=CLIENT_CAPTURES, password_file=ACCESS_PASSWORD_FILE)
    return files + [
        RenderedFile(base / "sshd_config", render("client/sshd_config.j2", **context)),
        RenderedFile(base / ACCESS_SCRIPT, render("client/access.sh.j2", **context)),
        RenderedFile(base / ACCESS_PASSWORD_FILE, f"{lab.access.user}:{lab.access.password}\n"),
    ]


RENDERERS: dict[Role, Callable[[Lab, str, Service, LabCertificates], list[RenderedFile]]] = {
    Role.dns: _dns,
    Role.mail: _mail,
    Role.web: _web,
    Role.webmail: _webmail,
    Role.client: _client,
}

RESOLV_CONF = PurePosixPath("resolv.conf")


def render_configs(lab: Lab, certs: LabCertificates | None = None) -> list[RenderedFile]:
    """All files of the lab, per service folder, plus the shared resolv.conf.
    `certs` holds the lab CA and the certificate of each service that offers TLS."""
    certs = certs or LabCertificates("", {})
    resolver = lab.services[lab.resolver]
    search = lab.search_domain or resolver.zones[0]
    files = [RenderedFile(RESOLV_CONF, render("host/resolv.conf.j2", resolver_ip=resolver_ip(lab), search_domain=search))]
    for name, svc in lab.services.items():
        renderer = RENDERERS.get(svc.role)
        if renderer:
            files.extend(renderer(lab, name, svc, certs))
    return files
