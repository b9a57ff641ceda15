"""Typed model of a lab definition (labs/<lab>/lab.yaml).

Validation happens here, once, when a lab is loaded: everything downstream
(rendering, runtime, checks) can trust these objects.
"""
from __future__ import annotations

import re
from enum import Enum
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HOSTNAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
SERVICE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,30}$"


class Model(BaseModel):
    # Unknown keys are typos in a hand-written file: reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(str, Enum):
    dns = "dns"
    mail = "mail"
    web = "web"
    client = "client"
    capture = "capture"  # added by labctl to every lab, never declared as a service


class Network(Model):
    name: str = Field(pattern=SERVICE_NAME_PATTERN)
    subnet: IPv4Network
    gateway: IPv4Address

    @model_validator(mode="after")
    def _gateway_in_subnet(self) -> "Network":
        if self.gateway not in self.subnet:
            raise ValueError(f"gateway {self.gateway} is not inside subnet {self.subnet}")
        return self


class MailPorts(Model):
    smtp: int = Field(25, ge=1, le=65535)
    submission: int = Field(587, ge=1, le=65535)
    pop3: int = Field(110, ge=1, le=65535)
    imap: int = Field(143, ge=1, le=65535)


class Service(Model):
    role: Role
    ip: IPv4Address
    hostname: str = Field(pattern=HOSTNAME_PATTERN)
    # dns
    zones: list[str] = []
    recursion: bool = False
    allow_transfer: bool = False
    # mail
    mail_domains: list[str] = []
    ports: MailPorts = MailPorts()

    @model_validator(mode="after")
    def _role_fields(self) -> "Service":
        if self.role is Role.dns and not self.zones:
            raise ValueError("a dns service needs at least one zone in 'zones'")
        if self.role is Role.mail and not self.mail_domains:
            raise ValueError("a mail service needs at least one domain in 'mail_domains'")
        if self.role is not Role.dns and self.zones:
            raise ValueError(f"'zones' is only for dns services, not {self.role.value}")
        if self.role is not Role.mail and self.mail_domains:
            raise ValueError(f"'mail_domains' is only for mail services, not {self.role.value}")
        return self


class Soa(Model):
    mname: str = Field(pattern=HOSTNAME_PATTERN)
    rname: str = Field(pattern=HOSTNAME_PATTERN)
    serial: int = Field(ge=0, le=2**32 - 1)
    refresh: int = Field(ge=0)
    retry: int = Field(ge=0)
    expire: int = Field(ge=0)
    negative: int = Field(ge=0)


class Record(Model):
    name: str = Field(pattern=r"^(@|\*|[A-Za-z0-9_*]([A-Za-z0-9_.-]*[A-Za-z0-9])?)$")
    type: Literal["A", "AAAA", "NS", "MX", "CNAME", "TXT", "PTR"]
    value: str = Field(min_length=1)
    priority: int | None = Field(None, ge=0, le=65535)
    ttl: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _value_fits_type(self) -> "Record":
        if self.type == "MX" and self.priority is None:
            raise ValueError("an MX record needs 'priority'")
        if self.type != "MX" and self.priority is not None:
            raise ValueError(f"'priority' is only for MX records, not {self.type}")
        if self.type == "A":
            try:
                IPv4Address(self.value)
            except ValueError:
                raise ValueError(f"an A record needs an IPv4 address as value, got {self.value!r}") from None
        return self


class Zone(Model):
    ttl: int = Field(ge=0)
    soa: Soa
    records: list[Record]


class Account(Model):
    user: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    password: str = Field(min_length=1)


class MailDomain(Model):
    banner: str | None = None
    size_limit: int = Field(10240000, gt=0)
    accounts: list[Account] = []


class Web(Model):
    title: str
    body: str


class Capture(Model):
    """The capture sidecar: tcpdump on the lab bridge, as a ring of pcap files."""

    enabled: bool = True
    file_size_mb: int = Field(20, ge=1, le=10_000)
    files: int = Field(10, ge=1, le=1000)
    snaplen: int = Field(0, ge=0, le=262144)  # 0: whole packets


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
    # Partial lab definition merged over the reference lab for this exercise.
    variant: dict[str, Any] = {}
    checks: list[Check] = []


class Lab(Model):
    name: str = Field(pattern=SERVICE_NAME_PATTERN)
    title: str
    network: Network
    resolver: str
    services: dict[str, Service]
    zones: dict[str, Zone] = {}
    mail_domains: dict[str, MailDomain] = {}
    web: Web | None = None
    capture: Capture = Capture()
    exercises: dict[str, Exercise] = {}

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
        resolver = self.services.get(self.resolver)
        if resolver is None or resolver.role is not Role.dns:
            raise ValueError(f"resolver: {self.resolver!r} is not a dns service of this lab")
        if any(s.role is Role.web for s in self.services.values()) and self.web is None:
            raise ValueError("web: a web service needs the 'web' section (title, body)")
        return self

    def by_role(self, role: Role) -> dict[str, Service]:
        return {name: svc for name, svc in self.services.items() if svc.role is role}

    def mail_service_for(self, domain: str) -> tuple[str, Service] | None:
        for name, svc in self.by_role(Role.mail).items():
            if domain in svc.mail_domains:
                return name, svc
        return None
