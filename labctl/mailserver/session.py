"""The SMTP dialogue, as an aiosmtpd SMTP subclass.

aiosmtpd gives us the transport, STARTTLS, the AUTH machinery and the
session/envelope objects. We replace what it lacks or does differently from
the course's Postfix: the command loop (line limits, error counting, a 421 on
timeout, a log of every line), enhanced status codes on every reply, each
reply in one write (students see one segment per reply, as with Postfix), the
ESMTP parameters of SIZE/BODY/DSN, the relay policy, BDAT (RFC 3030), ETRN
(RFC 1985), and a DATA reader that cannot be smuggled past (message_data.py).

Postfix's leniencies that students meet when typing by hand are kept: lines
ending in a bare LF, MAIL before HELO/EHLO, a recipient without a domain
(the first local domain is appended, as Postfix appends $myorigin), long
message lines. Control characters in a command line are refused, so nothing
a client types can reach a header field or the log as a line break.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword

from .addresses import AddressError, domain_of, local_mailbox, parse_path
from .esmtp_params import ParameterError, mail_params, rcpt_params
from .header_section import as_cleanup_queues
from .headers import received_header
from .maildir import maildir_path
from .message_data import DotTerminatedContent, normalise_chunked
from .quota import FULL_TEXT, NO_ROOM, is_full
from .replies import with_enhanced_code
from .spool import QueuedMessage, Recipient, new_queue_id

if TYPE_CHECKING:
    from .config import Listener
    from .server import MailService
    from .spf_check import SpfVerdict

# Postfix's line_length_limit: a command (or a SASL response) longer than this is cut here
# and the rest of its line dropped. RFC 5321 4.5.3.1.4 asks for at least 512 octets; AUTH
# PLAIN with a long password, or MAIL with long ESMTP parameters, takes more.
COMMAND_LIMIT = 2048
# What is read at once: a command of COMMAND_LIMIT octets and its CRLF; longer message lines
# are read in pieces of this size and accepted, as Postfix accepts them.
LINE_LIMIT = COMMAND_LIMIT + 2
HARD_ERROR_LIMIT = 20  # as Postfix's smtpd_hard_error_limit
# From this many errors on, every reply waits config.error_sleep first (smtpd_soft_error_limit).
SOFT_ERROR_LIMIT = 10
# Commands that change nothing; past this many in a session each one counts as an error, so a
# client looping on NOOP is slowed down and then dropped (Postfix's smtpd_junk_command_limit).
JUNK_COMMAND_LIMIT = 100
JUNK_COMMANDS = {"NOOP", "VRFY", "ETRN", "RSET"}
CHUNK_READ = 65536
# Command/reply lines logged per session; a client looping on NOOP must not fill the disk.
SESSION_LOG_LIMIT = 1000
# Events logged even past the limit: the checks and `labctl mail log` rely on them.
ALWAYS_LOGGED = {"connect", "disconnect", "queued", "queue_error", "log_limit", "spf"}
# RFC 5321 has no control characters in commands; HT is taken as a space, as Postfix does.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_WORD_SEPARATOR = re.compile(rb"[ \t]+")
# aiosmtpd answers these; Postfix has neither and calls them unknown, as for any other word.
_NOT_IN_POSTFIX = {"HELP", "EXPN"}
# Postfix's smtpd_forbidden_commands (an HTTP client or proxy on port 25): it hangs up on
# these, and on a message header sent as a command (the first word has a colon).
_FORBIDDEN = {"CONNECT", "GET", "POST"}
NOT_SMTP = "221 2.7.0 Error: I can break rules, too. Goodbye."
# Replies the client waits for before it sends anything more (the data after 354, the
# answer to 334, the TLS handshake after 220) or after which the session ends: never held.
_SENT_AT_ONCE = ("354", "334", "220", "221", "421")
# Postfix's refusal of a SASL exchange, then the reason Dovecot gave ("" for a wrong password).
AUTH_FAILED = "535 5.7.8 Error: authentication failed: "
NO_REASON = "(reason unavailable)"


class LabEnvelope(Envelope):
    """aiosmtpd's envelope plus the ESMTP parameters and a BDAT buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_from = None  # "" is the null sender, so None means "no MAIL yet"
        self.recipients: list[Recipient] = []
        # RCPTs answered 250, a repeated address too: Postfix's smtpd_recipient_limit counts them all.
        self.rcpt_count = 0
        self.ret: str | None = None
        self.body: str | None = None  # BODY= as declared
        self.envid: str | None = None
        self.chunks = bytearray()
        self.chunking = False  # a BDAT has come in this transaction: no more RCPT, no DATA
        self.chunk_refused = False  # and was refused: the later chunks are discarded up to LAST
        self.spf: SpfVerdict | None = None  # evaluated at the first RCPT whose domain checks SPF


class LabSMTP(SMTP):
    line_length_limit = LINE_LIMIT  # aiosmtpd sizes its StreamReader with this; _read_line relies on it

    def __init__(self, service: MailService, listener: Listener, tls_context=None):
        config = service.config
        super().__init__(
            service,
            hostname=config.hostname,
            data_size_limit=config.size_limit,
            tls_context=tls_context,
            timeout=config.timeouts.command,
            # The course logs in over plaintext; AUTH is offered on the MSA only.
            auth_require_tls=False,
            authenticator=self._check_password,
        )
        # 1.4.4 keeps command_size_limits on the class; ours must not leak between sessions.
        self.command_size_limits = {}
        self.service = service
        self.config = config
        self.listener = listener
        self.session_id = secrets.token_hex(4)
        self.errors = 0
        self._junk_commands = 0
        self._logged = 0
        self._admitted_ip: str | None = None
        self._last_command_bare_lf = False
        self._held = bytearray()  # replies to pipelined commands, sent with the last one

    # --- plumbing: lines, replies, log, timeouts ---------------------------------

    def _log(self, event: str, **fields) -> None:
        if event not in ALWAYS_LOGGED:
            self._logged += 1
            if self._logged > SESSION_LOG_LIMIT:
                if self._logged == SESSION_LOG_LIMIT + 1:
                    self._log("log_limit", limit=SESSION_LOG_LIMIT)
                return
        # Noted, not written: the next reply (or the disconnect) writes them in one call.
        self.service.events.note(event, session=self.session_id, **fields)

    @property
    def _peer_ip(self) -> str:
        return self.session.peer[0] if self.session.peer else ""

    async def push(self, status) -> None:
        """Every reply goes through here: enhanced code added, logged, written."""
        if isinstance(status, bytes):
            status = status.decode("ascii", "replace")
        status = with_enhanced_code(status)
        if status == AUTH_FAILED + NO_REASON:
            # A wrong password is answered late, and one at a time per client (throttle.py).
            await self.service.login_throttle.failed(self._peer_ip)
        await self._write_reply(status)
        if status[:1] in ("4", "5"):
            self.errors += 1

    async def _write_reply(self, *lines: str) -> None:
        if self.errors >= SOFT_ERROR_LIMIT:
            # Postfix's smtpd_error_sleep_time: a client that keeps erring gets every reply late.
            await asyncio.sleep(self.config.error_sleep)
        self._send_reply(*lines)
        await self._writer.drain()

    def _send_reply(self, *lines: str) -> None:
        """One reply, however many lines, in one write: one TCP segment, as Postfix sends it.
        While the client's next command is already here (pipelining), the reply waits for
        the replies to the commands that follow: Postfix's smtpd flushes its output only
        when it has no more input to read, so a pipelined group's replies leave together."""
        for line in lines:
            self._log("reply", line=line)
        self.service.events.flush()  # the log has the dialogue before the client has the reply
        if self.transport is None:  # the client has gone (a message durable after it left)
            return
        self._held += b"".join(line.encode("ascii", "replace") + b"\r\n" for line in lines)
        if lines[-1].startswith(_SENT_AT_ONCE) or b"\n" not in self._reader._buffer:
            self._flush_held()

    def _flush_held(self) -> None:
        """Send the replies held for a pipelined group; also before waiting for the client,
        who may be waiting for them (a BDAT chunk not yet all here)."""
        if self._held and self.transport is not None:
            self._writer.write(bytes(self._held))
            self._held.clear()

    def _timeout_cb(self) -> None:
        # aiosmtpd just drops the connection; say why first (RFC 5321 4.2.3/4.5.3.2).
        if self.transport is not None:
            self._send_reply(f"421 4.4.2 {self.config.hostname} Error: timeout exceeded")
        super()._timeout_cb()

    async def _read_line(self) -> bytes:
        """One line with its line end; one longer than COMMAND_LIMIT octets is cut there, and
        the rest of it read and dropped (bounded memory), as Postfix's smtpd reads a command."""
        if b"\n" not in self._reader._buffer:
            self._flush_held()
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as error:
            piece = await self._reader.readexactly(error.consumed)
            head, before = piece[:COMMAND_LIMIT], piece[-1:]
            while True:
                try:
                    tail = before + await self._reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as error:
                    before = (await self._reader.readexactly(error.consumed))[-1:]
            line = head + (b"\r\n" if tail.endswith(b"\r\n") else b"\n")
        end = 2 if line.endswith(b"\r\n") else 1
        return line if len(line) - end <= COMMAND_LIMIT else line[:COMMAND_LIMIT] + line[-end:]

    async def _read_piece(self) -> bytes:
        """The next line including its LF, or the next LINE_LIMIT octets of a longer line."""
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as error:
            return await self._reader.readexactly(error.consumed)

    def connection_made(self, transport) -> None:
        starting_tls = self._original_transport is not None and self.transport is not None
        if not starting_tls:
            self._log("connect", listener=self.listener.name, kind=self.listener.kind,
                      peer=list(transport.get_extra_info("peername") or ())[:2])
        super().connection_made(transport)
        if starting_tls:
            # Plaintext pipelined behind STARTTLS must not be taken as encrypted
            # commands (CVE-2021-38371 class); aiosmtpd 1.4.4 does not discard it.
            self._reader._buffer.clear()

    def connection_lost(self, error) -> None:
        self._log("disconnect")
        self.service.events.flush()
        if self._admitted_ip is not None:
            self.service.session_limits.release(self._admitted_ip)
            self._admitted_ip = None
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        try:
            await self._converse()
        finally:
            # On the client's EOF aiosmtpd cancels this task and leaves the socket
            # half-open: close it, so the session ends and gives back its slot.
            if self.transport is not None:
                self.transport.close()

    async def _converse(self) -> None:
        refusal = self.service.session_limits.admit(self._peer_ip)
        if refusal:
            await self._write_reply(f"421 4.7.0 {self.config.hostname} Error: {refusal}")
            self.transport.close()
            return
        self._admitted_ip = self._peer_ip
        await self._write_reply(f"220 {self.config.banner}")
        while self.transport is not None:
            self._reset_timeout()
            try:
                line = await self._read_line()
            except (ConnectionError, asyncio.IncompleteReadError):
                break
            # nc without -C ends lines with a bare LF; Postfix takes those commands too, and
            # takes every CR before the LF as part of the line end ("openssl s_client -crlf"
            # fed a file that has CRLF already sends CR CR LF).
            self._last_command_bare_lf = not line.endswith(b"\r\n")
            await self._dispatch(line[:-1].rstrip(b"\r"))
            if self.errors >= HARD_ERROR_LIMIT and self.transport is not None:
                await self.push(f"421 4.7.0 {self.config.hostname} Error: too many errors")
                self.transport.close()

    def _log_command(self, line: bytes) -> None:
        words = line.split(None, 2)
        if len(words) > 2 and words[0].upper() == b"AUTH":
            # An initial response is a password in base64, however the command is spaced.
            line = b"AUTH " + words[1] + b" <redacted>"
        self._log("command", line=line.decode("ascii", "replace"))

    async def _dispatch(self, line: bytes) -> None:
        self._log_command(line)
        if _CONTROL.search(line):
            # A CR or LF here would end up as a line of its own in Received: or Return-Path:.
            await self.push("501 5.5.2 Syntax error: control characters are not allowed in commands")
            return
        # Postfix splits the line into words first: blanks before the verb are no word.
        line = line.lstrip(b" \t")
        if not line or not line.isascii():
            await self.push("500 5.5.2 Error: bad syntax")
            return
        verb, rest = (_WORD_SEPARATOR.split(line, 1) + [b""])[:2]
        name = verb.decode().upper()
        method = None if name in _NOT_IN_POSTFIX else self._smtp_methods.get(name)
        if method is None and (b":" in verb or name in _FORBIDDEN):
            # A header typed before DATA, a body pipelined after a refused DATA, a browser on port 25.
            await self.push(NOT_SMTP)
            self.transport.close()
            return
        if method is None:
            await self.push("500 5.5.2 Error: command not recognized")
            return
        try:
            await method(rest.decode().strip() or None)
        except (ConnectionError, asyncio.IncompleteReadError):
            if self.transport is not None:
                self.transport.close()
        except Exception as error:  # a bug must cost one reply, not the session
            self._log("internal_error", error=repr(error))
            await self.push("451 4.3.0 Error: internal error")
        if name in JUNK_COMMANDS:
            self._junk_commands += 1
            if self._junk_commands > JUNK_COMMAND_LIMIT:
                self.errors += 1

    # --- session state -------------------------------------------------------------

    def _create_envelope(self) -> LabEnvelope:
        return LabEnvelope()

    @property
    def _authenticated_account(self):
        return self.session.auth_data if self.session.authenticated else None

    def _protocol_name(self) -> str:
        """RFC 3848 'with' keyword for the Received: field."""
        if not self.session.extended_smtp:
            return "SMTP"
        return "ESMTP" + ("S" if self._tls_protocol else "") + ("A" if self.session.authenticated else "")

    async def _push_without_enhanced_code(self, status: str) -> None:
        """The few replies Postfix words without an enhanced status code (HELO/EHLO syntax,
        ETRN): sent as they are, counted as errors as push counts them."""
        await self._write_reply(status)
        if status[:1] in ("4", "5"):
            self.errors += 1

    # --- greeting, TLS and AUTH ------------------------------------------------------

    async def _greeting_syntax_error(self, verb: str) -> None:
        # None is agreed on before a greeting.
        await self._push_without_enhanced_code(f"501 Syntax: {verb} hostname")

    async def smtp_HELO(self, hostname: str | None) -> None:
        if not hostname:
            await self._greeting_syntax_error("HELO")
            return
        self._set_rset_state()
        self.session.extended_smtp = False
        self.session.host_name = hostname
        await self._write_reply(f"250 {self.config.hostname}")

    async def smtp_EHLO(self, hostname: str | None) -> None:
        if not hostname:
            await self._greeting_syntax_error("EHLO")
            return
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        keywords = [self.config.hostname, "PIPELINING", f"SIZE {self.config.size_limit}", "VRFY", "ETRN"]
        if self.tls_context and not self._tls_protocol:
            keywords.append("STARTTLS")
        if self.listener.kind == "msa":
            keywords.append("AUTH PLAIN LOGIN")
        keywords += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "CHUNKING"]
        await self._write_reply(*[f"250-{keyword}" for keyword in keywords[:-1]], f"250 {keywords[-1]}")

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        if not self.tls_context:
            # Postfix without a certificate: no such command (aiosmtpd says 454 TLS not available).
            await self.push("502 5.5.1 Error: command not implemented")
            return
        if self._tls_protocol:
            await self.push("554 5.5.1 Error: TLS already active")
            return
        await super().smtp_STARTTLS(arg)

    # AUTH as Debian's Postfix 3.7 answers it in front of Dovecot's SASL (smtpd_sasl_type =
    # dovecot): the order of its checks (no EHLO needed), Dovecot's prompts and its reasons.
    async def smtp_AUTH(self, arg: str | None) -> None:
        if self.listener.kind != "msa":
            await self.push("503 5.5.1 Error: authentication not enabled")
            return
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        if self.session.authenticated:
            await self.push("503 5.5.1 Error: already authenticated")
            return
        words = (arg or "").split()
        if not 1 <= len(words) <= 2:
            await self.push("501 5.5.4 Syntax: AUTH mechanism")
            return
        mechanism = words[0].upper()  # RFC 4954: case-insensitive
        if mechanism not in self._auth_methods:
            await self.push(AUTH_FAILED + "Invalid authentication mechanism")
            return
        result = await self._auth_methods[mechanism].method(self, [mechanism, *words[1:]])
        if result.success:
            self.session.authenticated = True
            self.session.auth_data = result.auth_data
            self.session.login_data = getattr(result.auth_data, "login", None)
            await self.push("235 2.7.0 Authentication successful")
        elif not result.handled:
            await self.push(AUTH_FAILED + NO_REASON)

    async def _initial_response(self, args: list[str]) -> bytes | None:
        """The initial response of AUTH <mechanism> <response> ("=" is an empty one, RFC
        4954); None, answered, when it is not base64."""
        try:
            return b"" if args[1] == "=" else base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await self.push(AUTH_FAILED + "Invalid base64 data in initial response")
            return None

    async def auth_PLAIN(self, _, args: list[str]) -> AuthResult:
        response = await (self.challenge_auth("") if len(args) == 1 else self._initial_response(args))
        if response is MISSING or response is None:
            return AuthResult(success=False, handled=True)
        fields = response.split(b"\0")  # authzid NUL authcid NUL password
        if len(fields) != 3:
            return AuthResult(success=False, handled=False)
        authzid, authcid, password = fields
        if authzid not in (b"", authcid) and authzid.decode("utf-8", "replace") != self._login_name(authcid):
            # Acting as another user is a Dovecot master login, and the lab has no master users.
            self._log("auth", mechanism="PLAIN", login=authcid.decode("utf-8", "replace"), success=False)
            return AuthResult(success=False, handled=False)
        return self._authenticate("PLAIN", LoginPassword(authcid, password))

    def _login_name(self, login: bytes) -> str:
        """The user a login names, as Dovecot makes it: in the default realm unless it names
        one, then in lower case (auth_username_format %Lu). Dovecot compares an authzid with
        this as it was sent: "alumnopop@redes.unlp.edu.ar" names alumnopop, "ALUMNOPOP" does not."""
        name = login.decode("utf-8", "replace").lower()
        return name if "@" in name else f"{name}@{self._default_domain}"

    async def auth_LOGIN(self, _, args: list[str]) -> AuthResult:
        user = await self._initial_response(args) if len(args) > 1 else b""
        if user is None:
            return AuthResult(success=False, handled=True)
        if not user:  # no initial response, or an empty one ("="): Dovecot's LOGIN asks for it
            user = await self.challenge_auth("Username:")
            if user is MISSING:
                return AuthResult(success=False, handled=True)
        # An empty user name is asked for its password all the same, and then refused.
        password = await self.challenge_auth("Password:")
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        if not user:
            return AuthResult(success=False, handled=False)
        return self._authenticate("LOGIN", LoginPassword(user, password))

    def _check_password(self, server, session, envelope, mechanism: str, auth_data: LoginPassword) -> AuthResult:
        login = auth_data.login.decode("utf-8", "replace")
        account = self.config.account_for_login(login)
        password_ok = account is not None and secrets.compare_digest(
            account.password.encode(), auth_data.password)
        self._log("auth", mechanism=mechanism, login=login, success=password_ok)
        if not password_ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account)

    async def challenge_auth(self, challenge, encode_to_b64: bool = True, log_client_response: bool = False):
        """As aiosmtpd's, but with Postfix's line limit (a longer response is cut) and without logging secrets."""
        if isinstance(challenge, str):
            challenge = challenge.encode()
        encoded = base64.b64encode(challenge) if encode_to_b64 else challenge
        await self._write_reply("334 " + encoded.decode())
        self._reset_timeout()
        line = await self._read_line()
        self._log("command", line="<auth response redacted>")
        blob = line.strip()
        if blob == b"*":
            await self.push("501 5.7.0 Authentication aborted")
            return MISSING
        try:
            return base64.b64decode(blob, validate=True)
        except binascii.Error:
            await self.push(AUTH_FAILED + "Invalid base64 data in continued response")
            return MISSING

    # --- the mail transaction ----------------------------------------------------------

    @property
    def _default_domain(self) -> str | None:
        """What a domain-less address gets, as Postfix appends $myorigin."""
        return self.config.local_domains[0] if self.config.local_domains else None

    async def smtp_MAIL(self, arg: str | None) -> None:
        # No HELO/EHLO needed first: Postfix asks for it only with smtpd_helo_required. Nor
        # AUTH on the MSA: Debian's submission refuses the recipients instead (_submission_refusal).
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        if not arg or arg[:5].upper() != "FROM:" or not arg[5:].strip():
            await self.push("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        try:
            path = parse_path(arg[5:], allow_null=True, default_domain=self._default_domain)
        except AddressError:
            await self.push("501 5.1.7 Bad sender address syntax")
            return
        words = path.params.split()
        try:
            params = mail_params(words, self.config.size_limit)
        except ParameterError as refusal:
            await self.push(str(refusal))
            return
        if await is_full(Path(self.config.spool_dir), self.config.spool_bound):
            await self.push(NO_ROOM)
            return
        # An authenticated user may send as any address, as Debian's Postfix does (no
        # smtpd_sender_login_maps): Thunderbird shares one outgoing server among accounts.
        self.envelope.mail_from = path.address
        self.envelope.ret = params.ret
        self.envelope.envid = params.envid
        self.envelope.body = params.body
        self._log("mail_from", address=path.address, params=words)
        await self.push("250 2.1.0 Ok")

    async def smtp_RCPT(self, arg: str | None) -> None:
        if self.envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if self.envelope.chunking:
            await self.push("503 5.5.1 Error: RCPT after BDAT")
            return
        if not arg or arg[:3].upper() != "TO:" or not arg[3:].strip():
            await self.push("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        try:
            path = parse_path(arg[3:], allow_null=False, default_domain=self._default_domain)
        except AddressError:
            await self.push("501 5.1.3 Bad recipient address syntax")
            return
        words = path.params.split()
        try:
            params = rcpt_params(words)
        except ParameterError as refusal:
            await self.push(str(refusal))
            return
        if self.envelope.rcpt_count >= self.config.max_recipients:
            await self.push("452 4.5.3 Error: too many recipients")
            return
        refusal = (self._recipient_refusal(path.address, as_typed=path.as_typed)
                   or await self._quota_refusal(path.address, as_typed=path.as_typed)
                   or await self._spf_refusal(path.address, as_typed=path.as_typed))
        if refusal:
            await self.push(refusal)
            return
        if all(r.address.lower() != path.address.lower() for r in self.envelope.recipients):
            original = path.given if path.given != path.address else ""
            self.envelope.recipients.append(Recipient(path.address, notify=params.notify, orcpt=params.orcpt,
                                                      original=original))
            self.envelope.rcpt_tos.append(path.address)
        self.envelope.rcpt_count += 1
        self._log("rcpt_to", address=path.address, params=words)
        await self.push("250 2.1.5 Ok")

    def _recipient_refusal(self, address: str, as_typed: str | None = None) -> str | None:
        """Postfix's reject for `address`, or None when we take it; it names the address as typed."""
        shown = as_typed or address
        if self.listener.kind == "msa":
            return self._submission_refusal(shown)
        local = local_mailbox(address, self.config.local_destinations)
        if local is None:
            if self.session.authenticated or domain_of(address) in self.service.relay_domains:
                return None
            # Debian's smtpd_relay_restrictions end in defer_unauth_destination: 454, not 554.
            return f"454 4.7.1 <{shown}>: Relay access denied"
        if self.config.account_for_mailbox(local.local_part, local.domain) is None:
            return (f"550 5.1.1 <{shown}>: Recipient address rejected: "
                    "User unknown in local recipient table")
        return None

    def _submission_refusal(self, shown: str) -> str | None:
        """Debian's submission entry of master.cf: smtpd_recipient_restrictions =
        permit_sasl_authenticated, reject, and smtpd_reject_unlisted_recipient = no. A client
        that has authenticated may send to anyone (a local user that does not exist gets a
        bounce, not a refusal here); any other client is refused every recipient but the bare
        "postmaster", which Postfix always takes (RFC 5321 4.5.1)."""
        if self.session.authenticated or shown.lower() == "postmaster":
            return None
        return f"554 5.7.1 <{shown}>: Recipient address rejected: Access denied"

    async def _quota_refusal(self, address: str, as_typed: str | None = None) -> str | None:
        """Dovecot's quota-status through Postfix: a local mailbox at its quota takes no more."""
        local = local_mailbox(address, self.config.local_destinations)
        account = local and self.config.account_for_mailbox(local.local_part, local.domain)
        if not account:
            return None
        maildir = maildir_path(self.config.maildir_root, local.domain, account.user)
        if await is_full(maildir, self.config.mailbox_bound):
            return f"552 5.2.2 <{as_typed or address}>: Recipient address rejected: {FULL_TEXT}"
        return None

    async def _spf_refusal(self, address: str, as_typed: str | None = None) -> str | None:
        """policyd-spf at RCPT: evaluate SPF once per transaction for an MTA client; refuse a fail
        when the recipient's domain says reject."""
        action = self.config.spf.action_for(domain_of(address))
        if action == "off" or self.listener.kind != "mta" or self.session.authenticated:
            return None
        if self.envelope.spf is None:
            # Imported at the first check, not at start: pyspf and dnspython are 30 ms of
            # the MTA's start, which `labctl up` waits for.
            from .spf_check import evaluate

            self.envelope.spf = await asyncio.to_thread(
                evaluate, client_ip=self._peer_ip, mail_from=self.envelope.mail_from,
                helo=self.session.host_name or "", receiver=self.config.hostname,
                nameservers=self.config.resolvers, port=self.config.resolver_port)
            self._log("spf", result=self.envelope.spf.result, client_ip=self._peer_ip,
                      mail_from=self.envelope.mail_from, helo=self.session.host_name or "",
                      explanation=self.envelope.spf.explanation)
        if action == "reject" and self.envelope.spf.result == "fail":
            return f"550 5.7.23 <{as_typed or address}>: Recipient address rejected: {self.envelope.spf.reject_text}"
        return None

    async def smtp_RSET(self, arg: str | None) -> None:
        if arg:
            await self.push("501 5.5.4 Syntax: RSET")
            return
        self._set_rset_state()
        await self.push("250 2.0.0 Ok")

    async def smtp_NOOP(self, arg: str | None) -> None:
        await self.push("250 2.0.0 Ok")

    async def smtp_QUIT(self, arg: str | None) -> None:
        # Postfix says goodbye whatever follows QUIT; aiosmtpd refuses an argument with 501.
        await super().smtp_QUIT(None)

    async def smtp_VRFY(self, arg: str | None) -> None:
        if not arg:
            await self.push("501 5.5.4 Syntax: VRFY address")
            return
        try:
            # A bare user name, as students type it, is a local one (as at RCPT).
            path = parse_path(arg, allow_null=False, default_domain=self._default_domain)
            if path.params:
                raise AddressError("VRFY takes one address")
        except AddressError:
            await self.push("501 5.1.3 Bad recipient address syntax")
            return
        refusal = self._recipient_refusal(path.address, as_typed=path.as_typed)
        if refusal:
            await self.push(refusal)
            return
        # Postfix's 252 repeats the argument as the client wrote it ("252 2.0.0 <alumnoimap>").
        await self.push(f"252 2.0.0 {arg}")

    async def smtp_ETRN(self, arg: str | None) -> None:
        # Postfix's ETRN replies carry no enhanced status code, and it needs no HELO/EHLO
        # first (smtpd_helo_required = no).
        if self.envelope.mail_from is not None:
            await self._push_without_enhanced_code("503 Error: MAIL transaction in progress")
            return
        words = (arg or "").split()
        if len(words) != 1:
            await self._push_without_enhanced_code("500 Syntax: ETRN domain")
            return
        domain = words[0].lstrip("@#").lower()
        # A queue run ends every backoff for the domain; a stranger may not force that on
        # us (Postfix serves ETRN only for $fast_flush_domains): only for etrn_domains, or
        # for an authenticated client.
        allowed = self.session.authenticated or domain in self.config.etrn_domains
        self._log("etrn", domain=domain, allowed=allowed)
        if not allowed:
            await self._push_without_enhanced_code(f"459 <{domain}>: service unavailable")
            return
        self.service.queue_run(domain)
        await self._push_without_enhanced_code("250 Queuing started")

    # --- message content: DATA and BDAT --------------------------------------------------

    def _transaction_problem(self) -> str | None:
        # Postfix's order: no recipient is what DATA lacks, even before MAIL.
        if not self.envelope.recipients:
            if self.envelope.mail_from is None:
                return "503 5.5.1 Error: need RCPT command"
            return "554 5.5.1 Error: no valid recipients"
        return None

    async def smtp_DATA(self, arg: str | None) -> None:
        problem = self._transaction_problem()
        if problem is None and self.envelope.chunking:
            problem = "503 5.5.1 Error: DATA after BDAT"
        if problem is None and arg:
            problem = "501 5.5.4 Syntax: DATA"
        if problem:
            await self.push(problem)
            return
        await self._write_reply("354 End data with <CR><LF>.<CR><LF>")
        # The whole input is read before any error reply, so client and server stay in step.
        data = DotTerminatedContent(self.config.size_limit, lf_may_end=self._last_command_bare_lf)
        self._reset_timeout(self.config.timeouts.data)
        piece = await self._read_piece()
        # A message that arrived whole is taken in one step (StreamReader has no peek).
        taken = data.take_whole(piece, self._reader._buffer)
        if taken is not None:
            await self._reader.readexactly(taken)
        timer_set = time.monotonic()
        while taken is None and not data.feed(piece):
            piece = await self._read_piece()
            # Not a new timer per line: a message of 2 million empty lines would
            # leave 2 million cancelled timers on the event loop's heap.
            if time.monotonic() - timer_set > 1:
                self._reset_timeout(self.config.timeouts.data)
                timer_set = time.monotonic()
        if data.problem:
            self._set_rset_state()
            await self.push(data.problem)
            return
        await self._queue(data.content)

    async def smtp_BDAT(self, arg: str | None) -> None:
        words = (arg or "").split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or (len(words) == 2 and words[1].upper() != "LAST"):
            # Without a count nothing tells where the chunk ends: its octets would be read as
            # commands. Postfix hangs up, and so do we.
            await self.push("521 5.5.4 Syntax: BDAT count [LAST]")
            self.transport.close()
            return
        size, last = int(words[0]), len(words) == 2
        if self.envelope.chunk_refused:
            # RFC 3030 section 3: the message failed; what the client pipelined after is dropped.
            await self._read_chunk(size, into=None)
            if last:
                self._set_rset_state()
            await self.push(f"551 5.0.0 Discarded {size} bytes after earlier error")
            return
        problem = self._transaction_problem()
        if problem is None:
            self.envelope.chunking = True
        room = self.config.size_limit - len(self.envelope.chunks)
        keep = problem is None and size <= room
        await self._read_chunk(size, into=self.envelope.chunks if keep else None)
        if problem is None and size > room:
            problem = "552 5.3.4 Chunk exceeds message size limit"
        content = b""
        if problem is None and last:
            content, problem = normalise_chunked(self.envelope.chunks)
        if problem:
            if self.envelope.chunking and not last:
                self.envelope.chunks.clear()
                self.envelope.chunk_refused = True
            else:
                self._set_rset_state()
            await self.push(problem)
            return
        if last:
            await self._queue(content, chunked=True)
        else:
            await self.push(f"250 2.0.0 Ok: {size} bytes")

    async def _read_chunk(self, size: int, *, into: bytearray | None) -> None:
        """Read exactly `size` octets into `into`; discard them as they come when None (size abuse)."""
        remaining = size
        while remaining:
            self._reset_timeout(self.config.timeouts.data)
            if len(self._reader._buffer) < remaining:
                self._flush_held()
            part = await self._reader.read(min(remaining, CHUNK_READ))
            if not part:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(part)
            if into is not None:
                into += part

    async def _queue(self, content: bytes | bytearray, *, chunked: bool = False) -> None:
        envelope = self.envelope
        queue_id = new_queue_id()
        now = time.time()
        peer_ip = self._peer_ip
        trace = received_header(
            # Without HELO/EHLO Postfix names the client by its (here unknown) host name.
            helo=self.session.host_name or "unknown", client_ip=peer_ip, hostname=self.config.hostname,
            mail_name=self.config.mail_name,
            protocol=self._protocol_name(), queue_id=queue_id,
            recipients=[r.original or r.address for r in envelope.recipients], timestamp=now)
        if envelope.spf is not None:
            trace += envelope.spf.header  # below our Received:, as Postfix places policyd-spf's field
        account = self._authenticated_account
        message = QueuedMessage(
            queue_id=queue_id, mail_from=envelope.mail_from, recipients=envelope.recipients,
            arrival=now, size=len(content), client_ip=peer_ip, helo=self.session.host_name or "",
            auth_user=account.user if account else "", ret=envelope.ret, envid=envelope.envid,
            body=envelope.body,
            is_dsn=envelope.mail_from == "")
        self._set_post_data_state()
        try:
            await self.service.accept(message, trace, *as_cleanup_queues(content),
                                      accepted=lambda: self._accepted(message, chunked))
        except OSError as error:
            self._log("queue_error", error=str(error))
            await self.push("451 4.3.0 Error: queue file write error")
            return
        await self._writer.drain()

    def _accepted(self, message: QueuedMessage, chunked: bool) -> None:
        """The message is durable: log it and answer 250 at once, from whatever learnt it first.
        After BDAT LAST Postfix names the size of what it took."""
        self._log("queued", queue_id=message.queue_id, mail_from=message.mail_from,
                  recipients=[r.address for r in message.recipients], size=message.size)
        # Postfix forgives a client's errors and junk commands once it has delivered a message.
        self.errors = self._junk_commands = 0
        size = f"{message.size} bytes " if chunked else ""
        self._send_reply(f"250 2.0.0 Ok: {size}queued as {message.queue_id}")
