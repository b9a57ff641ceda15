"""`python3 -m labctl.mailserver.inspect queue|log [--json]`: what is queued, what happened.

Paths come from the MTA's config file, or from --spool-dir / --log-file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from .eventlog import read_events
from .spool import Spool


def queue_listing(spool_dir: str) -> list[dict]:
    """The queued messages, each with its recipients' status and last deferral reason."""
    listing = []
    for message in Spool(spool_dir).load_all():
        listing.append({
            "queue_id": message.queue_id,
            "from": message.mail_from,
            "arrival": message.arrival,
            "size": message.size,
            "next_attempt": message.next_attempt,
            "recipients": [{"address": r.address, "status": r.status, "attempts": r.attempts,
                            "reason": r.reason} for r in message.recipients],
        })
    return listing


def _format_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_queue(listing: list[dict]) -> str:
    """Text in the spirit of Postfix's mailq."""
    if not listing:
        return "Mail queue is empty"
    lines = ["-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"]
    for entry in listing:
        lines.append(f"{entry['queue_id']:<11} {entry['size']:>8} {_format_time(entry['arrival'])} "
                     f"{entry['from'] or 'MAILER-DAEMON'}")
        for recipient in entry["recipients"]:
            if recipient["status"] in ("deferred", "failed") and recipient["reason"]:
                lines.append(f"{'':<41}({recipient['reason']})")
            lines.append(f"{'':<41}{recipient['address']} [{recipient['status']}]")
        lines.append("")
    return "\n".join(lines).rstrip()


def format_event(event: dict) -> str:
    rest = " ".join(f"{key}={value}" for key, value in event.items() if key not in ("ts", "event"))
    return f"{_format_time(event['ts'])} {event['event']} {rest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labctl.mailserver.inspect")
    parser.add_argument("what", choices=("queue", "log"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--spool-dir", help="overrides the config's spool_dir")
    parser.add_argument("--log-file", help="overrides the config's log_file")
    args = parser.parse_args(argv)
    spool_dir, log_file = args.spool_dir, args.log_file
    if (args.what == "queue" and not spool_dir) or (args.what == "log" and not log_file):
        try:
            config = load_config(args.config)
        except ConfigError as error:
            print(f"labctl-mta: {error}", file=sys.stderr)
            return 2
        spool_dir, log_file = spool_dir or config.spool_dir, log_file or config.log_file
    if args.what == "queue":
        listing = queue_listing(spool_dir)
        print(json.dumps(listing, indent=2) if args.json else format_queue(listing))
        return 0
    try:
        for event in read_events(log_file):
            print(json.dumps(event) if args.json else format_event(event))
    except FileNotFoundError:
        print(f"labctl-mta: {log_file}: no log yet", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
