"""What a check may look at: the running lab's containers, its mailboxes (read from the
Maildirs and from Dovecot), the MTA's queue, the capture (read once per run) and the file
the student handed in. Everything is fetched lazily and cached for the run."""
from __future__ import annotations

import email
import email.policy
import io
import json
import tarfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from docker import DockerClient
from docker.errors import NotFound
from docker.models.containers import Container

from labctl.capture.capture import Capture, load_capture
from labctl.capture.files import lab_capture_files
from labctl.capture.ports import lab_ports
from labctl.checks.base import Verdict
from labctl.render.configs import DOVECOT_CONFIG, MAILDIR_ROOT, MTA_CONFIG
from labctl.runtime import containers as ctr
from labctl.spec.models import Lab, Service



@dataclass(frozen=True)
class StoredMessage:
    folder: str  # "INBOX" or the folder's name as the MUA shows it
    flags: str  # Maildir info letters: S seen, R replied, ...
    message: email.message.EmailMessage
    raw: bytes


def split_address(address: str) -> tuple[str, str]:
    user, _, domain = address.partition("@")
    return user, domain


def _folder_of(parts: tuple[str, ...]) -> str | None:
    """Maildir++: Maildir/cur/x is INBOX, Maildir/.Sent/cur/x is Sent ("." nests)."""
    if len(parts) == 3 and parts[1] in ("cur", "new"):
        return "INBOX"
    if len(parts) == 4 and parts[1].startswith(".") and parts[2] in ("cur", "new"):
        return parts[1][1:].replace(".", "/")
    return None


class CheckContext:
    def __init__(self, engine: DockerClient, lab: Lab, instance: str, handin: Path | None = None) -> None:
        self.engine = engine
        self.lab = lab
        self.instance = instance
        self.handin = handin
        self._messages: dict[str, list[StoredMessage]] = {}

    @cached_property
    def containers(self) -> dict[str, Container]:
        return ctr.find_containers(self.engine, self.instance)

    def container(self, service: str) -> Container:
        found = self.containers.get(service)
        if found is None or found.status != "running":
            raise Verdict(f"service {service!r} of lab {self.instance} is not running")
        return found

    def service(self, name: str) -> Service:
        if name not in self.lab.services:
            raise Verdict(f"lab {self.lab.name} has no service {name!r}")
        return self.lab.services[name]

    def mail_service_of(self, address: str) -> str:
        found = self.lab.mail_service_for(split_address(address)[1])
        if found is None:
            raise Verdict(f"no mail service of lab {self.lab.name} holds the mailbox {address}")
        return found[0]

    def exec(self, service: str, command: list[str]) -> str:
        # stdout alone is the answer (JSON for the queue); stderr only explains a failure.
        code, (stdout, stderr) = self.container(service).exec_run(command, demux=True)
        text = (stdout or b"").decode(errors="replace")
        if code != 0:
            why = (stderr or stdout or b"").decode(errors="replace").strip()[-200:]
            raise Verdict(f"{' '.join(command[:3])}… in {service} failed (exit {code}): {why}")
        return text

    # --- mailboxes --------------------------------------------------------------------

    def messages(self, address: str) -> list[StoredMessage]:
        """Every message of an account, all folders: one tar of its Maildir."""
        if address not in self._messages:
            self._messages[address] = self._read_maildir(address)
        return self._messages[address]

    def _read_maildir(self, address: str) -> list[StoredMessage]:
        user, domain = split_address(address)
        container = self.container(self.mail_service_of(address))
        try:
            stream, _ = container.get_archive(f"{MAILDIR_ROOT}/{domain}/{user}/Maildir")
        except NotFound:
            return []  # nothing delivered yet: Dovecot and the MTA create it lazily
        found = []
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            for member in tar:
                folder = _folder_of(tuple(member.name.split("/")))
                if folder is None or not member.isfile():
                    continue
                raw = tar.extractfile(member).read()
                flags = member.name.rpartition(":2,")[2] if ":2," in member.name else ""
                message = email.message_from_bytes(raw, policy=email.policy.default)
                found.append(StoredMessage(folder, flags, message, raw))
        return found

    def folders(self, address: str) -> list[str]:
        """The account's folders as Dovecot has them on the server."""
        output = self.exec(self.mail_service_of(address),
                           ["doveadm", "-c", DOVECOT_CONFIG, "mailbox", "list", "-u", address])
        return output.split()

    # --- MTA ----------------------------------------------------------------------------

    def queue(self, service: str) -> list[dict]:
        return json.loads(self.exec(service, ["python3", "-m", "labctl.mailserver.inspect", "queue", "--json", "--config", MTA_CONFIG]))

    # --- capture ------------------------------------------------------------------------

    @cached_property
    def capture(self) -> Capture:
        files = lab_capture_files(self.instance)
        if not files:
            raise Verdict(f"lab {self.instance} has no capture files (is the capture sidecar running?)")
        return load_capture(files, lab_ports(self.lab))

    def port(self, service: str, port: int | str) -> int:
        """A port given as a number or by its name in the service (smtp, submission, ...)."""
        if isinstance(port, int):
            return port
        return getattr(self.service(service).ports, port)
