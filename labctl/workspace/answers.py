"""respuestas.yaml: the student's answers to items d) and e), per server of the
domain: which services it offers, on which port and transport."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

# The names a student may give a service; two names of one protocol (smtp and
# submission: both speak SMTP) are both right for it.
SERVICE_NAMES = ("dns", "smtp", "submission", "pop3", "imap", "http", "https", "pop3s", "imaps", "smtps")
# Other names of the same services: /etc/services' own (domain, www, pop-3, imap2, and
# submissions with its aliases), and the course's spellings POP and IMAP4.
SERVICE_ALIASES = {"domain": "dns", "www": "http", "pop-3": "pop3", "pop": "pop3", "imap2": "imap", "imap4": "imap",
                   "submissions": "smtps", "ssmtp": "smtps"}
# A port written with its transport, as /etc/services (25/tcp) or the course (TCP 25) writes it.
PORT_WITH_TRANSPORT = re.compile(r"^(?:(tcp|udp)\s*/?\s*)?(\d+)(?:\s*/?\s*\(?(tcp|udp)\)?)?$", re.IGNORECASE)


class Offered(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    servicio: Literal[SERVICE_NAMES]  # type: ignore[valid-type]
    puerto: int = Field(ge=1, le=65535)
    transporte: Literal["tcp", "udp"]

    @model_validator(mode="before")
    @classmethod
    def _port_with_transport(cls, data: object) -> object:
        """puerto: 25/tcp (or TCP 25) is the number and, when transporte does not say it, the
        transport; the two must agree."""
        if not isinstance(data, dict) or not isinstance(data.get("puerto"), str):
            return data
        match = PORT_WITH_TRANSPORT.match(data["puerto"].strip())
        if match is None or match[1] and match[3]:
            return data  # not a port: the field's own error says so
        written = (match[1] or match[3] or "").lower()
        given = data.get("transporte")
        if written and isinstance(given, str) and given.strip().lower() != written:
            raise ValueError(f"puerto {data['puerto']!r} says {written}, transporte {given!r}: one transport per line")
        return {**data, "puerto": match[2], **({"transporte": written} if written and given is None else {})}

    @field_validator("servicio", "transporte", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        """The course writes them in capitals (DNS, SMTP, TCP, UDP): either case is the same
        answer, and so is another name of the same service."""
        if not isinstance(value, str):
            return value
        value = value.strip().lower()
        return SERVICE_ALIASES.get(value, value) if info.field_name == "servicio" else value


class Answers(RootModel[dict[str, list[Offered]]]):
    def for_server(self, server: str) -> list[Offered] | None:
        return self.root.get(server)
