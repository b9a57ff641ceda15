"""Being a backup MX: the domains we relay for, and the student's setting file.

A backup MX (RFC 5321 5.1) takes mail for a domain that is not its own when
the primary cannot be reached, queues it, and forwards it to an exchanger of
better preference when one answers. In Postfix that is `relay_domains`; the
forwarding side is relay.py dropping ourselves and worse exchangers from the
MX list. The cloud server of exercise 10 reads its domains from a file the
student writes (`backup_for: [domain]`) and that may change while it runs, so
the file is read again whenever it changes; a broken file keeps the last good
setting and is logged (labctl apply refuses it before it gets here).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import ConfigError
from .eventlog import EventLog

BACKUP_FIELD = "backup_for"
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class BackupSetting:
    backup_for: tuple[str, ...]


def parse_backup_setting(text: str, source: str) -> BackupSetting:
    """The setting in `text`; ConfigError('<source>: <field>: ...') if it is not one."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {str(error).splitlines()[0]}") from None
    return backup_setting(raw, source)


def backup_setting(raw: object, source: str) -> BackupSetting:
    """The setting in the file's parsed YAML (labctl apply parses it with the hardened
    reader of all the student's files; the MTA reads only what apply installed)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with the field {BACKUP_FIELD}, got {raw!r}")
    unknown = sorted(str(key) for key in raw if key != BACKUP_FIELD)
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown field (only {BACKUP_FIELD})")
    domains = raw.get(BACKUP_FIELD) or []
    if not isinstance(domains, list):
        raise ConfigError(f"{source}: {BACKUP_FIELD}: expected a list of domains, got {domains!r}")
    cleaned = []
    for i, domain in enumerate(domains):
        name = domain.strip().lower().rstrip(".") if isinstance(domain, str) else None
        if name is None or not _DOMAIN.fullmatch(name):
            raise ConfigError(f"{source}: {BACKUP_FIELD}[{i}]: expected a domain name like "
                              f"redes2024.com.ar, got {domain!r}")
        cleaned.append(name)
    return BackupSetting(tuple(cleaned))


def load_backup_setting(path: str | Path) -> BackupSetting:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    return parse_backup_setting(text, str(path))


class RelayDomains:
    """`domain in relay_domains`: the configured ones plus the setting file's, re-read when it changes."""

    def __init__(self, fixed: list[str], setting_file: str | None, events: EventLog):
        self.fixed = frozenset(fixed)
        self.setting_file = setting_file
        self.events = events
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._from_file: frozenset[str] = frozenset()

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.setting_file)
        except OSError:
            if self._seen is not None:
                self.events.write("relay_domains", domains=sorted(self.fixed), source="no setting file")
            self._seen, self._from_file = None, frozenset()
            return
        if (stat.st_mtime_ns, stat.st_size) == self._seen:
            return
        self._seen = (stat.st_mtime_ns, stat.st_size)
        try:
            setting = load_backup_setting(self.setting_file)
        except ConfigError as error:
            self.events.write("config_error", error=str(error), kept=sorted(self._from_file))
            return
        self._from_file = frozenset(setting.backup_for)
        self.events.write("relay_domains", domains=sorted(self.fixed | self._from_file), source=self.setting_file)

    def __contains__(self, domain: str) -> bool:
        if self.setting_file:
            self._refresh()
        return domain.lower() in self.fixed or domain.lower() in self._from_file
