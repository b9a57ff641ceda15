"""Throughput and latency of labctl's MTA on loopback.

Starts our server in a subprocess (fsync on), then for 1, 10 and 50 concurrent
clients sends messages over persistent SMTP sessions and reports: messages/s
acknowledged, messages/s delivered into the Maildirs, and p50/p99 latency from
the end-of-data dot to the 250 reply, and the cache flushes the disk holding the
spool received per message (every process's: run it on an otherwise quiet machine).
With --peer HOST:PORT the same client
load is also run against another server; only acceptance figures are reported
for it, as its mailboxes are not visible here.

With --with-postfix the same load is also run, in the same invocation, against
Debian's Postfix in a container (bench/postfix/, built with the Docker SDK when
the image is missing), published on 127.0.0.1 only; its deliveries are counted
in the container's Maildir with docker exec. A side-by-side table with the
ratios labctl / Postfix follows. Postfix keeps its default durability (cleanup
fsyncs the queue file before smtpd answers 250) and its default local delivery
concurrency (local_destination_concurrency_limit = 2 per recipient). Then both
run each level again paced to PACED of Postfix's rate there: the sessions at full
speed measure each server saturated, at different loads; paced, at the same one.
Each server first takes WARMUP messages untimed: a fresh server's first ones pay for
its imports, the Maildir's creation and cold caches (a 21 ms p99 in the first level).

    python3 bench/bench_mta.py [--messages 600] [--peer 127.0.0.1:2525] [--with-postfix]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SENDER = "alumnopop@redes.unlp.edu.ar"
RECIPIENT = "alumnoimap@redes.unlp.edu.ar"
BODY = b"Subject: bench\r\n\r\n" + b"benchmark line of text for the lab mail server\r\n" * 20

POSTFIX_DIR = Path(__file__).resolve().parent / "postfix"
POSTFIX_IMAGE = "labctl-bench/postfix:latest"
POSTFIX_LABEL = "labctl.bench"
POSTFIX_MAILDIR = "/home/alumnoimap/Maildir/new"
# With --with-postfix, each level is run again with both servers paced to this share of
# Postfix's rate: then neither is saturated, and latency is compared at the same load.
PACED = 0.8
WARMUP = 200  # messages, over 1 and then 10 sessions, before a server is measured


def warm_up(port: int, count, timeout: float) -> None:
    """Untimed messages, all delivered before this returns, so that no level measures a cold
    server (nor counts the warm-up's deliveries and flushes)."""
    before = count()
    for clients in (1, 10):
        run_clients("127.0.0.1", port, clients, WARMUP // 2)
    if not wait_delivered(count, before + WARMUP, timeout, 0.05):
        raise SystemExit(f"warm-up: only {count() - before}/{WARMUP} delivered within {timeout:.0f}s")


def run_clients(host: str, port: int, clients: int, messages: int, rate: float | None = None) -> tuple[float, list[float]]:
    """Send `messages` split over `clients` sessions; return (elapsed seconds, latencies).
    With `rate`, the sessions together start no more than `rate` messages a second
    (each its own share, evenly spaced): latency at a load both servers can carry.

    The sessions share one asyncio loop: with a thread per session (as this bench had),
    a reply waited for the client's own GIL, up to its 5 ms switch interval, and the
    more replies a second a server gave, the more of that wait its latencies carried."""
    return asyncio.run(_run_sessions(host, port, clients, messages, rate))


async def _run_sessions(host: str, port: int, clients: int, messages: int, rate: float | None) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per_client = [messages // clients + (i < messages % clients) for i in range(clients)]
    go = asyncio.Event()
    connected = [await _connect(host, port) for _ in per_client]
    started = time.perf_counter()
    interval = clients / rate if rate else 0.0
    sessions = [asyncio.create_task(_session(reader, writer, count, go, latencies,
                                             [started + (i / clients + k) * interval for k in range(count)]))
                for i, ((reader, writer), count) in enumerate(zip(connected, per_client))]
    go.set()
    await asyncio.gather(*sessions)
    return time.perf_counter() - started, latencies


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    await _expect(reader, 220)
    writer.write(b"EHLO bench\r\n")
    await _expect(reader, 250)
    return reader, writer


async def _session(reader, writer, count: int, go: asyncio.Event, latencies: list[float], due: list[float]) -> None:
    await go.wait()
    for when in due:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        for command, code in ((f"MAIL FROM:<{SENDER}>", 250), (f"RCPT TO:<{RECIPIENT}>", 250), ("DATA", 354)):
            writer.write(command.encode() + b"\r\n")
            await _expect(reader, code)
        writer.write(BODY + b".\r\n")
        started = time.perf_counter()
        await _expect(reader, 250)
        latencies.append(time.perf_counter() - started)
    writer.write(b"QUIT\r\n")
    await _expect(reader, 221)
    writer.close()


async def _expect(reader: asyncio.StreamReader, code: int) -> None:
    """Read one (possibly multi-line) reply; it must carry `code`."""
    while True:
        line = await reader.readline()
        if line[3:4] != b"-":
            break
    if not line.startswith(str(code).encode()):
        raise SystemExit(f"expected {code}, got {line!r}")


def count_delivered(maildir: Path) -> int:
    new = maildir / "new"
    return len(os.listdir(new)) if new.is_dir() else 0


def wait_delivered(count, target: int, timeout: float, interval: float = 0.01) -> bool:
    """Poll `count()` until it reaches `target`; False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def disk_flushes(path: str) -> int:
    """Cache flushes completed so far by the block device holding `path` (its sysfs stat)."""
    device = os.stat(path).st_dev
    fields = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/stat").read_text().split()
    return int(fields[15]) if len(fields) > 15 else 0  # flush counters exist since Linux 5.5


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100)[int(fraction * 100) - 1] if len(values) > 1 else values[0]


def start_own_server(workdir: Path, kind: str = "mta") -> tuple[subprocess.Popen, int, Path]:
    """Our server in a subprocess with one listener of `kind` (mta, or msa for AUTH); process, port, Maildir."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "hostname": "mail.redes.unlp.edu.ar", "banner": "mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)",
        "local_domains": ["redes.unlp.edu.ar"],
        "accounts": [{"address": RECIPIENT, "user": "alumnoimap", "password": "alumnoimappass"}],
        "listeners": [{"name": "smtp", "host": "127.0.0.1", "port": port, "kind": kind}],
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


def remove_postfix_leftovers(client) -> None:
    for container in client.containers.list(all=True, filters={"label": f"{POSTFIX_LABEL}=postfix"}):
        container.remove(force=True)


def ensure_postfix_image(client) -> None:
    import docker.errors

    try:
        client.images.get(POSTFIX_IMAGE)
    except docker.errors.ImageNotFound:
        print(f"building {POSTFIX_IMAGE} from {POSTFIX_DIR} ...", file=sys.stderr)
        client.images.build(path=str(POSTFIX_DIR), dockerfile="Dockerfile", tag=POSTFIX_IMAGE, rm=True)


def start_postfix(client):
    """Run the Postfix container on an ephemeral 127.0.0.1 port; return it and the port once it says 220."""
    container = client.containers.run(POSTFIX_IMAGE, detach=True, labels={POSTFIX_LABEL: "postfix"},
                                      ports={"25/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = int(container.ports["25/tcp"][0]["HostPort"])
        deadline = time.monotonic() + 30
        while True:
            # docker-proxy accepts before Postfix listens: wait for the banner itself.
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(512).startswith(b"220"):
                        break
            except OSError:
                pass
            container.reload()
            if time.monotonic() > deadline or container.status != "running":
                raise SystemExit("Postfix did not start:\n" + container.logs(tail=20).decode(errors="replace"))
            time.sleep(0.1)
    except BaseException:
        container.remove(force=True)
        raise
    return container, port


def count_postfix_delivered(container) -> int:
    code, output = container.exec_run(["sh", "-c", f"find {POSTFIX_MAILDIR} -type f 2>/dev/null | wc -l"])
    return int(output.strip() or 0) if code == 0 else 0


def measure(label: str, port: int, clients: int, messages: int, count, timeout: float, spool: str,
            interval: float = 0.01, rate: float | None = None) -> tuple[float, float | None, float, float, float]:
    """One load run against 127.0.0.1:port; print its row, return (accepted/s, deliv/s or None, p50, p99,
    flushes per message).
    `spool`: a path on the disk the server writes its mail to, whose flushes are counted."""
    before = count()
    flushes = disk_flushes(spool)
    started = time.perf_counter()
    elapsed, latencies = run_clients("127.0.0.1", port, clients, messages, rate)
    flushed = (disk_flushes(spool) - flushes) / messages  # up to the last 250, before deliveries finish
    delivered_rate = None
    if wait_delivered(count, before + messages, timeout, interval):
        delivered_rate = messages / (time.perf_counter() - started)
    else:
        print(f"{label}: only {count() - before}/{messages} delivered within {timeout:.0f}s", file=sys.stderr)
    report(label, clients, messages, elapsed, latencies, delivered_rate, flushed)
    return messages / elapsed, delivered_rate, percentile(latencies, 0.5), percentile(latencies, 0.99), flushed


def compare(ours: dict, postfix: dict) -> None:
    print("\nlabctl vs Debian Postfix (same load, same host; ratio = labctl / Postfix)")
    print(f"{'clients':>7} {'metric':<11} {'labctl':>9} {'Postfix':>9} {'ratio':>7}")
    names = [("accepted/s", 1), ("deliv/s", 1), ("p50 ms", 1000), ("p99 ms", 1000), ("flush/msg", 1)]
    for clients in ours:
        for index, (name, scale) in enumerate(names):
            mine, theirs = ours[clients][index], postfix[clients][index]
            ratio = f"{mine / theirs:7.2f}" if mine is not None and theirs else "      -"
            mine = f"{mine * scale:9.2f}" if mine is not None else "        -"
            theirs = f"{theirs * scale:9.2f}" if theirs is not None else "        -"
            print(f"{clients:>7} {name:<11} {mine} {theirs} {ratio}")
    print("rates: ratio > 1 means labctl is faster; latencies and flushes: ratio < 1 means labctl is faster")


def report(label: str, clients: int, messages: int, elapsed: float, latencies: list[float],
           delivered_rate: float | None, flushes: float | None = None) -> None:
    delivered = f"{delivered_rate:8.0f}" if delivered_rate is not None else "       -"
    flushed = f"{flushes:9.2f}" if flushes is not None else "        -"
    print(f"{label:<10} {clients:>7} {messages:>8} {messages / elapsed:>10.0f} {delivered} "
          f"{percentile(latencies, 0.5) * 1000:>9.2f} {percentile(latencies, 0.99) * 1000:>9.2f} {flushed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages per concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--peer", help="HOST:PORT of another SMTP server to measure the same way")
    parser.add_argument("--with-postfix", action="store_true",
                        help="also measure Debian's Postfix in a container (bench/postfix) and print ratios")
    parser.add_argument("--deliver-timeout", type=float, default=30,
                        help="seconds to wait for all messages of a run to be delivered")
    args = parser.parse_args()
    if args.with_postfix:
        import docker

        docker_client = docker.from_env()
        remove_postfix_leftovers(docker_client)
        ensure_postfix_image(docker_client)
    print(f"{'server':<10} {'clients':>7} {'messages':>8} {'accepted/s':>10} {'deliv/s':>8} "
          f"{'p50 ms':>9} {'p99 ms':>9} {'flush/msg':>9}")
    with tempfile.TemporaryDirectory(prefix="bench-mta-") as tmp:
        process, port, maildir = start_own_server(Path(tmp))
        try:
            warm_up(port, lambda: count_delivered(maildir), args.deliver_timeout)
            ours = {clients: measure("labctl", port, clients, args.messages, lambda: count_delivered(maildir),
                                     args.deliver_timeout, tmp) for clients in args.clients}
            if args.with_postfix:
                postfix, postfix_paced = measure_postfix(docker_client, args)
                paced = {clients: measure("labctl", port, clients, args.messages, lambda: count_delivered(maildir),
                                          args.deliver_timeout, tmp, rate=PACED * postfix[clients][0])
                         for clients in args.clients}
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    if args.peer:
        host, _, peer_port = args.peer.rpartition(":")
        for clients in args.clients:
            elapsed, latencies = run_clients(host, int(peer_port), clients, args.messages)
            report("peer", clients, args.messages, elapsed, latencies, None)
    if args.with_postfix:
        compare(ours, postfix)
        print(f"\nBoth paced to {PACED:.0%} of Postfix's accepted/s at each level: latency at a load both carry")
        print(f"{'clients':>7} {'rate/s':>9} {'labctl p50':>11} {'Postfix p50':>12} {'ratio':>7} "
              f"{'labctl p99':>11} {'Postfix p99':>12} {'ratio':>7}")
        for clients in args.clients:
            (_, _, mine50, mine99, _), (_, _, theirs50, theirs99, _) = paced[clients], postfix_paced[clients]
            print(f"{clients:>7} {PACED * postfix[clients][0]:>9.0f} {mine50 * 1000:>11.2f} {theirs50 * 1000:>12.2f} "
                  f"{mine50 / theirs50:>7.2f} {mine99 * 1000:>11.2f} {theirs99 * 1000:>12.2f} {mine99 / theirs99:>7.2f}")


def measure_postfix(docker_client, args) -> tuple[dict, dict]:
    """Postfix at each level as fast as it goes, then paced to PACED of that rate."""
    container, port = start_postfix(docker_client)
    storage = docker_client.info()["DockerRootDir"]  # where the container's queue and Maildir are

    def level(clients: int, rate: float | None = None):
        return measure("postfix", port, clients, args.messages, lambda: count_postfix_delivered(container),
                       args.deliver_timeout, storage, 0.05, rate)

    try:
        warm_up(port, lambda: count_postfix_delivered(container), args.deliver_timeout)
        full = {clients: level(clients) for clients in args.clients}
        return full, {clients: level(clients, PACED * full[clients][0]) for clients in args.clients}
    finally:
        container.remove(force=True)


if __name__ == "__main__":
    main()
