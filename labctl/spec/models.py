"""Typed model of a lab definition (labs/<lab>/lab.yaml).

Validation happens here, once, when a lab is loaded: everything downstream
(rendering, runtime, checks) can trust these objects.
"""
from __future__ import annotations

import re
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

HOSTNAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
SERVICE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,30}$"
MAX_HOSTNAME = 253  # RFC 1035, without the final dot


def _hostname_ok(value: str) -> bool:
    return bool(re.fullmatch(HOSTNAME_PATTERN, value)) and len(value.rstrip(".")) <= MAX_HOSTNAME


def _hostname(value: Any) -> Any:
    """Host and domain names go into zone files, named.conf, Dovecot and the MTA's
    config and into file names: only what DNS allows, so nothing can break out."""
    if isinstance(value, str) and not _hostname_ok(value):
        raise ValueError(f"expected a host name (labels of letters, digits and '-', joined by dots, at most {MAX_HOSTNAME} characters), got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _address_text(value: Any) -> Any:
    """YAML reads `subnet: 12345` as a number, which ipaddress takes as 0.0.48.57: only text counts."""
    if not isinstance(value, str):
        raise ValueError(f"expected an address written as text such as 172.28.0.0/24 or 172.28.0.1, got {_shown(value)}")
    return value


Hostname = Annotated[str, BeforeValidator(_hostname)]
# A zone is named like a host, or is the root zone ".".
ZoneName = Annotated[str, BeforeValidator(lambda value: value if value == "." else _hostname(value))]
Address = Annotated[IPv4Address, BeforeValidator(_address_text)]
# RFC 2181 section 8: a TTL is 0 to 2^31 - 1 seconds.
MAX_TTL = 2**31 - 1
Ttl = Annotated[int, Field(ge=0, le=MAX_TTL)]
# Networks Docker could be given but no lab may use: they are the host's own,
# multicast, or cannot be routed as a bridge.
UNUSABLE_NETWORKS = {
    "this-network (0.0.0.0/8)": IPv4Network("0.0.0.0/8"),
    "loopback": IPv4Network("127.0.0.0/8"),
    "link-local": IPv4Network("169.254.0.0/16"),
    "multicast": IPv4Network("224.0.0.0/4"),
    "reserved and broadcast (240.0.0.0/4)": IPv4Network("240.0.0.0/4"),
}
# A bridge of at least a /16 would swallow the host's other networks; a /29 still holds a lab.
SUBNET_PREFIXES = range(16, 30)


class Model(BaseModel):
    # Unknown keys are typos in a hand-written file: reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(str, Enum):
    dns = "dns"
    mail = "mail"
    web = "web"
    client = "client"
    webmail = "webmail"  # Roundcube over HTTPS, reading and sending through a mail service
    capture = "capture"  # added by labctl to every lab, never declared as a service


class Network(Model):
    name: str = Field(pattern=SERVICE_NAME_PATTERN)
    subnet: Annotated[IPv4Network, BeforeValidator(_address_text)]
    gateway: Address

    @field_validator("subnet")
    @classmethod
    def _usable_subnet(cls, subnet: IPv4Network) -> IPv4Network:
        if subnet.prefixlen not in SUBNET_PREFIXES:
            raise ValueError(f"expected a private bridge subnet from /{SUBNET_PREFIXES.start} to /{SUBNET_PREFIXES.stop - 1}, got {subnet}")
        for kind, unusable in UNUSABLE_NETWORKS.items():
            if subnet.overlaps(unusable):
                raise ValueError(f"{subnet} is in the {kind} range; expected a private subnet such as 172.28.0.0/24")
        return subnet

    @model_validator(mode="after")
    def _gateway_in_subnet(self) -> "Network":
        if self.gateway not in self.subnet:
            raise ValueError(f"gateway {self.gateway} is not inside subnet {self.subnet}")
        if self.gateway in (self.subnet.network_address, self.subnet.broadcast_address):
            raise ValueError(f"gateway {self.gateway} is the network or broadcast address of {self.subnet}; expected a host address")
        return self


class MailPorts(Model):
    smtp: int = Field(25, ge=1, le=65535)
    submission: int = Field(587, ge=1, le=65535)
    pop3: int = Field(110, ge=1, le=65535)
    imap: int = Field(143, ge=1, le=65535)

    @model_validator(mode="after")
    def _one_port_each(self) -> "MailPorts":
        # All four listen on the one address of the mail container.
        seen: dict[int, str] = {}
        for name, port in self.model_dump().items():
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} are both port {port}; expected a different port for each")
            seen[port] = name
        return self


class MtaOptions(Model):
    """What a mail service's MTA does beyond the course server (exercise 10's other providers)."""
    # What an SPF fail does to mail for this server's domains (mark: Received-SPF only).
    spf: Literal["off", "mark", "reject"] = "off"
    # Seconds between delivery attempts of deferred mail (Postfix's backoff times, both ends).
    retry_interval: int | None = Field(None, ge=1, le=3600)
    # Seconds to wait for an exchanger to answer (Postfix's smtp_connect_timeout, 30 by default):
    # a stopped server's address does not even refuse, and the lab wants the deferral soon.
    connect_timeout: int | None = Field(None, ge=1, le=300)
    # Backup MX for the domains of the student's backup-MX setting (workspace respaldo-mx.yaml).
    backup_mx_from_workspace: bool = False


class Service(Model):
    role: Role
    ip: Address
    hostname: Hostname
    # dns
    zones: list[ZoneName] = []
    recursion: bool = False
    allow_transfer: bool = False
    # The student writes this server's BIND options and zones (the lab's
    # workspace); labctl renders only what makes the container run.
    student_config: bool = False
    # mail
    mail_domains: list[Hostname] = []
    ports: MailPorts = MailPorts()
    mta: MtaOptions = MtaOptions()
    # webmail: the mail service it reads (IMAP) and sends (submission) through
    mail_service: str | None = None

    @model_validator(mode="after")
    def _role_fields(self) -> "Service":
        if self.role is Role.dns and not (self.zones or self.recursion or self.student_config):
            raise ValueError("a dns service needs at least one zone in 'zones' (or recursion, or student_config)")
        if self.student_config and self.role is not Role.dns:
            raise ValueError(f"'student_config' is only for dns services, not {self.role.value}")
        if self.role is Role.mail and not self.mail_domains:
            raise ValueError("a mail service needs at least one domain in 'mail_domains'")
        if self.role is not Role.dns and self.zones:
            raise ValueError(f"'zones' is only for dns services, not {self.role.value}")
        if self.role is not Role.mail and self.mta != MtaOptions():
            raise ValueError(f"'mta' is only for mail services, not {self.role.value}")
        if (self.role is Role.webmail) != (self.mail_service is not None):
            raise ValueError("'mail_service' names the mail service of a webmail service, and only of one")
        if self.role is not Role.mail and self.mail_domains:
            raise ValueError(f"'mail_domains' is only for mail services, not {self.role.value}")
        return self


class Soa(Model):
    mname: Hostname
    rname: Hostname
    serial: int = Field(ge=0, le=2**32 - 1)
    refresh: Ttl
    retry: Ttl
    expire: Ttl
    negative: Ttl


# What a zone file takes as the value of each record type (one line, no ';' or
# '(' that would start a comment or continue the record).
TXT_TEXT = re.compile(r"[\x20-\x7e\u00a0-\uffff]{0,2048}")


def _host_value(value: str) -> bool:
    return value == "@" or _hostname_ok(value)


def _address(kind: type) -> Callable[[str], bool]:
    def fits(value: str) -> bool:
        try:
            kind(value)
        except ValueError:
            return False
        return True

    return fits


def _srv(value: str) -> bool:
    """RFC 2782: priority weight port target."""
    parts = value.split()
    return (len(parts) == 4 and all(p.isdigit() and int(p) <= 65535 for p in parts[:3])
            and _host_value(parts[3]))


RECORD_VALUES = {
    "A": (_address(IPv4Address), "an IPv4 address"),
    "AAAA": (_address(IPv6Address), "an IPv6 address"),
    "NS": (_host_value, "a host name"),
    "MX": (_host_value, "a host name"),
    "CNAME": (_host_value, "a host name"),
    "PTR": (_host_value, "a host name"),
    "SRV": (_srv, "'priority weight port target' (RFC 2782)"),
    "TXT": (lambda value: bool(TXT_TEXT.fullmatch(value)), "text of at most 2048 printable characters (no control characters)"),
}


class Record(Model):
    name: str = Field(pattern=r"^(@|\*|[A-Za-z0-9_*]([A-Za-z0-9_.-]*[A-Za-z0-9])?)$", max_length=MAX_HOSTNAME)
    type: Literal["A", "AAAA", "NS", "MX", "CNAME", "TXT", "PTR", "SRV"]
    value: str = Field(min_length=1)
    priority: int | None = Field(None, ge=0, le=65535)
    ttl: Ttl | None = None

    @model_validator(mode="after")
    def _value_fits_type(self) -> "Record":
        if self.type == "MX" and self.priority is None:
            raise ValueError("an MX record needs 'priority'")
        if self.type != "MX" and self.priority is not None:
            raise ValueError(f"'priority' is only for MX records, not {self.type}")
        fits, expected = RECORD_VALUES[self.type]
        if not fits(self.value):
            raise ValueError(f"an {self.type} record needs {expected} as value, got {_shown(self.value)}")
        return self


class Zone(Model):
    ttl: Ttl
    soa: Soa
    records: list[Record]


# Dovecot's passwd-file separates fields with ':' and entries with newlines, and
# the MTA takes the same account list: letters, digits and printable ASCII only.
USER_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
PASSWORD_PATTERN = re.compile(r"[\x21-\x39\x3b-\x7e]{1,64}")
BANNER_PATTERN = re.compile(r"[\x20-\x7e]{1,200}")


class Account(Model):
    user: str
    password: str

    @field_validator("user")
    @classmethod
    def _user(cls, user: str) -> str:
        if not USER_PATTERN.fullmatch(user):
            raise ValueError(f"expected 1 to 64 lower-case letters, digits, '.', '_' or '-' (starting with a letter or digit), got {_shown(user)}")
        return user

    @field_validator("password")
    @classmethod
    def _password(cls, password: str) -> str:
        if not PASSWORD_PATTERN.fullmatch(password):
            raise ValueError("expected 1 to 64 printable ASCII characters without spaces or ':' (Dovecot passwd-file)")
        return password


class MailDomain(Model):
    banner: str | None = None
    size_limit: int = Field(10240000, gt=0)
    accounts: list[Account] = []

    @field_validator("banner")
    @classmethod
    def _banner(cls, banner: str | None) -> str | None:
        # It is the text of the SMTP greeting line.
        if banner is not None and not BANNER_PATTERN.fullmatch(banner):
            raise ValueError(f"expected 1 to 200 printable ASCII characters (the SMTP greeting), got {_shown(banner)}")
        return banner

    @field_validator("accounts")
    @classmethod
    def _one_account_per_user(cls, accounts: list[Account]) -> list[Account]:
        # Dovecot's passwd-file and the MTA would each pick one of the two passwords.
        first: dict[str, int] = {}
        for index, account in enumerate(accounts):
            if account.user in first:
                raise ValueError(f"user {account.user!r} is given twice (accounts {first[account.user]} and {index}); expected one account per user")
            first[account.user] = index
        return accounts


class Web(Model):
    title: str
    body: str


# The capture ring lives in the state folder on the host's disk.
MAX_RING_MB = 4096


class Capture(Model):
    """The capture sidecar: tcpdump on the lab bridge, as a ring of pcap files."""

    enabled: bool = True
    file_size_mb: int = Field(20, ge=1, le=1024)
    files: int = Field(10, ge=1, le=100)
    snaplen: int = Field(0, ge=0, le=262144)  # 0: whole packets

    @model_validator(mode="after")
    def _ring_fits(self) -> "Capture":
        if self.file_size_mb * self.files > MAX_RING_MB:
            raise ValueError(f"a ring of {self.files} files of {self.file_size_mb} MB is {self.file_size_mb * self.files} MB; expected at most {MAX_RING_MB} MB in all")
        return self


class Check(Model):
    """One automated check of an exercise: a kind (a check class) and its parameters."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: str
    title: str
    hint: str = ""
    params: dict[str, Any] = {}


class Exercise(Model):
    title: str
    statement: str
    # The exercise runs on a network of its own, labs/<lab>/lab.yaml (whose
    # exercise of the same number holds the checks), instead of a variant.
    lab: str | None = Field(None, pattern=SERVICE_NAME_PATTERN)
    # Partial lab definition merged over the reference lab for this exercise.
    variant: dict[str, Any] = {}
    checks: list[Check] = []


PASSWORD_RULE = "password"
STUDENT_ID_FIELD = "{id}"


class Parameter(Model):
    """A value the lab file uses as `{{ name }}`: its default runs the lab as written;
    in class mode each student gets their own (labctl.classroom.params)."""

    default: str = Field(min_length=1)
    # How a student's own value is made: "password" (derived from the class secret
    # and the student's id) or a text with {id} in it (e.g. "{id}.com.ar").
    per_student: str | None = None

    @field_validator("per_student")
    @classmethod
    def _known_rule(cls, rule: str | None) -> str | None:
        if rule is None or rule == PASSWORD_RULE or STUDENT_ID_FIELD in rule:
            return rule
        raise ValueError(f"expected {PASSWORD_RULE!r} or a text with {STUDENT_ID_FIELD} in it, e.g. '{STUDENT_ID_FIELD}.com.ar'")


class Workspace(Model):
    """What the student authors (labctl workspace / labctl apply): the domain, where
    its registration is installed, and the servers the answers are about."""

    domain: str = Field(pattern=HOSTNAME_PATTERN)
    primary: str  # the student's primary dns server (holds the zone file)...
    secondaries: list[str] = []  # ...and the ones that copy it
    registry: str  # the dns service that installs the registration...
    registry_zone: str  # ...as a delegation in this zone of it
    answers_for: list[str] = []  # services whose ports and services respuestas.yaml lists


class Access(Model):
    """SSH into the lab's client container from outside, for a student without Docker
    rights: a host port forwarded to the client's sshd, one user, one password.
    Set by class mode for each student's lab (labctl.classroom), not in lab files."""

    ssh_port: int = Field(ge=1024, le=65535)
    bind: IPv4Address = IPv4Address("0.0.0.0")
    user: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    password: str = Field(min_length=8, pattern=r"^[!-~]+$")  # printable, no spaces: chpasswd's line format


class Lab(Model):
    name: str = Field(pattern=SERVICE_NAME_PATTERN)
    title: str
    parameters: dict[str, Parameter] = {}
    network: Network
    resolver: str
    # The dns service serving the root zone "."; recursive servers start from it.
    # Without one, the resolver stands in for the root (names outside the lab fail fast).
    root: str | None = None
    search_domain: str | None = None
    services: dict[str, Service]
    zones: dict[ZoneName, Zone] = {}
    mail_domains: dict[Hostname, MailDomain] = {}
    web: Web | None = None
    capture: Capture = Capture()
    workspace: Workspace | None = None
    # `3:` is how anyone writes exercise 3 in YAML (a number); the CLI names it as text.
    exercises: dict[Annotated[str, BeforeValidator(lambda key: str(key) if type(key) is int else key)], Exercise] = {}
    access: Access | None = None

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in parameters:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"parameter name {name!r} must be letters, digits and '_' (it is written {{{{ {name} }}}})")
        return parameters

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, Service]) -> dict[str, Service]:
        for name, svc in services.items():
            if not re.match(SERVICE_NAME_PATTERN, name):
                raise ValueError(f"service name {name!r} must be lower-case letters, digits and '-'")
            if svc.role is Role.capture:
                raise ValueError(f"service {name!r}: the capture sidecar is added by labctl; configure it under 'capture'")
        return services

    @model_validator(mode="after")
    def _cross_references(self) -> "Lab":
        seen: dict[IPv4Address, str] = {}
        for name, svc in self.services.items():
            where = f"services.{name}"
            if svc.ip not in self.network.subnet:
                raise ValueError(f"{where}.ip: {svc.ip} is not inside {self.network.subnet}")
            if svc.ip in (self.network.gateway, self.network.subnet.network_address, self.network.subnet.broadcast_address):
                raise ValueError(f"{where}.ip: {svc.ip} is reserved (gateway, network or broadcast address)")
            if svc.ip in seen:
                raise ValueError(f"{where}.ip: {svc.ip} is already used by service {seen[svc.ip]!r}")
            seen[svc.ip] = name
            for zone in svc.zones:
                if zone not in self.zones:
                    raise ValueError(f"{where}.zones: no zone {zone!r} under 'zones'")
            for domain in svc.mail_domains:
                if domain not in self.mail_domains:
                    raise ValueError(f"{where}.mail_domains: no domain {domain!r} under 'mail_domains'")
            if svc.mail_service is not None and getattr(self.services.get(svc.mail_service), "role", None) is not Role.mail:
                raise ValueError(f"{where}.mail_service: {svc.mail_service!r} is not a mail service of this lab")
        resolver = self.services.get(self.resolver)
        if resolver is None or resolver.role is not Role.dns:
            raise ValueError(f"resolver: {self.resolver!r} is not a dns service of this lab")
        if self.root is not None:
            root = self.services.get(self.root)
            if root is None or "." not in root.zones:
                raise ValueError(f"root: {self.root!r} is not a dns service serving the zone '.'")
        if self.workspace is not None:
            registry = self.services.get(self.workspace.registry)
            if registry is None or self.workspace.registry_zone not in registry.zones:
                raise ValueError(f"workspace.registry: {self.workspace.registry!r} is not a dns service serving {self.workspace.registry_zone!r}")
            for name in [self.workspace.primary, *self.workspace.secondaries]:
                if name not in self.services or not self.services[name].student_config:
                    raise ValueError(f"workspace: {name!r} is not a dns service with student_config")
            for name in self.workspace.answers_for:
                if name not in self.services:
                    raise ValueError(f"workspace.answers_for: no service {name!r}")
        if any(s.role is Role.web for s in self.services.values()) and self.web is None:
            raise ValueError("web: a web service needs the 'web' section (title, body)")
        if self.access is not None and not self.by_role(Role.client):
            raise ValueError("access: SSH access needs a client service to log into")
        return self

    def by_role(self, role: Role) -> dict[str, Service]:
        return {name: svc for name, svc in self.services.items() if svc.role is role}

    def webmail_host(self, svc: Service) -> str:
        """The name a webmail service answers to: webmail.<its mail service's first domain>, as the sheet."""
        return f"webmail.{self.services[svc.mail_service].mail_domains[0]}"

    def mail_service_for(self, domain: str) -> tuple[str, Service] | None:
        for name, svc in self.by_role(Role.mail).items():
            if domain in svc.mail_domains:
                return name, svc
        return None
