"""Wiring: the listeners, the spool, the group commit, the delivery worker and the log in one process."""
from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import replace
from typing import Callable

from .backup_mx import RelayDomains
from .commit import GroupCommit
from .config import Config
from .delivery import DeliveryWorker
from .eventlog import EventLog
from .interfaces import interface_addresses
from .limits import SessionLimits
from .session import LabSMTP
from .spool import QueuedMessage, Spool
from .throttle import AuthThrottle


class MailService:
    """What the SMTP sessions share; also the aiosmtpd 'handler' object."""

    def __init__(self, config: Config):
        config = replace(config, own_addresses=interface_addresses())
        self.config = config
        self.events = EventLog(config.log_file, max_bytes=config.log_max_bytes, backups=config.log_backups)
        self.session_limits = SessionLimits(config.max_sessions, config.max_sessions_per_client)
        # Not auth_*: aiosmtpd would take a handler attribute named so for a SASL mechanism.
        self.login_throttle = AuthThrottle(config.auth_failure_delay, config.auth_failure_delay_max)
        self.relay_domains = RelayDomains(config.relay_domains, config.relay_domains_file, self.events)
        self.spool = Spool(config.spool_dir)
        self.committer = GroupCommit(self.events)
        self.worker = DeliveryWorker(config, self.spool, self.events, self.committer)
        self.ports: dict[str, int] = {}  # listener name -> bound port (useful with port 0)
        self._servers: list[asyncio.AbstractServer] = []
        self._worker_task: asyncio.Task | None = None

    async def accept(self, message: QueuedMessage, *content: bytes | bytearray, accepted: Callable[[], None]) -> None:
        """Make the message durable, then call `accepted` (once): local recipients are delivered
        at once, whoever is left is queued for the worker. When every recipient is delivered,
        `accepted` is called by the callback that learns it, a turn of the event loop before
        this returns: under load a turn is milliseconds of every session's work. A lone
        client's copies are made durable on the loop itself (DeliveryWorker.deliver_on_arrival)."""
        await self.worker.deliver_on_arrival(message, content, delivered_all=accepted,
                                             alone=self.session_limits.sessions == 1)
        if not message.is_done:
            # Shielded: a client leaving now must not leave a stored message unknown to the worker.
            await asyncio.shield(self._queue(message, content))
            accepted()

    async def _queue(self, message: QueuedMessage, content: tuple[bytes | bytearray, ...]) -> None:
        await asyncio.to_thread(self.spool.store, message, *content)
        self.worker.add(message)

    def queue_run(self, domain: str) -> None:
        self.worker.queue_run(domain)

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.config.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.committer.start()
        tls_context = self._tls_context()
        for listener in self.config.listeners:
            server = await loop.create_server(
                lambda listener=listener: LabSMTP(self, listener, tls_context),
                host=listener.host, port=listener.port, reuse_address=True)
            self._servers.append(server)
            self.ports[listener.name] = server.sockets[0].getsockname()[1]
            self.events.write("listening", listener=listener.name, host=listener.host,
                              port=self.ports[listener.name], kind=listener.kind)
        self._worker_task = loop.create_task(self.worker.run())

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        if self._worker_task is not None:
            self._worker_task.cancel()
            await asyncio.gather(self._worker_task, return_exceptions=True)
        await self.committer.stop()
        self.events.close()


async def serve(config: Config) -> None:
    """Run until SIGTERM or SIGINT."""
    service = MailService(config)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await service.stop()
