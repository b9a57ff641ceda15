"""Throughput and latency of labctl's MTA on loopback.

Starts our server in a subprocess (fsync on), then for 1, 10 and 50 concurrent
clients sends messages over persistent SMTP sessions and reports: messages/s
acknowledged, messages/s delivered into the Maildirs, and p50/p99 latency from
the end-of-data dot to the 250 reply. With --peer HOST:PORT the same client
load is also run against another server (e.g. Postfix in a container); only
acceptance figures are reported for it, as its mailboxes are not visible here.

    python3 bench/bench_mta.py [--messages 600] [--peer 127.0.0.1:2525]
"""
from __future__ import annotations

import argparse
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

SENDER = "alumnopop@redes.unlp.edu.ar"
RECIPIENT = "alumnoimap@redes.unlp.edu.ar"
BODY = b"Subject: bench\r\n\r\n" + b"benchmark line of text for the lab mail server\r\n" * 20


def run_clients(host: str, port: int, clients: int, messages: int) -> tuple[float, list[float]]:
    """Send `messages` split over `clients` sessions; return (elapsed seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = [messages // clients + (i < messages % clients) for i in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(count: int) -> None:
        session = smtplib.SMTP(host, port, timeout=60)
        session.ehlo("bench")
        barrier.wait()
        mine = []
        for _ in range(count):
            session.mail(SENDER)
            session.rcpt(RECIPIENT)
            session.putcmd("data")
            assert session.getreply()[0] == 354
            session.send(BODY + b".\r\n")
            started = time.perf_counter()
            code, _ = session.getreply()
            mine.append(time.perf_counter() - started)
            assert code == 250, code
        session.quit()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def count_delivered(maildir: Path) -> int:
    new = maildir / "new"
    return len(os.listdir(new)) if new.is_dir() else 0


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100)[int(fraction * 100) - 1] if len(values) > 1 else values[0]


def start_own_server(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "hostname": "mail.redes.unlp.edu.ar", "banner": "mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)",
        "local_domains": ["redes.unlp.edu.ar"],
        "accounts": [{"address": RECIPIENT, "user": "alumnoimap", "password": "alumnoimappass"}],
        "listeners": [{"name": "smtp", "host": "127.0.0.1", "port": port, "kind": "mta"}],
        "spool_dir": str(workdir / "spool"), "maildir_root": str(workdir / "mail"),
        "log_file": str(workdir / "mta.jsonl"),
    }
    (workdir / "mta.yaml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen([sys.executable, "-m", "labctl.mailserver", "--config", str(workdir / "mta.yaml")])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("our server did not start")
            time.sleep(0.05)
    return process, port, workdir / "mail" / "redes.unlp.edu.ar" / "alumnoimap" / "Maildir"


def report(label: str, clients: int, messages: int, elapsed: float, latencies: list[float],
           delivered_rate: float | None) -> None:
    delivered = f"{delivered_rate:8.0f}" if delivered_rate is not None else "       -"
    print(f"{label:<10} {clients:>7} {messages:>8} {messages / elapsed:>10.0f} {delivered} "
          f"{percentile(latencies, 0.5) * 1000:>9.2f} {percentile(latencies, 0.99) * 1000:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages per concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--peer", help="HOST:PORT of another SMTP server to measure the same way")
    args = parser.parse_args()
    print(f"{'server':<10} {'clients':>7} {'messages':>8} {'accepted/s':>10} {'deliv/s':>8} "
          f"{'p50 ms':>9} {'p99 ms':>9}")
    with tempfile.TemporaryDirectory(prefix="bench-mta-") as tmp:
        process, port, maildir = start_own_server(Path(tmp))
        try:
            for clients in args.clients:
                before = count_delivered(maildir)
                started = time.perf_counter()
                elapsed, latencies = run_clients("127.0.0.1", port, clients, args.messages)
                while count_delivered(maildir) - before < args.messages:
                    time.sleep(0.01)
                delivered_rate = args.messages / (time.perf_counter() - started)
                report("labctl", clients, args.messages, elapsed, latencies, delivered_rate)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    if args.peer:
        host, _, peer_port = args.peer.rpartition(":")
        for clients in args.clients:
            elapsed, latencies = run_clients(host, int(peer_port), clients, args.messages)
            report("peer", clients, args.messages, elapsed, latencies, None)


if __name__ == "__main__":
    main()
