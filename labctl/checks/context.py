"""What a check may look at: the running lab's containers, its mailboxes (read from the
Maildirs and from Dovecot), the MTA's queue and log, Dovecot's logins, the capture (read
once per run, without labctl's own probe connections) and the file the student handed in.
Everything is fetched lazily and cached for the run."""
from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from docker import DockerClient
from docker.errors import NotFound
from docker.models.containers import Container

from labctl.capture.capture import Capture, load_capture
from labctl.capture.files import dropped_by_kernel, lab_capture_files
from labctl.capture.ports import lab_ports
from labctl.capture.probes import Probe, load_probes, without_probes
from labctl.capture.tcp import TcpStream
from labctl.checks.base import Verdict
from labctl.checks.dovecot_log import Login, parse_logins
from labctl.checks.maildir_tar import MaildirContents, StoredMessage, UnreadMessage, read_maildir_tar
from labctl.checks.mta_log import Delivery, local_deliveries
from labctl.render.configs import DOVECOT_CONFIG, MAILDIR_ROOT, MTA_CONFIG
from labctl.runtime import containers as ctr
from labctl.spec.models import Lab, Role, Service


def split_address(address: str) -> tuple[str, str]:
    user, _, domain = address.partition("@")
    return user, domain


def _fulfil(future: Future, measure: Callable[[], Any]) -> None:
    try:
        future.set_result(measure())
    except BaseException as exc:  # noqa: BLE001 - raised again by future.result(), in the asker's thread
        future.set_exception(exc)


class CheckContext:
    def __init__(self, engine: DockerClient, lab: Lab, instance: str, handin: Path | None = None) -> None:
        self.engine = engine
        self.lab = lab
        self.instance = instance
        self.handin = handin
        self._maildirs: dict[str, MaildirContents] = {}
        self._mta_events: dict[str, list[dict]] = {}
        self._measured: dict[str, Future] = {}
        self._logins: dict[str, list[Login]] = {}

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

    def measured(self, key: str, measure: Callable[[], Any]) -> Any:
        """What several checks of one run look at (a probe of the lab), measured once
        (or waited for, when `measure_soon` started it); a failure is every asker's."""
        if key not in self._measured:
            self._measured[key] = Future()
            _fulfil(self._measured[key], measure)
        return self._measured[key].result()

    def measure_soon(self, key: str, measure: Callable[[], Any]) -> None:
        """Start a slow measurement that waits on the lab (a probe run inside a container)
        in the background, so that the run's other checks go on meanwhile."""
        if key not in self._measured:
            self._measured[key] = Future()
            threading.Thread(target=_fulfil, args=(self._measured[key], measure), name=key, daemon=True).start()

    # --- mailboxes --------------------------------------------------------------------

    def messages(self, address: str) -> list[StoredMessage]:
        """Every readable message of an account, all folders (one tar of its Maildir)."""
        return self._maildir(address).messages

    def unread_messages(self, address: str) -> list[UnreadMessage]:
        """The account's messages a check could not read (hostile or huge), to report."""
        return self._maildir(address).unread

    def _maildir(self, address: str) -> MaildirContents:
        if address not in self._maildirs:
            user, domain = split_address(address)
            container = self.container(self.mail_service_of(address))
            # The log first: dockerd holds the container's lock while it streams an
            # archive, so an exec into it (the log) would wait for a stream not yet read.
            known = {d.queue_id: d.summary or d.unreadable for d in self.deliveries(address)
                     if d.summary is not None or d.unreadable}
            try:
                stream, _ = container.get_archive(f"{MAILDIR_ROOT}/{domain}/{user}/Maildir")
            except NotFound:
                # Nothing delivered yet: Dovecot and the MTA create it lazily.
                self._maildirs[address] = MaildirContents()
            else:
                try:
                    self._maildirs[address] = read_maildir_tar(stream, known)
                finally:
                    for _ in stream:  # the rest (or all, after an error): dockerd unlocks at its end
                        pass
        return self._maildirs[address]

    def folders(self, address: str) -> list[str]:
        """The account's folders as Dovecot has them on the server."""
        output = self.exec(self.mail_service_of(address),
                           ["doveadm", "-c", DOVECOT_CONFIG, "mailbox", "list", "-u", address])
        return [line.strip() for line in output.splitlines() if line.strip()]

    # --- MTA ----------------------------------------------------------------------------

    def queue(self, service: str) -> list[dict]:
        return json.loads(self.exec(service, ["python3", "-m", "labctl.mailserver.inspect", "queue", "--json", "--config", MTA_CONFIG]))

    def mta_events(self, service: str) -> list[dict]:
        """The MTA's event log (sessions, deliveries), oldest first."""
        if service not in self._mta_events:
            command = ["python3", "-m", "labctl.mailserver.inspect", "log", "--json", "--config", MTA_CONFIG]
            code, (stdout, stderr) = self.container(service).exec_run(command, demux=True)
            if code != 0 and b"no log yet" not in (stderr or b""):
                why = (stderr or b"").decode(errors="replace").strip()[-200:]
                raise Verdict(f"cannot read the log of the MTA in {service} (exit {code}): {why}")
            self._mta_events[service] = [json.loads(line) for line in (stdout or b"").splitlines()]
        return self._mta_events[service]

    def deliveries(self, address: str) -> list[Delivery]:
        """What the MTA's log says it delivered into the account's Maildir."""
        return local_deliveries(self.mta_events(self.mail_service_of(address)), address)

    def logins(self, service: str) -> list[Login]:
        """Dovecot's logins (POP3 and IMAP, over TLS or not), from the mail container's log."""
        if service not in self._logins:
            self._logins[service] = parse_logins(self.container(service).logs(timestamps=True).decode(errors="replace"))
        return self._logins[service]

    def is_lab_server(self, ip: str) -> bool:
        """An address of one of the lab's own servers (not the student's host or client)."""
        return ip in {str(s.ip) for s in self.lab.services.values() if s.role is not Role.client}

    # --- capture ------------------------------------------------------------------------

    @cached_property
    def capture(self) -> Capture:
        files = lab_capture_files(self.instance)
        if not files:
            raise Verdict(f"lab {self.instance} has no capture files (is the capture sidecar running?)")
        return load_capture(files, lab_ports(self.lab))

    @cached_property
    def dropped_by_kernel(self) -> int:
        """Packets the capture lost before tcpdump could read them (tcpdump's own count, every
        start of the sidecar): when a stream the check needs has holes and this is not 0, the
        hole may be the capture's, not the student's, and the detail should say so."""
        return dropped_by_kernel(lab_capture_files(self.instance))

    @cached_property
    def probes(self) -> list[Probe]:
        """labctl's own connections (readiness probes of up/reset): never the student's."""
        return load_probes(self.instance)

    def is_probe(self, client_port: int, server_ip: str, server_port: int | None, ts: float) -> bool:
        return any(probe.matches(client_port, server_ip, server_port, ts) for probe in self.probes)

    def streams(self, proto: str) -> list[TcpStream]:
        """The capture's connections of a protocol, without labctl's probes."""
        return without_probes(self.capture.tcp_streams(proto), self.probes)

    def port(self, service: str, port: int | str) -> int:
        """A port given as a number or by its name in the service (smtp, submission, ...)."""
        if isinstance(port, int):
            return port
        return getattr(self.service(service).ports, port)
