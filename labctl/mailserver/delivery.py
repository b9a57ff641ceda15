"""The delivery worker: an asyncio task that empties the spool.

Local recipients go into Maildirs, remote ones are grouped by domain and
relayed, one connection per domain and queue run. Every attempt is logged and
its result saved to the spool before anything that depends on it happens, so
that a restart continues exactly where the crash left off.
"""
from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

from . import dsn, maildir, quota
from .addresses import domain_of, local_mailbox, reply_form
from .commit import GroupCommit
from .config import Config
from .durable import StagedFile
from .eventlog import EventLog
from .headers import delivery_headers
from .relay import DestinationError, Outcome, Parcel, send_batch
from .spool import DEFERRED, DELIVERED, FAILED, RELAYED, QueuedMessage, Recipient, Spool
from .summary import UnreadableMessage, summarise

LOCAL_DELIVERY_CONCURRENCY = 8
# Messages up to this size are summarised for the delivery log on the event loop (about
# 2 ms at this size); larger ones in a thread.
SUMMARY_ON_LOOP_LIMIT = 64 * 1024
DELIVERED_REPLY = "250 2.0.0 delivered to maildir"
ARRIVAL_OUTCOME = Outcome(250, DELIVERED_REPLY, "2.0.0")  # a copy delivered while the client waited
# Messages that fall due together are delivered by one thread call, up to this many.
LOCAL_BATCH = 32


class DeliveryWorker:
    def __init__(self, config: Config, spool: Spool, events: EventLog, committer: GroupCommit):
        self.config = config
        self.spool = spool
        self.events = events
        self.committer = committer
        self.messages: dict[str, QueuedMessage] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._in_flight: set[int] = set()  # id() of recipients being attempted now
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._local_slots = asyncio.Semaphore(LOCAL_DELIVERY_CONCURRENCY)

    # --- what the SMTP side calls ----------------------------------------------------

    def add(self, message: QueuedMessage) -> None:
        self.messages[message.queue_id] = message
        self._wake.set()

    @property
    def busy(self) -> bool:
        """An attempt is under way (its results are not settled yet)."""
        return bool(self._in_flight)

    def queue_run(self, domain: str) -> None:
        """ETRN: retry now every message with a recipient waiting in `domain` (all if '')."""
        for message in self.messages.values():
            if any(not r.is_final and (not domain or domain_of(r.address) == domain) for r in message.recipients):
                message.next_attempt = 0
        self._wake.set()

    # --- on arrival ---------------------------------------------------------------------

    async def deliver_on_arrival(self, message: QueuedMessage, content: tuple[bytes | bytearray, ...],
                                 delivered_all: Callable[[], None], *, alone: bool = False) -> None:
        """The first attempt for local recipients, made while the client waits for its 250,
        as Postfix's local delivery would make it a moment later.

        A recipient whose Maildir file is durable is delivered: the Maildir's fsync is then
        the message's durable point and it never touches the spool. Everyone else (remote,
        wanting a success notice, or not delivered here for any reason) stays pending, for
        the caller to queue; the queue's attempt then logs why it fails, if it does.
        `delivered_all` is called as soon as every recipient is delivered, if they all are.

        `alone`: the client is the only one connected. Its copies are then written and fsynced
        here, on the event loop, which keeps nobody else waiting meanwhile: handing them to the
        commit helper and back costs two process wake-ups, a fifth of a lone client's wait for
        its 250 (bench_mta). With others connected the helper commits for them all together
        while the loop goes on serving them.
        """
        whole = b"".join(content)
        evidence: dict = {}
        if len(whole) > SUMMARY_ON_LOOP_LIMIT:
            # Read off the loop, and before anything is written: a client leaving meanwhile
            # cancels this with nothing left behind.
            evidence.update(await asyncio.to_thread(self._what_was_delivered, message, whole))
        if alone:
            self._record_arrival(message, self._write_copies(message, content), evidence, whole, delivered_all)
            return
        writes = self._stage_copies(message, content)
        if not writes:
            return
        try:
            durable = self.committer.submit(
                [staged for _, staged in writes],
                lambda errors: self._record_arrival(message, [(recipient, error) for (recipient, _), error
                                                              in zip(writes, errors)], evidence, whole, delivered_all))
        except OSError:
            return
        await durable

    def _local_copies(self, message: QueuedMessage) -> Iterator[tuple[Recipient, Path, str, bytes]]:
        """Each recipient delivered on arrival, with its Maildir, file name and delivery fields."""
        for recipient in message.recipients:
            if not self._is_local(recipient) or dsn.wants_notice(recipient, dsn.DELIVERED):
                continue
            target = self._maildir_file(message, recipient)
            if target is not None:
                yield recipient, *target

    def _write_copies(self, message: QueuedMessage, content: tuple[bytes | bytearray, ...]) -> list[tuple[Recipient, OSError | None]]:
        """Each eligible local recipient's copy, durable in its Maildir when this returns (or the error)."""
        results: list[tuple[Recipient, OSError | None]] = []
        try:
            for recipient, directory, name, headers in self._local_copies(message):
                try:
                    maildir.deliver_fresh(directory, name, headers, *content)
                except OSError as error:
                    results.append((recipient, error))
                    continue
                quota.added(directory, len(headers) + sum(map(len, content)))
                results.append((recipient, None))
        except Exception as error:  # a bug; the queue still delivers the rest (a copy in place is found there)
            self.events.write("internal_error", where="maildir", error=repr(error), queue_ids=[message.queue_id])
        return results

    def _stage_copies(self, message: QueuedMessage, content: tuple[bytes | bytearray, ...]) -> list[tuple[Recipient, StagedFile]]:
        """Each eligible local recipient's copy, staged for the commit helper; none if any fails."""
        writes: list[tuple[Recipient, StagedFile]] = []
        try:
            for recipient, directory, name, headers in self._local_copies(message):
                writes.append((recipient, maildir.stage(directory, name, headers, *content)))
                quota.added(directory, len(headers) + sum(map(len, content)))
        except Exception as error:
            for _, staged in writes:
                staged.close()
            if not isinstance(error, OSError):  # a bug; the queue still delivers the message
                self.events.write("internal_error", where="maildir", error=repr(error), queue_ids=[message.queue_id])
            return []
        return writes

    def _record_arrival(self, message: QueuedMessage, results: list[tuple[Recipient, OSError | None]],
                        evidence: dict, whole: bytes, delivered_all: Callable[[], None]) -> None:
        delivered = [recipient for recipient, error in results if error is None]
        if not delivered:
            return
        for recipient in delivered:
            self._apply(recipient, ARRIVAL_OUTCOME, via="maildir")  # now: the caller queues the others
        if len(delivered) == len(message.recipients):
            delivered_all()
        # The delivery lines (and what the message says, 0.1 ms to read) on the loop's next turn:
        # after every 250 of the helper's answer, which may be the answer for many sessions.
        asyncio.get_running_loop().call_soon(self._log_arrival, message, delivered, evidence, whole)

    def _log_arrival(self, message: QueuedMessage, delivered: list[Recipient], evidence: dict, whole: bytes) -> None:
        if not evidence:
            evidence.update(self._what_was_delivered(message, whole))
        for recipient in delivered:
            self._log_attempt(message, recipient, ARRIVAL_OUTCOME, via="maildir", **evidence)

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        for message in await asyncio.to_thread(self.spool.load_all):
            self.messages[message.queue_id] = message
        try:
            while True:
                self._wake.clear()
                now = time.time()
                next_due = self._start_due_attempts(now)
                timeout = None if next_due is None else max(0.0, next_due - now)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_due_attempts(self, now: float) -> float | None:
        """Start delivery tasks for everything due; return when the next thing falls due."""
        next_due = None
        by_domain: dict[str, list[tuple[QueuedMessage, list[Recipient]]]] = defaultdict(list)
        local_items: list[tuple[QueuedMessage, list[Recipient]]] = []
        for message in list(self.messages.values()):
            if message.next_attempt > now:
                next_due = message.next_attempt if next_due is None else min(next_due, message.next_attempt)
                continue
            waiting = [r for r in message.recipients if not r.is_final and id(r) not in self._in_flight]
            self._in_flight.update(id(r) for r in waiting)
            local = [r for r in waiting if self._is_local(r)]
            if local:
                local_items.append((message, local))
            remote: dict[str, list[Recipient]] = defaultdict(list)
            for recipient in waiting:
                if not self._is_local(recipient):
                    remote[domain_of(recipient.address)].append(recipient)
            for domain, recipients in remote.items():
                by_domain[domain].append((message, recipients))
        for start in range(0, len(local_items), LOCAL_BATCH):
            batch = local_items[start:start + LOCAL_BATCH]
            self._spawn(self._deliver_locally(batch), batch, via="maildir")
        for domain, items in by_domain.items():
            self._spawn(self._relay(domain, items), items, via="smtp")
        return next_due

    def _spawn(self, coroutine, items: list[tuple[QueuedMessage, list[Recipient]]], *, via: str) -> None:
        task = asyncio.get_running_loop().create_task(self._attempt(coroutine, items, via=via))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, coroutine, items: list[tuple[QueuedMessage, list[Recipient]]], *, via: str) -> None:
        """Run one delivery task; a bug in it defers its recipients instead of losing them."""
        attempts_before = {id(r): r.attempts for _, recipients in items for r in recipients}
        try:
            await coroutine
        except Exception as error:
            self.events.write("internal_error", where=via, error=repr(error),
                              queue_ids=[m.queue_id for m, _ in items])
            outcome = Outcome(451, f"451 4.3.0 internal error: {error!r}", "4.3.0")
            for message, recipients in items:
                # Those the task already recorded keep their outcome; the rest are retried later.
                unrecorded = [r for r in recipients if r.attempts == attempts_before[id(r)] and not r.is_final]
                try:
                    notices = [self._record(message, r, outcome, via=via) for r in unrecorded]
                    await self._settle(message, unrecorded, notices)
                except Exception as again:
                    self.events.write("internal_error", where=via, error=repr(again), queue_ids=[message.queue_id])
                    message.next_attempt = max(message.next_attempt, time.time() + self.config.retry.initial)
        finally:
            for _, recipients in items:
                for recipient in recipients:
                    self._in_flight.discard(id(recipient))
            self._wake.set()

    def _is_local(self, recipient: Recipient) -> bool:
        return local_mailbox(recipient.address, self.config.local_destinations) is not None

    # --- attempts -----------------------------------------------------------------------

    async def _deliver_locally(self, items: list[tuple[QueuedMessage, list[Recipient]]]) -> None:
        """The messages that fell due together, in one trip to a thread: each trip costs
        a GIL hand-over that the SMTP sessions on the event loop wait for."""
        async with self._local_slots:
            results = await asyncio.to_thread(lambda: [self._store_all(m, recipients) for m, recipients in items])
        for (message, recipients), (delivered, outcomes) in zip(items, results):
            notices = [self._record(message, recipient, outcome, via="maildir", **(delivered if outcome.success else {}))
                       for recipient, outcome in zip(recipients, outcomes)]
            await self._settle(message, recipients, notices)

    def _store_all(self, message: QueuedMessage, recipients: list[Recipient]) -> tuple[dict, list[Outcome]]:
        content = self.spool.content(message.queue_id)
        delivered = self._what_was_delivered(message, content)
        return delivered, [self._store_in_maildir(message, recipient, content) for recipient in recipients]

    @staticmethod
    def _what_was_delivered(message: QueuedMessage, content: bytes) -> dict:
        """Who handed the message over and what it says: the delivery log stays evidence
        after a POP3 client downloads and deletes the message."""
        try:
            # The LF form is what the Maildir holds (and what the checks read); it also spares
            # the parser a string object per line: 4 MiB of empty lines cost 142 MiB in CRLF, 28 in LF.
            summary = summarise(content.replace(b"\r\n", b"\n")).to_event()
        except UnreadableMessage as error:
            summary = {"unreadable": str(error)}
        return {"client_ip": message.client_ip, "auth_user": message.auth_user, "summary": summary}

    def _maildir_file(self, message: QueuedMessage, recipient: Recipient) -> tuple[Path, str, bytes] | None:
        """Which Maildir gets `recipient`'s copy, under which name, starting with which fields;
        None if the account was removed since the message was accepted."""
        local = local_mailbox(recipient.address, self.config.local_destinations)
        account = local and self.config.account_for_mailbox(local.local_part, local.domain)
        if account is None:
            return None
        # Deterministic name: a crash-and-retry finds the earlier copy (see maildir.py).
        name = f"{int(message.arrival)}.Q{message.queue_id}R{message.recipients.index(recipient)}.{self.config.hostname}"
        # Postfix's local(8): X-Original-To: as the client gave it, Delivered-To: as it was resolved
        # (unquoted, a final dot dropped); both with their case and address extension.
        headers = delivery_headers(mail_from=message.mail_from, original_to=recipient.original or recipient.address,
                                   delivered_to=reply_form(recipient.address).removesuffix("."))
        return maildir.maildir_path(self.config.maildir_root, local.domain, account.user), name, headers

    def _store_in_maildir(self, message: QueuedMessage, recipient: Recipient, content: bytes) -> Outcome:
        target = self._maildir_file(message, recipient)
        if target is None:
            return Outcome(550, "550 5.1.1 User unknown in local recipient table", "5.1.1")
        directory, name, headers = target
        try:
            fresh = maildir.deliver(directory, name, headers, content)
        except OSError as error:
            return Outcome(451, f"451 4.3.0 cannot write to maildir: {error}", "4.3.0")
        quota.added(directory, len(headers) + len(content))
        return Outcome(250, DELIVERED_REPLY + ("" if fresh else " (already there)"), "2.0.0")

    async def _relay(self, domain: str, items: list[tuple[QueuedMessage, list[Recipient]]]) -> None:
        from .exchangers import mail_exchangers  # not at start: see there

        try:
            hosts = await mail_exchangers(domain, self.config.resolvers, self.config.resolver_port,
                                          self_name=self.config.hostname, self_addresses=self.config.relay_self_addresses)
        except DestinationError as error:
            outcomes = {id(r): error.outcome for _, recipients in items for r in recipients}
            hosts = []
        else:
            parcels = [Parcel(m, recipients, functools.partial(self.spool.content, m.queue_id)) for m, recipients in items]
            self.events.write("relay_connect", domain=domain, hosts=[h.address for h in hosts],
                              port=self.config.relay_port, queue_ids=[m.queue_id for m, _ in items])
            outcomes = await asyncio.to_thread(send_batch, hosts, self.config.relay_port, self.config.hostname,
                                               parcels, self.config.timeouts.command, self.config.timeouts.connect)
        for message, recipients in items:
            notices = [self._record(message, r, outcomes[id(r)], via="smtp") for r in recipients]
            await self._settle(message, recipients, notices)

    def _record(self, message: QueuedMessage, recipient: Recipient, outcome: Outcome, *, via: str,
                **logged) -> str | None:
        """Apply one attempt's outcome and log it; return the DSN action it calls for, if any."""
        self._apply(recipient, outcome, via=via)
        self._log_attempt(message, recipient, outcome, via=via, **logged)
        action = {DELIVERED: dsn.DELIVERED, RELAYED: dsn.RELAYED, FAILED: dsn.FAILED,
                  DEFERRED: dsn.DELAYED}[recipient.status]
        if recipient.status == RELAYED and outcome.remote_has_dsn:
            return None  # a relay that announced DSN takes over success notices (RFC 3461 5.2.2)
        return action if dsn.wants_notice(recipient, action) else None

    @staticmethod
    def _apply(recipient: Recipient, outcome: Outcome, *, via: str) -> None:
        recipient.attempts += 1
        recipient.reason = outcome.text
        recipient.status_code = outcome.enhanced
        recipient.remote_mta = outcome.remote_mta
        if outcome.success:
            recipient.status = DELIVERED if via == "maildir" else RELAYED
        else:
            recipient.status = FAILED if outcome.permanent else DEFERRED

    def _log_attempt(self, message: QueuedMessage, recipient: Recipient, outcome: Outcome, *, via: str,
                     **logged) -> None:
        if via == "maildir" and (mailbox := local_mailbox(recipient.address, self.config.local_destinations)):
            # The account it went to: alumnoimap@mail.redes.unlp.edu.ar is alumnoimap@redes.unlp.edu.ar's.
            logged["mailbox"] = f"{mailbox.local_part}@{mailbox.domain}"
        self.events.write("delivery", queue_id=message.queue_id, recipient=recipient.address, via=via,
                          status=recipient.status, reply=outcome.text, attempt=recipient.attempts,
                          remote_has_dsn=outcome.remote_has_dsn, **logged)

    # --- after an attempt ---------------------------------------------------------------------

    def _backoff(self, message: QueuedMessage) -> float:
        attempts = max(r.attempts for r in message.recipients if r.status == DEFERRED)
        return min(self.config.retry.initial * 2 ** (attempts - 1), self.config.retry.max_interval)

    async def _settle(self, message: QueuedMessage, recipients: list[Recipient], notices: list[str | None]) -> None:
        """Persist the attempt's results, send the DSNs they call for, forget finished mail."""
        now = time.time()
        if now - message.arrival >= self.config.retry.give_up_after:
            for i, recipient in enumerate(recipients):
                if recipient.status == DEFERRED:
                    recipient.status = FAILED
                    recipient.reason += f" (gave up after {int(now - message.arrival)}s in the queue)"
                    notices[i] = dsn.FAILED if dsn.wants_notice(recipient, dsn.FAILED) else None
        if any(r.status == DEFERRED for r in message.recipients):
            message.next_attempt = now + self._backoff(message)
        async with self._locks[message.queue_id]:
            await self._send_notices(message, list(zip(recipients, notices)), now)
            if message.is_done:
                await asyncio.to_thread(self.spool.remove, message.queue_id)
                self.messages.pop(message.queue_id, None)
                self._locks.pop(message.queue_id, None)
            else:
                await asyncio.to_thread(self.spool.save_state, message)
        for recipient in recipients:
            self._in_flight.discard(id(recipient))
        self._wake.set()

    async def _send_notices(self, message: QueuedMessage, notices: list[tuple[Recipient, str | None]],
                            now: float) -> None:
        by_action: dict[str, list[Recipient]] = defaultdict(list)
        for recipient, action in notices:
            if action == dsn.DELAYED and message.delay_notified:
                continue
            if action:
                by_action[action].append(recipient)
        if message.is_dsn or not message.mail_from or not by_action:
            return  # RFC 3461 6.2: never notify about a notification
        content = await asyncio.to_thread(self.spool.content, message.queue_id)
        for action, notified in by_action.items():
            notice = QueuedMessage(
                queue_id=dsn.dsn_queue_id(message, action, notified), mail_from="",
                recipients=[Recipient(message.mail_from, notify=["NEVER"])], arrival=now, size=0,
                helo=self.config.hostname, is_dsn=True)
            body = dsn.build_dsn(message, notified, action, content, hostname=self.config.hostname, now=now,
                                 mail_name=self.config.mail_name)
            notice.size = len(body)
            if await asyncio.to_thread(self.spool.store, notice, body):
                self.events.write("dsn_queued", queue_id=notice.queue_id, about=message.queue_id,
                                  action=action, recipients=[r.address for r in notified])
                self.add(notice)
            if action == dsn.DELAYED:
                message.delay_notified = True
