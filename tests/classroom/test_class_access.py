"""Students without Docker rights: each reaches their own client over SSH on a host
port with their own password, finds the lab's captures there read-only, and can
reach nothing of another student's lab."""
from __future__ import annotations

from ipaddress import IPv4Network

import paramiko
import pytest

from classcli import class_up, cli

CLASS = "t11ssh"
POOL = "10.131.0.0/23"
FIRST_PORT = "22400"


@pytest.fixture(scope="module")
def klass(engine, tmp_path_factory):
    yield from class_up(tmp_path_factory.mktemp("roster"), CLASS, "id,name\nana,Ana Díaz\nbeto,Beto Paz\n", "--pool", POOL, "--ssh-port", FIRST_PORT)


def login(klass, port: int, password: str) -> paramiko.SSHClient:
    """As a student from outside: the host's address the class's SSH ports listen on."""
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    ssh.connect(klass.ssh_bind, port=port, username="alumno", password=password, timeout=10,
                allow_agent=False, look_for_keys=False)
    return ssh


def run(ssh: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, stderr = ssh.exec_command(command, timeout=20)
    code = stdout.channel.recv_exit_status()
    return code, stdout.read().decode() + stderr.read().decode()


def address(student, host: int) -> str:
    return str(IPv4Network(student.subnet).network_address + host)


def test_each_student_logs_into_their_own_client(klass):
    ana, beto = klass.student("ana"), klass.student("beto")
    assert ana.ssh_port != beto.ssh_port and ana.ssh_password != beto.ssh_password
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        assert run(ssh, "id -un; hostname -i") == (0, f"alumno\n{address(ana, 100)}\n")
        code, listing = run(ssh, "ls ~/capturas/")
        assert code == 0 and ".pcap" in listing
        code, output = run(ssh, "touch ~/capturas/mine")
        assert code != 0 and "Read-only file system" in output
        # What the student came for: their own lab answers, with their own password.
        pop = ana.params["alumnopop_password"]
        code, output = run(ssh, f"printf 'USER alumnopop\\r\\nPASS {pop}\\r\\nQUIT\\r\\n' | nc -w 5 {address(ana, 90)} 110")
        assert code == 0 and "+OK Logged in." in output, output


def test_a_students_password_opens_no_other_client(klass):
    ana, beto = klass.student("ana"), klass.student("beto")
    with pytest.raises(paramiko.AuthenticationException):
        login(klass, beto.ssh_port, ana.ssh_password)
    with pytest.raises(paramiko.AuthenticationException):
        login(klass, ana.ssh_port, beto.ssh_password)


def test_another_students_lab_is_unreachable_from_a_client(klass):
    ana, beto = klass.student("ana"), klass.student("beto")
    with login(klass, ana.ssh_port, ana.ssh_password) as ssh:
        # Control: the own lab's services answer from the client...
        assert run(ssh, f"nc -z -w 2 {address(ana, 90)} 25")[0] == 0
        assert run(ssh, f"nc -z -w 2 {address(ana, 29)} 53")[0] == 0
        # ... and nothing of the other student's lab does.
        for host, port in ((90, 25), (90, 110), (29, 53), (100, 22), (50, 80)):
            code, output = run(ssh, f"nc -z -w 2 {address(beto, host)} {port}")
            assert code != 0, f"{address(beto, host)}:{port} reachable from ana's client: {output}"
        # Nor beto's SSH port: it listens on the host's outside address, which no lab
        # reaches, and not on ana's gateway (the one host address her lab reaches).
        for host in (klass.ssh_bind, address(ana, 1)):
            code, output = run(ssh, f"nc -z -w 2 {host} {beto.ssh_port}")
            assert code != 0, f"beto's SSH port reachable from ana's client at {host}: {output}"


def test_access_prints_the_table_and_one_sheet_per_student(klass, tmp_path):
    ana, beto = klass.student("ana"), klass.student("beto")
    output = cli("class", "access", "--name", CLASS, "--host", "redes.example", "--out", str(tmp_path))
    assert ana.ssh_password in output and beto.ssh_password in output
    sheet = (tmp_path / "ana.txt").read_text(encoding="utf-8")
    assert f"ssh -p {ana.ssh_port} alumno@redes.example" in sheet and ana.ssh_password in sheet
    assert ana.params["alumnopop_password"] in sheet and beto.params["alumnopop_password"] not in sheet
    assert address(ana, 90) in sheet and beto.ssh_password not in sheet
