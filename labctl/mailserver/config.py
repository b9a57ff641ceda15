"""The MTA's YAML configuration, loaded into plain dataclasses.

The mail image only has Debian's python3-yaml, so validation is done by hand:
every problem becomes a ConfigError that names the file and the field.
"""
from __future__ import annotations

import functools

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .quota import Bound

LISTENER_KINDS = ("mta", "msa")
# What an SPF fail does for mail to a local domain: nothing checked, a Received-SPF mark, or
# policyd-spf's 550 5.7.23 (the result is marked and logged whenever SPF is evaluated).
SPF_ACTIONS = ("off", "mark", "reject")
POSTMASTER = "postmaster"
# Debian's main.cf: alumnoimap+algo@ is delivered to alumnoimap when no account is named so.
RECIPIENT_DELIMITER = "+"
# Where labctl mounts the mail service's config (labctl's config_mount(Role.mail)).
DEFAULT_CONFIG_PATH = "/etc/labctl/mail/mta.yaml"


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming file and field."""


@dataclass(frozen=True)
class Account:
    address: str
    user: str
    password: str


@dataclass(frozen=True)
class Listener:
    name: str
    host: str
    port: int
    kind: str  # "mta": local delivery only; "msa": AUTH, may relay


@dataclass(frozen=True)
class Retry:
    initial: float = 5
    max_interval: float = 300
    give_up_after: float = 432000  # 5 days, as Postfix's maximal_queue_lifetime


@dataclass(frozen=True)
class SpfPolicy:
    """SPF (RFC 7208) of incoming mail, per recipient domain: domains[d] or else default."""
    default: str = "off"
    domains: dict[str, str] = field(default_factory=dict)

    def action_for(self, domain: str) -> str:
        return self.domains.get(domain.lower(), self.default)


@dataclass(frozen=True)
class Timeouts:
    command: float = 300
    data: float = 600
    # Outbound: how long to wait for an exchanger to accept the connection and greet
    # (Postfix's smtp_connect_timeout); a stopped server's address may not even refuse.
    connect: float = 30


@dataclass(frozen=True)
class Config:
    hostname: str
    banner: str
    local_domains: list[str]
    accounts: list[Account]
    listeners: list[Listener]
    spool_dir: str
    maildir_root: str
    log_file: str
    size_limit: int = 10240000
    max_recipients: int = 1000  # Postfix's smtpd_recipient_limit
    resolvers: list[str] = field(default_factory=list)
    resolver_port: int = 53  # lets tests point the MX lookups at a stub server
    relay_port: int = 25
    tls_cert: str | None = None
    tls_key: str | None = None
    retry: Retry = field(default_factory=Retry)
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Postfix's default_process_limit and smtpd_client_connection_count_limit.
    max_sessions: int = 100
    max_sessions_per_client: int = 50
    # A wrong password is answered after initial * 2**(n-1) s (n = recent failures of the
    # client's IP), at most max; one such answer at a time per IP (throttle.py).
    auth_failure_delay: float = 0.5
    auth_failure_delay_max: float = 4.0
    # Past 10 errors in a session every reply waits this long (Postfix's smtpd_error_sleep_time).
    error_sleep: float = 1.0
    # Domains any client may ETRN (Postfix's fast_flush_domains); authenticated clients may ETRN any.
    etrn_domains: list[str] = field(default_factory=list)
    # The JSON log is rotated at log_max_bytes, keeping log_backups older files.
    log_max_bytes: int = 16 * 1024 * 1024
    log_backups: int = 2
    spf: SpfPolicy = field(default_factory=SpfPolicy)
    # Domains we are a backup MX for (Postfix's relay_domains): accepted from anyone, queued,
    # and forwarded to their better-preference MX. relay_domains_file adds those of a
    # backup-MX setting file (backup_mx.py) that may change while we run.
    relay_domains: list[str] = field(default_factory=list)
    relay_domains_file: str | None = None
    # Bytes a mailbox may hold before its mail is refused (quota.py); 0: no quota.
    mailbox_quota: int = 0
    # Files (messages, Dovecot's own) a mailbox may hold before its mail is refused; 0: no bound.
    mailbox_files: int = 0
    # Bytes, and files, the spool may hold before new mail is refused (quota.py); 0: no bound.
    spool_quota: int = 0
    spool_files: int = 0
    # This host's own IPv4 addresses (found at start, interfaces.py): user@[one of them] is local.
    own_addresses: list[str] = field(default_factory=list)

    @functools.cached_property
    def relay_self_addresses(self) -> frozenset[str]:
        """Where an MTA relaying to relay_port reaches us: an exchanger at one of these is ourselves."""
        found: set[str] = set()
        for listener in self.listeners:
            if listener.port == self.relay_port:
                found |= set(self.own_addresses) if listener.host in ("", "0.0.0.0") else {listener.host}
        return frozenset(found)

    @property
    def mailbox_bound(self) -> Bound:
        return Bound(self.mailbox_quota, self.mailbox_files)

    @property
    def spool_bound(self) -> Bound:
        return Bound(self.spool_quota, self.spool_files)

    @functools.cached_property
    def mail_name(self) -> str:
        """The software the greeting names, for the Received: field: Postfix's $mail_name
        fills both ('<host> ESMTP Postfix (Lihuen-4.01/GNU)' and 'by <host> (Postfix)');
        labctl when the greeting names none."""
        words = self.banner.split()
        return words[words.index("ESMTP") + 1] if "ESMTP" in words[:-1] else "labctl"

    @functools.cached_property
    def local_destinations(self) -> dict[str, str]:
        """The domain names mail is delivered here for, each with the local domain whose accounts
        it names: as Debian's Postfix has mydestination = $myhostname, <domain>, localhost, the
        host name and localhost stand for the first local domain (alumnoimap@mail.redes.unlp.edu.ar
        is alumnoimap@redes.unlp.edu.ar), and so does the address literal of each of its own
        addresses (alumnoimap@[172.28.0.90])."""
        destinations = {domain: domain for domain in self.local_domains}
        if self.local_domains:
            for name in (self.hostname.lower(), "localhost", *(f"[{ip}]" for ip in self.own_addresses)):
                destinations.setdefault(name, self.local_domains[0])
        return destinations

    def account_for_mailbox(self, local_part: str, domain: str) -> Account | None:
        """The account whose mailbox local_part@domain delivers to; each local domain has its own users.
        postmaster, which RFC 5321 4.5.1 says every mail domain must take, has a mailbox of its
        own when no account claims it (Debian's Postfix sends it to root's): nobody logs in to it."""
        wanted = f"{local_part}@{domain}".lower()
        for account in self.accounts:
            if account.address.lower() == wanted:
                return account
        if local_part.lower() == POSTMASTER and domain in self.local_domains:
            return Account(f"{POSTMASTER}@{domain}", user=POSTMASTER, password="")
        user, delimiter, _ = local_part.partition(RECIPIENT_DELIMITER)
        if delimiter and user:
            return self.account_for_mailbox(user, domain)
        return None

    def account_for_login(self, login: str) -> Account | None:
        """Users log in with their user name or their full address."""
        wanted = login.lower()
        for account in self.accounts:
            if wanted in (account.user.lower(), account.address.lower()):
                return account
        return None


def _expect(value: Any, kind: type | tuple, where: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: expected {names}, got {value!r}")
    return value


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, checking names, presence and types."""
    _expect(raw, dict, where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field")
    values = {}
    for name, spec in fields.items():
        if name not in raw:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: required field missing")
            continue
        values[name] = _convert(spec.type, raw[name], f"{where}.{name}")
    return cls(**values)


def _convert(type_name: str, value: Any, where: str) -> Any:
    nested = {"Retry": Retry, "Timeouts": Timeouts, "SpfPolicy": SpfPolicy}
    if type_name in nested:
        return _build(nested[type_name], value, where)
    if type_name == "str":
        return _expect(value, str, where)
    if type_name == "str | None":
        return None if value is None else _expect(value, str, where)
    if type_name == "int":
        return _expect(value, int, where)
    if type_name == "float":
        return float(_expect(value, (int, float), where))
    if type_name == "dict[str, str]":
        return {_expect(key, str, where): _expect(item, str, f"{where}.{key}")
                for key, item in _expect(value, dict, where).items()}
    if type_name == "list[str]":
        return [_expect(item, str, f"{where}[{i}]") for i, item in enumerate(_expect(value, list, where))]
    item_cls = {"list[Account]": Account, "list[Listener]": Listener}[type_name]
    return [_build(item_cls, item, f"{where}[{i}]") for i, item in enumerate(_expect(value, list, where))]


def _check_semantics(config: Config) -> None:
    if not config.listeners:
        raise ConfigError("listeners: at least one listener is needed")
    for i, listener in enumerate(config.listeners):
        if listener.kind not in LISTENER_KINDS:
            raise ConfigError(f"listeners[{i}].kind: must be one of {', '.join(LISTENER_KINDS)}")
        if not 0 <= listener.port <= 65535:
            raise ConfigError(f"listeners[{i}].port: out of range")
    for i, account in enumerate(config.accounts):
        if "@" not in account.address:
            raise ConfigError(f"accounts[{i}].address: not an e-mail address")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls_key: tls_cert and tls_key must be set together")
    if config.size_limit <= 0:
        raise ConfigError("size_limit: must be positive")
    for name in ("max_recipients", "max_sessions", "max_sessions_per_client", "log_max_bytes"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    for domain, action in [("default", config.spf.default), *config.spf.domains.items()]:
        if action not in SPF_ACTIONS:
            where = "spf.default" if domain == "default" else f"spf.domains.{domain}"
            raise ConfigError(f"{where}: must be one of {', '.join(SPF_ACTIONS)}, got {action!r}")
    for name in ("auth_failure_delay", "auth_failure_delay_max", "error_sleep", "log_backups", "mailbox_quota", "mailbox_files",
                 "spool_quota", "spool_files"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name}: must not be negative")


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML file; raise ConfigError('<file>: <field>: ...')."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from error
    try:
        config = _build(Config, raw, "config")
        config = dataclasses.replace(config, local_domains=[d.lower() for d in config.local_domains],
                                     etrn_domains=[d.lower() for d in config.etrn_domains],
                                     relay_domains=[d.lower() for d in config.relay_domains],
                                     spf=dataclasses.replace(config.spf, domains={
                                         d.lower(): a for d, a in config.spf.domains.items()}))
        _check_semantics(config)
    except ConfigError as error:
        message = str(error).removeprefix("config.").removeprefix("config: ")
        raise ConfigError(f"{path}: {message}") from None
    return config


def load_for_command(path: str | Path) -> Config:
    """For the command-line tools: the configuration, or exit 2 with its one-line error."""
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"labctl-mta: {error}", file=sys.stderr)
        raise SystemExit(2) from None
