"""kill -9 in the middle of a burst: every message acknowledged with 250 is delivered exactly once."""
from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import yaml

from .conftest import IMAP, POP, maildir_files, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(config_path: Path, port: int, **popen) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "labctl.mailserver", "--config", str(config_path)],
                               stderr=subprocess.PIPE, **popen)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            return False
    wait_for(listening)
    return process


def test_kill_9_mid_burst_loses_and_duplicates_nothing(tmp_path):
    port = free_port()
    raw = {
        "hostname": "mail.redes.unlp.edu.ar", "banner": "mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)",
        "local_domains": ["redes.unlp.edu.ar"],
        "accounts": [{"address": POP, "user": "alumnopop", "password": "x"},
                     {"address": IMAP, "user": "alumnoimap", "password": "y"}],
        "listeners": [{"name": "smtp", "host": "127.0.0.1", "port": port, "kind": "mta"}],
        "spool_dir": str(tmp_path / "spool"), "maildir_root": str(tmp_path / "mail"),
        "log_file": str(tmp_path / "mta.jsonl"),
    }
    config_path = tmp_path / "mta.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    acknowledged: list[str] = []
    lock = threading.Lock()

    def burst(worker: int) -> None:
        try:
            client = smtplib.SMTP("127.0.0.1", port, timeout=10)
            client.ehlo()
            for n in range(1000):
                client.mail(POP)
                client.rcpt(POP)
                client.rcpt(IMAP)
                code, text = client.data(f"Subject: {worker}-{n}\r\n\r\nx\r\n".encode())
                if code == 250:
                    with lock:
                        acknowledged.append(text.decode().rsplit(" ", 1)[1])
        except (OSError, smtplib.SMTPException):
            return  # the server died under us, as intended

    server = start_server(config_path, port)
    clients = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    for thread in clients:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 150, timeout=30)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    for thread in clients:
        thread.join(15)
    acked = set(acknowledged)

    server = start_server(config_path, port)
    try:
        wait_for(lambda: not list((tmp_path / "spool").glob("*.msg")), timeout=60)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)

    from labctl.mailserver.config import load_config
    config = load_config(config_path)
    for user in ("alumnopop", "alumnoimap"):
        ids = Counter(re.search(r"with ESMTP id ([0-9A-F]{10})", p.read_text())[1] for p in maildir_files(config, user))
        assert not [queue_id for queue_id, count in ids.items() if count > 1], "duplicate delivery"
        assert acked <= set(ids), f"lost for {user}: {sorted(acked - set(ids))[:5]}"
    assert len(acked) >= 150
