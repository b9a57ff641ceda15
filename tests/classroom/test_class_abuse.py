"""A hostile or careless student, logged into their client over SSH as the class gives
them: what they can take from the shared server (its disk, its services) is bounded."""
from __future__ import annotations

import imaplib
import multiprocessing
import re
import smtplib
import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest

from classcli import class_up
from labctl.checks.base import Status
from labctl.classroom.report import grade_class
from test_class_access import address, login, run

CLASS = "t11abuse"
POOL = "10.139.0.0/23"
FIRST_PORT = "22620"
MIB = 1 << 20


@pytest.fixture(scope="module")
def klass(engine, tmp_path_factory):
    yield from class_up(tmp_path_factory.mktemp("roster"), CLASS, "id,name\nana,Ana Díaz\nbeto,Beto Paz\n", "--pool", POOL, "--ssh-port", FIRST_PORT)


def written_to_host_disk(engine, container: str) -> int:
    """What the container's own layer holds on the host's disk (its overlay's upper folder)."""
    upper = Path(engine.containers.get(container).attrs["GraphDriver"]["Data"]["UpperDir"])
    return sum(p.stat().st_size for p in upper.rglob("*") if p.is_file() and not p.is_symlink())


def test_a_student_cannot_fill_the_hosts_disk_from_the_client(klass, engine):
    ana = klass.student("ana")
    client = f"{ana.instance}-client"
    before = written_to_host_disk(engine, client)
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        for folder, bound_mib in (("~", 64), ("/tmp", 32), ("/var/tmp", 16)):
            code, output = run(ssh, f"dd if=/dev/zero of={folder}/relleno bs=1M count=200 2>&1; s=$?; du -m {folder}/relleno; exit $s")
            assert code != 0 and "No space left on device" in output, output
            assert int(output.split()[-2]) <= bound_mib, output
        run(ssh, "rm -f ~/relleno /tmp/relleno /var/tmp/relleno")
        # What the exercises need still fits: a 10 MB PDF to attach, a script the student runs.
        code, output = run(ssh, "head -c 10M /dev/urandom > ~/informe.pdf && printf 'echo hola\\n' > ~/s.sh && chmod +x ~/s.sh && ~/s.sh")
        assert (code, output) == (0, "hola\n")
    assert written_to_host_disk(engine, client) - before < 5 * MIB


def login_once_up(klass, student) -> paramiko.SSHClient:
    """Log in as soon as the client's sshd answers (after a restart of the client)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return login(klass, student.ssh_port, student.ssh_password)
        except (paramiko.SSHException, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_client_starts_again_with_its_home(klass, engine):
    """The home is made at every start: a restarted client (the host rebooted) lets the student in."""
    ana = klass.student("ana")
    engine.containers.get(f"{ana.instance}-client").restart(timeout=5)
    with login_once_up(klass, ana) as ssh:
        assert run(ssh, "pwd; ls ~/capturas/ | grep -c pcap") == (0, "/home/alumno\n1\n")  # the lab's one capture


@pytest.fixture
def host_service():
    """A service of the shared server bound to every address (as its sshd is), on a free port."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_no_service_of_the_host_answers_a_students_client(klass, host_service):
    ana = klass.student("ana")
    with socket.create_connection(("127.0.0.1", host_service), timeout=2):
        pass  # control: it answers on the host
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        # The gateway is the one host address a lab reaches: in class mode it answers no
        # connection the lab opens, though the host's own to the lab go on (this SSH login).
        code, output = run(ssh, f"nc -z -w 2 {address(ana, 1)} {host_service}")
        assert code != 0, f"the host's port {host_service} answers ana's client at her gateway: {output}"
        assert run(ssh, f"nc -z -w 2 {address(ana, 90)} 25")[0] == 0  # her own lab does


def test_the_engine_keeps_a_bounded_log_of_each_container(klass, engine):
    """Dovecot and sshd log every session to the container's output, which the engine keeps
    on the host's disk and the checks read whole: it is rotated."""
    ana = klass.student("ana")
    mail = engine.containers.get(f"{ana.instance}-mail")
    # 40 MiB of log lines, as a flood of sessions would leave them.
    code, output = mail.exec_run(["sh", "-c", "yes 'imap-login: Info: Disconnected (no auth attempts in 0 secs)' | head -c 40M > /proc/1/fd/1"])
    assert code == 0, output
    log = Path(mail.attrs["LogPath"])
    kept = sum(p.stat().st_size for p in log.parent.glob(log.name + "*"))
    assert kept <= 3 * 11 * MIB, f"{kept / MIB:.0f} MiB of log kept"


def test_a_flood_of_big_messages_fills_one_mailbox_not_the_host(klass, engine):
    """Every lab's mail volume is on the host's disk: a mailbox holds its quota (Postfix's
    mailbox_size_limit, 51200000 bytes), whether filled over SMTP or IMAP."""
    ana = klass.student("ana")
    mail, imap_user = address(ana, 90), "alumnoimap@redes.unlp.edu.ar"
    message = b"Subject: relleno\r\n\r\n" + (b"x" * 998 + b"\r\n") * 9000  # 9 MB, under the 10 MB size limit
    refused = None
    with smtplib.SMTP(mail, 25, timeout=30) as smtp:
        for sent in range(1, 16):
            try:
                smtp.sendmail("alumnopop@redes.unlp.edu.ar", [imap_user], message)
            except smtplib.SMTPRecipientsRefused as error:
                refused = error.recipients[imap_user]
                break
    assert refused == (552, b"5.2.2 <alumnoimap@redes.unlp.edu.ar>: Recipient address rejected: Mailbox is full"), sent
    code, output = engine.containers.get(f"{ana.instance}-mail").exec_run(
        ["du", "-sb", "/var/lib/labctl-mail/maildirs/redes.unlp.edu.ar/alumnoimap"])
    assert code == 0 and int(output.split()[0]) < 51200000 + len(message) + 100_000, output
    # Over IMAP too (Thunderbird's copy in Sent, a student's APPEND): Dovecot's quota.
    with imaplib.IMAP4(mail, 143, timeout=30) as imap:
        imap.login("alumnoimap", ana.params["alumnoimap_password"])
        status, answer = imap.append("INBOX", None, None, message)
        assert status == "NO" and b"OVERQUOTA" in answer[0], answer
    # The other mailboxes of the lab still take mail.
    with smtplib.SMTP(mail, 25, timeout=30) as smtp:
        smtp.sendmail(imap_user, ["alumnopop@redes.unlp.edu.ar"], b"Subject: hola\r\n\r\nhola\r\n")


def test_mail_that_cannot_leave_the_lab_fills_its_queue_not_the_host(klass, engine):
    """With her own password a student may send to any domain over submission; mail for an
    exchanger that never answers waits in the queue for days: past its bound, MAIL is refused."""
    ana = klass.student("ana")
    message = b"Subject: lejos\r\n\r\n" + (b"x" * 998 + b"\r\n") * 9000
    refused = None
    with smtplib.SMTP(address(ana, 90), 587, timeout=30) as smtp:
        smtp.starttls()
        smtp.login("alumnopop", ana.params["alumnopop_password"])
        for sent in range(1, 16):  # the practica zone's MX (.220) has no host behind it
            try:
                smtp.sendmail("alumnopop@redes.unlp.edu.ar", ["alguien@practica.redes.unlp.edu.ar"], message)
            except smtplib.SMTPSenderRefused as error:
                refused = (error.smtp_code, error.smtp_error)
                break
    assert refused == (452, b"4.3.1 Insufficient system storage"), sent
    code, output = engine.containers.get(f"{ana.instance}-mail").exec_run(["du", "-sb", "/var/lib/labctl-mail/spool"])
    assert code == 0 and int(output.split()[0]) < 51200000 + len(message) + 100_000, output


def cgroup(controller: str, container, name: str) -> str:
    """A value of the container's cgroup (v1, the engine's cgroupfs driver), read on the host."""
    return Path(f"/sys/fs/cgroup/{controller}/docker/{container.id}/{name}").read_text()


def test_a_students_busy_loops_and_fork_bomb_stay_in_their_client(klass, engine):
    """Four busy loops take one CPU at most, leaving the server's others to the other labs; a
    fork bomb fills the client's 256 processes, and the rest of the lab goes on answering."""
    ana = klass.student("ana")
    client = engine.containers.get(f"{ana.instance}-client")
    used = int(cgroup("cpuacct", client, "cpuacct.usage"))
    began = time.monotonic()
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        run(ssh, "for i in 1 2 3 4; do timeout 3 sh -c 'while :; do :; done' & done; wait")
    cores = (int(cgroup("cpuacct", client, "cpuacct.usage")) - used) / 1e9 / (time.monotonic() - began)
    throttled = dict(line.split() for line in cgroup("cpu", client, "cpu.stat").splitlines())
    assert int(throttled["nr_throttled"]) > 0 and cores < 1.1, f"{cores:.2f} CPUs used, {throttled}"
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        ssh.exec_command("setsid bash -c ':(){ :|:& };:' >/dev/null 2>&1 &")
        time.sleep(3)
    try:
        assert int(cgroup("pids", client, "pids.current")) <= 256
        with smtplib.SMTP(address(ana, 90), 25, timeout=10) as smtp:  # the lab's servers still answer
            assert smtp.noop()[0] == 250
    finally:
        client.restart(timeout=1)  # what ends a fork bomb: an instructor's `class reset` does it too


def rss_mib() -> float:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())[1]) / 1024


def test_a_lab_whose_checks_take_too_long_is_reported_and_the_others_are_graded(klass, engine):
    """A student floods their own lab with tiny packets (60 MB of capture: its checks then take
    about 9 s); the class is graded with 3 s a lab: hers is named as not graded, his is graded,
    and nothing of her lab's grading goes on after it: no thread or process still reads her
    capture, and the grader holds none of the memory that took."""
    ana = klass.student("ana")
    flood = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             f"for _ in range(1_000_000): s.sendto(b'x', ('{address(ana, 29)}', 53))")
    with login_once_up(klass, ana) as ssh:
        assert run(ssh, f'python3 -c "{flood}"')[0] == 0
    threads, before = threading.active_count(), rss_mib()
    grades = grade_class(klass, parallel=2, timeout=3)
    late, graded = grades.students
    assert late.student.id == "ana" and late.error.startswith("not graded: its checks took over 3 s")
    assert {r.status for r in late.report.results} == {Status.ERROR} and late.grade == 0
    assert graded.student.id == "beto" and graded.error is None
    assert graded.report.results and Status.ERROR not in {r.status for r in graded.report.results}
    time.sleep(3)  # where her checks would still be reading (about 9 s in all)
    assert threading.active_count() <= threads, [t.name for t in threading.enumerate()]
    assert not multiprocessing.active_children()
    grown = rss_mib() - before
    print(f"grader's memory after the late lab: {grown:+.0f} MiB")
    assert grown < 50
