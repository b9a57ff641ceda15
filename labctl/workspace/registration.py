"""registro.yaml: what the student declares when registering the domain (item a):
its name servers and, for those inside the domain, their addresses (glue)."""
from __future__ import annotations

from ipaddress import IPv4Address

from pydantic import BaseModel, ConfigDict, Field

from labctl.render.templating import render
from labctl.spec.models import HOSTNAME_PATTERN


class NameServer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nombre: str = Field(pattern=HOSTNAME_PATTERN)
    ip: IPv4Address | None = None


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dominio: str = Field(pattern=HOSTNAME_PATTERN)
    servidores: list[NameServer] = []


def registration_problem(registration: Registration, domain: str) -> str | None:
    """Why the registry would not accept it (one line), or None."""
    if registration.dominio.rstrip(".").lower() != domain:
        return f"dominio: expected your domain {domain}, got {registration.dominio!r}"
    for i, server in enumerate(registration.servidores):
        inside = server.nombre.rstrip(".").lower().endswith("." + domain)
        if inside and server.ip is None:
            return f"servidores[{i}].ip: {server.nombre} is inside {domain}, so the registry needs its address (glue)"
    return None


def delegation_text(registration: Registration) -> str:
    """The records the registry adds to its zone (a zone-file fragment)."""
    return render("workspace/delegation.db.j2", r=registration)
