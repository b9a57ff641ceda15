"""respuestas.yaml: the student's answers to items d) and e), per server of the
domain: which services it offers, on which port and transport."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

# The names a student may give a service; two names of one protocol (smtp and
# submission: both speak SMTP) are both right for it.
SERVICE_NAMES = ("dns", "smtp", "submission", "pop3", "imap", "http", "https", "pop3s", "imaps", "smtps")


class Offered(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    servicio: Literal[SERVICE_NAMES]  # type: ignore[valid-type]
    puerto: int = Field(ge=1, le=65535)
    transporte: Literal["tcp", "udp"]

    @field_validator("servicio", "transporte", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        """The course writes them in capitals (DNS, SMTP, TCP, UDP): either case is the same answer."""
        return value.strip().lower() if isinstance(value, str) else value


class Answers(RootModel[dict[str, list[Offered]]]):
    def for_server(self, server: str) -> list[Offered] | None:
        return self.root.get(server)
