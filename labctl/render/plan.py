"""The lab as concrete Docker objects: one plan that both the SDK runtime and
the docker-compose file are made from, so the two can never drift apart."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from labctl.render.configs import (
    ACCESS_SCRIPT, CLIENT_CAPTURES, DRAFT_MOUNT, MAIL_DATA_DIR, REGISTRY_MOUNT, RESOLV_CONF, SETTINGS_MOUNT, SSH_KEYS_MOUNT,
    STUDENT_MOUNT, RenderedFile, config_mount, registry_zone,
)
from labctl.spec.models import Lab, Role, Service

IMAGE_PREFIX = "labctl"
# Lets two checkouts (branches under test) build and run their own images side by side.
IMAGE_TAG = os.environ.get("LABCTL_IMAGE_TAG", "latest")
LABEL_LAB = "labctl.lab"
LABEL_SERVICE = "labctl.service"
LABEL_EXERCISE = "labctl.exercise"
LABEL_CONFIG_HASH = "labctl.config-hash"

# The ports students reach, by role (a mail service's come from the lab definition).
FIXED_PORTS: dict[Role, dict[str, int]] = {Role.dns: {"dns": 53}, Role.web: {"http": 80},
                                            Role.webmail: {"https": 443, "http": 80}}


@dataclass(frozen=True)
class Resources:
    """What a role's container may do and use: the capabilities its daemons need
    (all others dropped) and memory and process limits, so one lab cannot take the host."""

    cap_add: tuple[str, ...]
    mem_limit: str
    pids_limit: int
    cpus: float = 0  # CPUs' worth of time it may use (0: no cap, the engine's fair shares only)


ROLE_RESOURCES: dict[Role, Resources] = {
    # named starts as root, binds 53 and switches to user bind.
    Role.dns: Resources(("NET_BIND_SERVICE", "SETUID", "SETGID"), "128m", 128),
    # nginx binds 80 as root, gives its temp folders to its workers' user and runs them as it.
    Role.web: Resources(("NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID"), "64m", 64),
    # Dovecot's master chowns its runtime folder, chroots its login processes,
    # runs them as other users and signals them; the MTA drops to vmail (setpriv).
    # DAC_OVERRIDE: root's tools run by the checks (`docker exec`) read vmail's spool and Maildirs.
    Role.mail: Resources(("CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "SYS_CHROOT", "KILL"), "256m", 256),
    # Roundcube: the entrypoint gives its key to www-data and writes it in
    # www-data's folder; php-fpm and nginx bind as root and run workers as www-data.
    Role.webmail: Resources(("NET_BIND_SERVICE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"), "256m", 128),
    # The students' shell: ping and traceroute (NET_RAW), and, with class access,
    # sshd (binds 22, privilege separation in a chroot, logins as the student, audit).
    # One CPU: whatever a student runs there (busy loops, a flood of packets or messages that
    # the servers then answer) leaves the rest of a shared server's cores to the other labs.
    Role.client: Resources(("NET_RAW", "NET_BIND_SERVICE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID",
                            "SYS_CHROOT", "KILL", "AUDIT_WRITE"), "256m", 256, cpus=1.0),
    # tcpdump opens a packet socket on the bridge (no NET_ADMIN: it needs none
    # for that) and, for -Z root, sets its user and groups.
    Role.capture: Resources(("NET_RAW", "SETUID", "SETGID"), "128m", 16),
}
# Where a student logged into the client (class mode, not root) can write, each a tmpfs of
# a fixed size: the container's own layer is on the host's disk, unbounded, which every lab
# of the class shares. The pages count in the client's memory limit, so together (with
# /dev/shm's 64m) they stay well under it; a 10 MB attachment still fits in the home.
CLIENT_TMPFS = {"/home": "rw,exec,nosuid,nodev,size=64m,mode=755",
                "/tmp": "rw,exec,nosuid,nodev,size=32m,mode=1777",
                "/var/tmp": "rw,exec,nosuid,nodev,size=16m,mode=1777",
                "/run/lock": "rw,noexec,nosuid,nodev,size=1m,mode=1777"}
# What the webmail writes as it serves (a student's uploads to attach, Roundcube's error log
# of every failed login and its database, where each request without a cookie stores a
# session, nginx's request bodies, PHP's uploads) would land in its own layer, on the host's
# disk and unbounded: each is a tmpfs of a fixed size (in its memory limit). Roundcube runs
# as www-data (33); its log folder is group adm's (4), as Debian makes it.
WEBMAIL_DATABASE_DIR = "/var/lib/dbconfig-common/sqlite3/roundcube"
WEBMAIL_TMPFS = {"/var/lib/roundcube/temp": "rw,noexec,nosuid,nodev,size=32m,uid=33,gid=33,mode=750",
                 WEBMAIL_DATABASE_DIR: "rw,noexec,nosuid,nodev,size=16m,uid=33,gid=33,mode=770",
                 "/var/log/roundcube": "rw,noexec,nosuid,nodev,size=4m,uid=33,gid=4,mode=750",
                 "/var/lib/nginx": "rw,noexec,nosuid,nodev,size=16m,mode=755",
                 "/tmp": "rw,noexec,nosuid,nodev,size=16m,mode=1777"}
# Each container's output (Dovecot's and sshd's logs among it) is kept by the engine on
# the host's disk: rotated, as much as a whole class can hold. The checks read the logins
# in it, and `docker logs` reads the rotated files too.
LOG_MAX_SIZE = "10m"
LOG_MAX_FILES = 3
# socat forwarding a host port to the client's sshd (one process per connection).
ACCESS_RESOURCES = Resources(("NET_BIND_SERVICE",), "32m", 32)

CAPTURE_SERVICE = "capture"
# Forwards the student's host port to the client's sshd (spec.models.Access).
ACCESS_SERVICE = "ssh"
# Services whose containers hold nothing of a student's attempt (no files, no log, no
# state; socat forwards bytes): a reset keeps them running instead of making them again.
STATELESS_SERVICES = frozenset({ACCESS_SERVICE})
SSH_KEYS_DIR = "ssh"  # in the lab's state folder, beside config/ and captures/
SSH_PORT = 22
CAPTURE_MOUNT = "/captures"
# The kernel buffer of the capture, in KiB: a burst of dozens of SMTP sessions
# overflows libpcap's default 2 MiB (packets dropped by kernel), 32 MiB holds it.
CAPTURE_BUFFER_KIB = 32768
# What each container prints once it is ready (None: its network probe says so).
CAPTURE_READY = b"listening on"  # tcpdump captures
CLIENT_READY = b"labctl client ready"  # images/client/entrypoint.sh trusts the lab CA


@dataclass(frozen=True)
class Mount:
    source: str  # host path (bind) or volume name
    target: str
    read_only: bool = True
    volume: bool = False


@dataclass(frozen=True)
class ContainerPlan:
    service: str
    name: str
    image: str
    hostname: str
    ip: str  # empty for the host-network capture sidecar
    mounts: tuple[Mount, ...]
    labels: dict[str, str]
    ports: dict[str, int]
    sysctls: dict[str, str] = field(default_factory=dict)
    # Every capability is dropped; these are added back (ROLE_RESOURCES).
    cap_add: tuple[str, ...] = ()
    mem_limit: str = "64m"
    pids_limit: int = 64
    cpus: float = 0
    tmpfs: dict[str, str] = field(default_factory=dict)  # mount point -> options
    command: tuple[str, ...] | None = None
    network_mode: str | None = None  # None: the lab network at `ip`
    ready_log: bytes | None = None  # a line it prints once ready, waited for by `up`


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    subnet: str
    gateway: str
    bridge: str
    labels: dict[str, str]
    # Class mode: the host is a shared server that nothing of the lab may connect to (firewall).
    host_closed: bool = False


@dataclass(frozen=True)
class LabPlan:
    instance: str
    lab: Lab
    exercise: str | None
    network: NetworkPlan
    containers: tuple[ContainerPlan, ...]
    volumes: dict[str, dict[str, str]]  # name -> labels
    config_dir: Path

    def container(self, service: str) -> ContainerPlan:
        for c in self.containers:
            if c.service == service:
                return c
        raise KeyError(service)


def image_name(role: Role | str) -> str:
    role_name = role.value if isinstance(role, Role) else role
    return f"{IMAGE_PREFIX}/{role_name}:{IMAGE_TAG}"


def bridge_name(instance: str) -> str:
    # Linux interface names are at most 15 characters; a stable name lets the
    # capture sidecar and students find the lab's interface (Wireshark).
    digest = hashlib.sha1(instance.encode()).hexdigest()[:8]
    return f"lab-{digest}"


def _resources(resources: Resources) -> dict:
    return {"cap_add": resources.cap_add, "mem_limit": resources.mem_limit, "pids_limit": resources.pids_limit,
            "cpus": resources.cpus}


def _ports(svc: Service) -> dict[str, int]:
    if svc.role is Role.mail:
        return svc.ports.model_dump()
    return dict(FIXED_PORTS.get(svc.role, {}))


def _config_hash(service: str, svc: Service, files: list[RenderedFile]) -> str:
    digest = hashlib.sha256(svc.model_dump_json().encode())
    for f in sorted(files, key=lambda f: str(f.path)):
        if f.path.parts[0] == service or f.path == RESOLV_CONF:
            digest.update(str(f.path).encode() + b"\0" + f.content.encode())
    return digest.hexdigest()[:16]


def _capture(lab: Lab, instance: str, captures_dir: Path, labels: dict[str, str]) -> ContainerPlan:
    """tcpdump on the lab's bridge, in the host's network namespace: it sees what
    Wireshark on 172.28.0.1 sees, host <-> container traffic included."""
    cfg = lab.capture
    command = (
        CAPTURE_MOUNT,  # images/capture/entrypoint.sh names the files, one prefix per start
        "-i", bridge_name(instance),
        "-n",
        # Each packet reaches the file as it is seen (no libpcap batching, no
        # stdio buffering): a check run right after the student acts sees it.
        "--immediate-mode", "-U",
        "-B", str(CAPTURE_BUFFER_KIB),
        "-s", str(cfg.snaplen),
        "-C", str(cfg.file_size_mb),
        "-W", str(cfg.files),
        "-Z", "root",  # keep writing to the root-owned bind mount
    )
    digest = hashlib.sha256(cfg.model_dump_json().encode() + instance.encode()).hexdigest()[:16]
    return ContainerPlan(
        service=CAPTURE_SERVICE,
        name=f"{instance}-{CAPTURE_SERVICE}",
        image=image_name(Role.capture),
        hostname=CAPTURE_SERVICE,
        ip="",
        mounts=(Mount(str(captures_dir), CAPTURE_MOUNT, read_only=False),),
        labels={**labels, LABEL_SERVICE: CAPTURE_SERVICE, LABEL_CONFIG_HASH: digest},
        ports={},
        **_resources(ROLE_RESOURCES[Role.capture]),
        command=command,
        network_mode="host",
        ready_log=CAPTURE_READY,
    )


@dataclass(frozen=True)
class StudentDirs:
    """Where the student's files live on the host: the workspace they edit and
    the installed copy the servers read (one folder per service in each)."""

    workspace: Path
    installed: Path


def _student_mounts(lab: Lab, name: str, svc: Service, student: StudentDirs | None) -> list[Mount]:
    if student is None:
        return []
    if svc.student_config:
        return [Mount(str(student.installed / name), STUDENT_MOUNT),
                Mount(str(student.workspace / name), DRAFT_MOUNT, read_only=False)]
    if registry_zone(lab, name):
        return [Mount(str(student.installed / name), REGISTRY_MOUNT)]
    if svc.mta.backup_mx_from_workspace:
        return [Mount(str(student.installed), SETTINGS_MOUNT)]
    return []


def _ssh_forwarder(lab: Lab, instance: str, client_ip: str, labels: dict[str, str]) -> ContainerPlan:
    """The student's way in: the lab network is internal (Docker publishes no port
    on it), so socat in the host's network namespace forwards the host port to the
    client's sshd, reached through the lab's gateway."""
    access = lab.access
    command = ("socat", f"TCP-LISTEN:{access.ssh_port},bind={access.bind},reuseaddr,fork", f"TCP:{client_ip}:{SSH_PORT}")
    digest = hashlib.sha256(" ".join(command).encode()).hexdigest()[:16]
    return ContainerPlan(
        service=ACCESS_SERVICE,
        name=f"{instance}-{ACCESS_SERVICE}",
        image=image_name(Role.client),
        hostname=ACCESS_SERVICE,
        ip="",
        mounts=(),
        labels={**labels, LABEL_SERVICE: ACCESS_SERVICE, LABEL_CONFIG_HASH: digest},
        ports={"ssh": access.ssh_port},
        command=command,
        network_mode="host",
        **_resources(ACCESS_RESOURCES),
    )


def plan_lab(lab: Lab, instance: str, config_dir: Path, files: list[RenderedFile], exercise: str | None = None,
             captures_dir: Path | None = None, student: StudentDirs | None = None) -> LabPlan:
    base_labels = {LABEL_LAB: instance}
    if exercise:
        base_labels[LABEL_EXERCISE] = exercise
    volumes: dict[str, dict[str, str]] = {}
    containers = []
    if lab.capture.enabled:
        containers.append(_capture(lab, instance, captures_dir or config_dir.parent / "captures", base_labels))
    for name, svc in lab.services.items():
        mounts = [Mount(str(config_dir / RESOLV_CONF), "/etc/resolv.conf")]
        # The client's folder holds the lab CA it trusts and, in class mode, its access script.
        if svc.role is not Role.client or any(f.path.parts[0] == name for f in files):
            mounts.append(Mount(str(config_dir / name), config_mount(svc.role)))
        mounts.extend(_student_mounts(lab, name, svc, student))
        command = None
        tmpfs: dict[str, str] = {}
        if svc.role is Role.webmail:
            tmpfs = WEBMAIL_TMPFS
        if svc.role is Role.client and lab.access:
            tmpfs = CLIENT_TMPFS
            captures = captures_dir or config_dir.parent / "captures"
            mounts += [Mount(str(captures), CLIENT_CAPTURES), Mount(str(config_dir.parent / SSH_KEYS_DIR), SSH_KEYS_MOUNT, read_only=False)]
            command = ("sh", f"{config_mount(Role.client)}/{ACCESS_SCRIPT}")
            containers.append(_ssh_forwarder(lab, instance, str(svc.ip), base_labels))
        sysctls: dict[str, str] = {}
        if svc.role is Role.mail:
            volume = f"{instance}-{name}-data"
            volumes[volume] = dict(base_labels)
            mounts.append(Mount(volume, MAIL_DATA_DIR, read_only=False, volume=True))
            # The MTA runs unprivileged yet binds 25/587.
            sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
        labels = {**base_labels, LABEL_SERVICE: name, LABEL_CONFIG_HASH: _config_hash(name, svc, files)}
        containers.append(
            ContainerPlan(
                service=name,
                name=f"{instance}-{name}",
                image=image_name(svc.role),
                hostname=svc.hostname,
                ip=str(svc.ip),
                mounts=tuple(mounts),
                labels=labels,
                ports=_ports(svc),
                sysctls=sysctls,
                tmpfs=tmpfs,
                command=command,
                ready_log=CLIENT_READY if svc.role is Role.client else None,
                **_resources(ROLE_RESOURCES[svc.role]),
            )
        )
    return LabPlan(instance, lab, exercise, network_plan(lab, instance, exercise), tuple(containers), volumes, config_dir)


def network_plan(lab: Lab, instance: str, exercise: str | None = None) -> NetworkPlan:
    """The lab network: known from the lab alone, before any file is rendered."""
    labels = {LABEL_LAB: instance, **({LABEL_EXERCISE: exercise} if exercise else {})}
    return NetworkPlan(
        name=f"{instance}-{lab.network.name}",
        subnet=str(lab.network.subnet),
        gateway=str(lab.network.gateway),
        bridge=bridge_name(instance),
        labels=labels,
        host_closed=lab.access is not None,
    )
