"""A write that the kernel cuts short (disk full, file size limit) must fail the message, never acknowledge it.

RLIMIT_FSIZE makes the kernel write only up to the limit and report the short
count, exactly what a nearly full disk does; later writes fail with EFBIG.
"""
from __future__ import annotations

import resource
import signal
import smtplib
import subprocess
import sys

import yaml

from .conftest import IMAP, POP
from .test_durability import free_port, start_server

LIMIT = 64 * 1024

WRITER = """
import resource, signal, sys
from pathlib import Path
from labctl.mailserver import maildir, spool
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
where = Path(sys.argv[2])
try:
    if sys.argv[1] == "spool":
        message = spool.QueuedMessage(queue_id="AAAAAAAAAA", mail_from="a@b.c",
                                      recipients=[spool.Recipient("x@y.z")], arrival=0, size=10000)
        spool.Spool(where).store(message, b"x" * 10000)
    else:
        maildir.deliver(where, "m1", b"x" * 10000)
except OSError as error:
    print("refused", error.errno)
else:
    print("accepted")
"""


def limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_spool_and_maildir_writers_fail_on_a_short_write(tmp_path):
    for writer in ("spool", "maildir"):
        where = tmp_path / writer
        result = subprocess.run([sys.executable, "-c", WRITER, writer, str(where)],
                                capture_output=True, text=True, check=True)
        assert result.stdout.startswith("refused"), (writer, result.stdout, result.stderr)
        # Nothing truncated is left where it would be taken for a message.
        assert not [p for p in where.rglob("*") if p.is_file()], writer


def test_no_250_for_a_message_the_spool_could_not_write_whole(tmp_path):
    port = free_port()
    raw = {"hostname": "mail.redes.unlp.edu.ar", "banner": "mail.redes.unlp.edu.ar ESMTP Postfix",
           "local_domains": ["redes.unlp.edu.ar"],
           "accounts": [{"address": POP, "user": "alumnopop", "password": "x"},
                        {"address": IMAP, "user": "alumnoimap", "password": "y"}],
           "listeners": [{"name": "smtp", "host": "127.0.0.1", "port": port, "kind": "mta"}],
           "spool_dir": str(tmp_path / "spool"), "maildir_root": str(tmp_path / "mail"),
           "log_file": str(tmp_path / "mta.jsonl")}
    config_path = tmp_path / "mta.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    server = start_server(config_path, port, preexec_fn=limit_file_size)
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        body = b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * (2 * LIMIT // 18)
        client.ehlo()
        assert client.mail(POP)[0] == 250 and client.rcpt(IMAP)[0] == 250
        assert client.data(body) == (451, b"4.3.0 Error: queue file write error")
        client.rset()
        assert client.sendmail(POP, [IMAP], b"Subject: small\r\n\r\nfits\r\n") == {}
        client.quit()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert not list((tmp_path / "spool").glob(".*.tmp"))
