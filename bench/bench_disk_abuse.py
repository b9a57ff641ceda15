"""Benchmark: what one student's loop can make a lab keep on the host's disk, per second and
per hour, with the images of LABCTL_IMAGE_TAG (run it with the old tag, then the new, to
compare): IMAP folders (CREATE), keywords (STORE +FLAGS), tiny messages (SMTP) and
Roundcube sessions (requests without a cookie).

    LABCTL_IMAGE_TAG=<tag> python3 bench/bench_disk_abuse.py [--seconds 10]

Real labs, real clients; prints figures, asserts nothing. Uses 10.199.77.0/24 (instance
benchdisk) and the webmail test's lab (tests/test_webmail_browser.py): run it under the
tests' docker lock.
"""
from __future__ import annotations

import argparse
import imaplib
import smtplib
import ssl
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from labctl.runtime import project  # noqa: E402
from labctl.runtime.engine import client  # noqa: E402
from labctl.spec.loader import load_lab  # noqa: E402

MAIL_NET = "10.199.77"
MAIL_INSTANCE = "benchdisk"
NEVER = "never refused"


def mail_usage(mail) -> tuple[int, int]:
    """KiB and entries under the Maildirs."""
    out = mail.exec_run(["sh", "-c", "du -sk /var/lib/labctl-mail/maildirs | cut -f1; find /var/lib/labctl-mail/maildirs | wc -l"])
    kib, entries = out.output.split()
    return int(kib), int(entries)


def report(what: str, count: int, seconds: float, kib: int, stopped: str, note: str = "") -> None:
    rate = f"{kib / seconds * 3600 / 1e6:5.2f} GB/h" if stopped == NEVER else "then refused"
    print(f"{what:<24} {count:>7} in {seconds:4.1f} s ({count / seconds:4.0f}/s)  disk +{kib:>6} KiB ({rate}){note}: {stopped}")


def until(seconds: float, step) -> tuple[int, float, str]:
    """step() until it returns a refusal or time is up: (steps done, elapsed, refusal)."""
    began, done = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        refusal = step(done)
        if refusal:
            return done, time.monotonic() - began, refusal
        done += 1
    return done, time.monotonic() - began, NEVER


def mail_figures(engine, seconds: float) -> None:
    project.down(engine, MAIL_INSTANCE)
    project.up(engine, load_lab("practica4", None, f"{MAIL_NET}.0/24"), MAIL_INSTANCE)
    mail = engine.containers.get(f"{MAIL_INSTANCE}-mail")
    try:
        imap = imaplib.IMAP4(f"{MAIL_NET}.90", 143, timeout=30)
        imap.login("alumnoimap", "alumnoimappass")

        def create(n: int) -> str:
            typ, data = imap.create(f"F{n:06d}")
            return "" if typ == "OK" else data[0].decode()[:60]

        before = mail_usage(mail)
        done, elapsed, stopped = until(seconds, create)
        report("IMAP folders", done, elapsed, mail_usage(mail)[0] - before[0], stopped)

        imap.append("INBOX", None, None, b"Subject: k\r\n\r\nk\r\n")
        imap.select("INBOX")

        def keywords(n: int) -> str:
            typ, data = imap.store("1", "+FLAGS", "(" + " ".join(f"k{n}_{i:03d}{'x' * 40}" for i in range(100)) + ")")
            return "" if typ == "OK" else data[0].decode()[:60]

        before = mail_usage(mail)
        done, elapsed, stopped = until(seconds, keywords)
        report("keywords (100 a STORE)", done * 100, elapsed, mail_usage(mail)[0] - before[0], stopped)
        imap.logout()

        smtp = smtplib.SMTP(f"{MAIL_NET}.90", 25, timeout=30)

        def tiny(n: int) -> str:
            try:
                smtp.sendmail("alumnoimap@redes.unlp.edu.ar", ["alumnopop@redes.unlp.edu.ar"], "Subject: x\r\n\r\nx\r\n")
                return ""
            except smtplib.SMTPRecipientsRefused as refused:
                return str(list(refused.recipients.values())[0])[:60]

        before = mail_usage(mail)
        done, elapsed, stopped = until(seconds, tiny)
        after = mail_usage(mail)
        report("tiny messages (SMTP)", done, elapsed, after[0] - before[0], stopped, f", {after[1] - before[1]} files")
        smtp.quit()
    finally:
        project.down(engine, MAIL_INSTANCE)


def webmail_figures(engine, seconds: float) -> None:
    import test_webmail_browser as wm

    lab = load_lab(wm._lab_file(Path(tempfile.mkdtemp())))
    project.down(engine, wm.INSTANCE)
    project.up(engine, lab, wm.INSTANCE)
    try:
        webmail = engine.containers.get(f"{wm.INSTANCE}-correo")
        upper = Path(webmail.attrs["GraphDriver"]["Data"]["UpperDir"])

        def layer() -> int:
            return sum(p.stat().st_size for p in upper.rglob("*") if p.is_file() and not p.is_symlink())

        context = ssl._create_unverified_context()  # noqa: S323 - a bench against the lab's own address
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

        def page(n: int) -> str:
            with opener.open(f"https://{wm.WEBMAIL_IP}/", timeout=10) as answer:
                answer.read()
            return ""

        before = layer()
        done, elapsed, stopped = until(seconds, page)
        report("webmail sessions", done, elapsed, (layer() - before) // 1024, stopped, " of the container's layer")
    finally:
        project.down(engine, wm.INSTANCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    engine = client()
    mail_figures(engine, args.seconds)
    webmail_figures(engine, args.seconds)


if __name__ == "__main__":
    main()
