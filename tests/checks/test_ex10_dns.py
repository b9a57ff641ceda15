"""Exercise 10, items a) to e), on a real lab: a simulated student writes the
workspace and runs `labctl apply`; each check fails on the fresh lab, fails on
a near miss, and passes after the right action (and another right way)."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from checklab import assert_fails, assert_passes
from ex10student import Student, ex10_lab
from labctl.capture import lab_capture_files, load_capture
from labctl.capture.probes import is_probe, load_probes
from labctl.checks.ports import PortsParams, measure
from labctl.cli import app
from labctl.runtime import containers as ctr
from labctl.render.configs import DELEGATIONS_FILE
from labctl.workspace.zonesync import served_serial

ITEMS = ["a-delegacion", "a-resolucion", "b-zona", "b-autoritativos", "b-notify", "c-sin-recursion", "d-servicios", "e-puertos"]


@pytest.fixture(scope="module")
def ex10(engine):
    yield from ex10_lab(engine)


@pytest.fixture(scope="module")
def student(ex10):
    return Student(ex10)


def test_labctl_check_runs_every_item_of_the_exercise_and_each_fails_on_a_fresh_lab(ex10):
    """Every check exercise 10 declares (a to m, the backup MX's included) runs in
    `labctl check --exercise 10`, in the exercise's order, and none passes untouched."""
    result = CliRunner().invoke(app, ["check", "--exercise", "10", "--instance", ex10.instance, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert [c["id"] for c in report["checks"]] == [c.id for c in ex10.lab.exercises["10"].checks]
    assert {"m-mx-respaldo", "m-reenvio", "d-servicios", "e-puertos"} <= {c["id"] for c in report["checks"]}
    assert {c["id"]: c["status"] for c in report["checks"] if c["status"] != "fail"} == {}


def test_fresh_lab_fails_every_item_and_the_skeleton_applies(ex10, student):
    shown = CliRunner().invoke(app, ["workspace", "--instance", ex10.instance])
    assert shown.exit_code == 0 and shown.output.strip() == str(student.layout.dirs.workspace)
    assert "recursi" in student.read("ns1/named.conf.options") and f"zone \"{student.domain}\"" in student.read("ns2/named.conf.local")
    for item in ITEMS:
        assert_fails(ex10.check(item))
    # The untouched skeleton is valid BIND: applying it changes nothing that counts.
    student.applied()
    for item in ITEMS:
        assert_fails(ex10.check(item))


def test_a_broken_file_changes_nothing_and_says_why(ex10, student):
    installed = student.layout.installed("ns1", "named.conf.local").read_text(encoding="utf-8")
    student.write("ns1/named.conf.local", student.primary_zone_conf())
    good_zone = student.zone(2024040101)
    student.write(f"ns1/db.{student.domain}", good_zone + "foo IN AX 1\n")
    result = student.apply()
    assert result.code == 2 and f"ns1/db.{student.domain}:11: unknown RR type 'AX'" in result.output, result.output
    assert student.layout.installed("ns1", "named.conf.local").read_text(encoding="utf-8") == installed

    # BIND names no file for what is wrong inside a zone, or for a file it cannot open: the folder is named.
    student.write(f"ns1/db.{student.domain}", "\n".join(line for line in good_zone.splitlines() if not line.startswith("ns1")) + "\n")
    result = student.apply()
    assert result.code == 2 and f"error: ns1/: zone {student.domain}/IN: NS 'ns1.{student.domain}' has no address records" in result.output, result.output
    student.write(f"ns1/db.{student.domain}", good_zone)
    student.write("ns1/named.conf.local", student.primary_zone_conf().replace(f"/etc/bind/alumno/db.{student.domain}", f"db.{student.domain}"))
    result = student.apply()
    assert result.code == 2 and result.output.startswith(f"error: ns1/: zone {student.domain}/IN: loading from master file db.{student.domain} failed: file not found"), result.output
    assert "/etc/bind/alumno/<file>" in result.output and result.output.count("\n") == 1
    student.write("ns1/named.conf.local", student.primary_zone_conf())

    student.write("ns2/named.conf.local", student.secondary_zone_conf().replace("type secondary;", "type secondary"))
    result = student.apply()
    assert result.code == 2 and "ns2/named.conf.local:3: missing ';'" in result.output, result.output

    student.write("ns2/named.conf.local", student.secondary_zone_conf())
    student.write("registro.yaml", f"dominio: {student.domain}\nservidores:\n  - {{nombre: ns1.{student.domain}}}\n")
    result = student.apply()
    assert result.code == 2 and "registro.yaml: servidores[0].ip:" in result.output and "glue" in result.output, result.output
    student.write("respuestas.yaml", "ns1: [{servicio: dns, puerto: 53, transporte: sctp}]\n")
    student.write("registro.yaml", f"dominio: {student.domain}\nservidores: []\n")
    result = student.apply()
    assert result.code == 2 and "respuestas.yaml: ns1[0].transporte:" in result.output, result.output
    assert student.layout.installed("ns1", "named.conf.local").read_text(encoding="utf-8") == installed
    assert_fails(ex10.check("b-zona"))
    student.write("respuestas.yaml", "ns1: []\n")


def test_b_zone_records_near_misses_then_right(ex10, student):
    # MX at the webmail host, no webmail name: served, but wrong.
    student.serve_zone(2024040101, mx="@ IN MX 10 correo", webmail="")
    result = ex10.check("b-zona")
    assert_fails(result)
    assert "webmail" in result.detail and "no MX points at the mail server" in result.detail
    # Timers RFC 1912 advises against (retry longer than refresh, expire shorter): BIND
    # serves the zone and ns2 follows it (it raises expire to refresh + retry), so either
    # reading of b passes, with the advice in the detail.
    student.serve_zone(2024040102, soa_times="3600 7200 1800 3600")
    result = ex10.check("b-zona")
    assert_passes(result)
    assert ("(advice, not required: retry (7200) is usually shorter than refresh (3600); "
            "expire (1800) is usually much longer than refresh (3600), RFC 1912)") in result.detail, result.detail
    result = student.until("b-autoritativos")
    assert_passes(result)
    assert "2024040102" in result.detail, result.detail
    # Near miss: the SOA copied from Debian's db.local names localhost as the primary.
    student.write(f"ns1/db.{student.domain}", student.zone(2024040103).replace(f"@ IN SOA ns1.{student.domain}.", "@ IN SOA localhost."))
    student.applied()
    result = ex10.check("b-zona")
    assert_fails(result)
    assert f"the SOA names localhost. as the primary server, expected ns1.{student.domain}." in result.detail, result.detail
    assert "advice" not in result.detail, result.detail
    # Right, with webmail as a CNAME...
    student.serve_zone(2024040103)
    result = ex10.check("b-zona")
    assert_passes(result)
    assert "advice" not in result.detail, result.detail
    # ...or as an A record, with the timers of Debian's db.local and of the course's practica
    # zone (a week's negative TTL): other right ways. (The next tests go on from serial ...04.)
    student.serve_zone(2024040104, **db_local_zone(student))
    assert_passes(ex10.check("b-zona"))
    assert_passes(student.until("b-autoritativos"))


def db_local_zone(student) -> dict[str, str]:
    """webmail as an A record, the timers of Debian's db.local and of the course's practica zone."""
    return {"webmail": f"webmail IN A {student.ip('correo')}", "soa_times": "604800 86400 2419200 604800"}


def test_b_secondary_without_transfer_is_not_authoritative(ex10, student):
    # ns1 refuses the transfer (allow-transfer { none; }): ns2 keeps what it had; a fresh
    # secondary zone name never loads. (Serial ...04 is the previous test's last zone: the
    # same serial with other records would be a stale copy on ns2, which b fails.)
    student.serve_zone(2024040104, **db_local_zone(student))
    assert_passes(student.until("b-autoritativos"))
    student.write("ns1/named.conf.local", student.primary_zone_conf(transfer=False))
    student.write(f"ns1/db.{student.domain}", student.zone(2024040105))
    student.applied()
    result = student.until("b-autoritativos", timeout=3)
    assert_fails(result)
    assert "different serials" in result.detail


def test_b_notify_needs_notify_on(ex10, student):
    # Transfers allowed again, but NOTIFY off: ns2 does not learn of the new serial.
    student.write("ns1/named.conf.local", student.primary_zone_conf(notify="notify no;"))
    student.write(f"ns1/db.{student.domain}", student.zone(2024040106))
    student.applied()
    result = student.until("b-notify", timeout=4)
    assert_fails(result)
    assert "no NOTIFY" in result.detail
    # NOTIFY on (BIND's default, to the NS of the zone, plus also-notify): a raised serial arrives.
    student.serve_zone(2024040107)
    assert_passes(student.until("b-notify"))
    assert_passes(student.until("b-autoritativos"))


def test_a_registration_near_miss_then_right(ex10, student):
    assert_fails(ex10.check("a-delegacion"))
    assert_fails(ex10.check("a-resolucion"))
    student.register("ns1")
    result = ex10.check("a-delegacion")
    assert_fails(result)
    assert f"to ns1.{student.domain}.;" in result.detail
    assert "NS" in student.layout.installed("nic-ar", DELEGATIONS_FILE).read_text(encoding="utf-8")
    student.register("ns1", "ns2")
    assert_passes(ex10.check("a-delegacion"))
    assert_passes(ex10.check("a-resolucion"))
    # And through the lab's resolver as the student's PC sees it (root -> com.ar -> ns1/ns2).
    assert ex10.student("dig", "+short", f"mail.{student.domain}").strip() == student.ip("mail")


def test_c_recursion_refused_on_both(ex10, student):
    assert_fails(ex10.check("c-sin-recursion"))
    student.write("ns1/named.conf.options", "recursion no;\n")
    student.applied()
    result = ex10.check("c-sin-recursion")
    assert_fails(result)
    assert "ns2" in result.detail and "ns1" not in result.detail
    # Another right way on ns2: recursion for nobody.
    student.write("ns2/named.conf.options", "allow-recursion { none; };\n")
    student.applied()
    assert_passes(ex10.check("c-sin-recursion"))


RIGHT_ANSWERS = """\
ns1:
  - {servicio: dns, puerto: 53, transporte: udp}
  - {servicio: dns, puerto: 53, transporte: tcp}
ns2:
  - {servicio: dns, puerto: 53, transporte: udp}
  - {servicio: dns, puerto: 53, transporte: tcp}
mail:
  - {servicio: smtp, puerto: 25, transporte: tcp}
  - {servicio: submission, puerto: 587, transporte: tcp}
  - {servicio: pop3, puerto: 110, transporte: tcp}
  - {servicio: imap, puerto: 143, transporte: tcp}
correo:
  - {servicio: http, puerto: 80, transporte: tcp}
"""
# The webmail (when correo runs it) also answers HTTPS.
WEBMAIL_HTTPS = "  - {servicio: https, puerto: 443, transporte: tcp}\n"


def right_answers(ex10) -> str:
    return RIGHT_ANSWERS + (WEBMAIL_HTTPS if ex10.lab.services["correo"].role.value == "webmail" else "")


def test_d_e_services_and_ports_measured(ex10, student):
    assert_fails(ex10.check("d-servicios"))
    # DNS only over UDP, and IMAP claimed over UDP: the services are right, the ports are not.
    near = right_answers(ex10).replace("  - {servicio: dns, puerto: 53, transporte: tcp}\n", "").replace(
        "{servicio: imap, puerto: 143, transporte: tcp}", "{servicio: imap, puerto: 143, transporte: udp}")
    student.write("respuestas.yaml", near)
    student.applied()
    assert_passes(ex10.check("d-servicios"))
    result = ex10.check("e-puertos")
    assert_fails(result)
    assert "ns1: missing 53/tcp" in result.detail and "not offered: 143/udp" in result.detail
    # A service the server does not offer (the mail server has no IMAPS port).
    student.write("respuestas.yaml", right_answers(ex10).replace(
        "mail:\n", "mail:\n  - {servicio: imaps, puerto: 993, transporte: tcp}\n"))
    student.applied()
    result = ex10.check("d-servicios")
    assert_fails(result)
    assert "mail: not offered: imaps" in result.detail
    student.write("respuestas.yaml", right_answers(ex10))
    student.applied()
    assert_passes(ex10.check("d-servicios"))
    assert_passes(ex10.check("e-puertos"))


def test_the_port_probes_connections_are_labctls_in_the_capture(ex10, student):
    """The probe connects to every port of the student's servers from the client, a host a
    student uses too: each of its connections is recorded, so `capture follow` and the
    checks leave them out."""
    student.write("respuestas.yaml", right_answers(ex10))
    student.applied()
    started = time.time()
    assert_passes(ex10.check("d-servicios"))
    client_ip = str(ex10.lab.services["client"].ip)

    def probed():
        streams = load_capture(lab_capture_files(ex10.instance)).streams
        return [s for s in streams if s.client.ip == client_ip and s.start_ts >= started - 1]

    deadline = time.monotonic() + 10  # the capture is written as it goes
    while len(new := probed()) < 8 and time.monotonic() < deadline:  # 53, 25, 587, 143, 110, 80, 443...
        time.sleep(0.2)
    assert len(new) >= 8, [s.title for s in new]
    own = load_probes(ex10.instance)
    assert [s.title for s in new if not is_probe(s, own)] == []


def test_e_a_port_the_student_did_not_name_is_found_above_1024_too(ex10, student):
    """The ports tried are those each server listens on, not only the low ones."""
    student.write("respuestas.yaml", right_answers(ex10))
    student.write("ns1/named.conf.options", "recursion no;\nlisten-on { any; };\nlisten-on port 5353 { any; };\n")
    student.applied()
    result = ex10.check("e-puertos")
    assert_fails(result)
    assert "ns1: missing 5353/tcp, 5353/udp" in result.detail
    student.write("respuestas.yaml", right_answers(ex10).replace("ns2:\n", (
        "  - {servicio: dns, puerto: 5353, transporte: tcp}\n  - {servicio: dns, puerto: 5353, transporte: udp}\nns2:\n")))
    student.applied()
    assert_passes(ex10.check("e-puertos"))
    student.write("ns1/named.conf.options", "recursion no;\n")
    student.write("respuestas.yaml", right_answers(ex10))
    student.applied()
    assert_passes(ex10.check("e-puertos"))


@contextmanager
def busy_cpus(ex10, hosts: list[str], per_host: int):
    """Shell loops spinning inside the lab's hosts: each container's processes then share
    its CPU time with them (a whole-host load elsewhere would be one more cgroup)."""
    found = ctr.find_containers(ex10.engine, ex10.instance)
    spinning = []
    try:
        for host in hosts:
            for _ in range(per_host):
                code, pid = found[host].exec_run(["sh", "-c", "while :; do :; done >/dev/null 2>&1 & echo $!"])
                assert code == 0
                spinning.append((host, pid.decode().strip()))
        yield
    finally:
        for host, pid in spinning:
            found[host].exec_run(["kill", pid])


PROBED = ["ns1", "ns2", "mail", "correo"]


def test_d_e_truth_holds_on_a_loaded_host(ex10, student):
    """With two spinning loops in the probing host and in every probed server, the probe
    still finds each service, https on correo included, and right answers pass. (Under
    this load the probe of a7f63b1's parent, scanning 1024 ports with 0.5 s timeouts,
    lost every port of correo in two runs of three.)"""
    student.write("respuestas.yaml", right_answers(ex10))
    student.applied()
    dns = {"tcp": {53: "dns"}, "udp": {53: "dns"}}
    web = {80: "http", 443: "https"} if ex10.lab.services["correo"].role.value == "webmail" else {80: "http"}
    with busy_cpus(ex10, ["client", *PROBED], per_host=2):
        assert measure(ex10.context(), PortsParams()) == {
            "ns1": dns, "ns2": dns,
            "mail": {"tcp": {25: "smtp", 110: "pop3", 143: "imap", 587: "smtp"}, "udp": {}},
            "correo": {"tcp": web, "udp": {}},
        }
        assert_passes(ex10.check("d-servicios"))
        assert_passes(ex10.check("e-puertos"))


def test_b_notify_with_the_zone_named_in_capitals(ex10, student):
    """BIND logs the zone's name as named.conf spells it: `zone "REDES2024.COM.AR."` is the
    same zone, and its NOTIFY counts. A capitalised zone with NOTIFY off still fails."""
    capitals = student.domain.upper() + "."

    def serve(serial: int, notify: str) -> None:
        student.write("ns1/named.conf.local", student.primary_zone_conf(notify=notify).replace(f'"{student.domain}"', f'"{capitals}"'))
        student.write("ns2/named.conf.local", student.secondary_zone_conf())
        student.write(f"ns1/db.{student.domain}", student.zone(serial))
        student.applied()

    # BIND keeps the spelling of the zone it first loaded: ns1 drops the zone, then loads it anew.
    student.write("ns1/named.conf.local", "// no zones yet\n")
    student.applied()
    serve(2024040201, "also-notify {{ {ns2}; }};")
    serve(2024040202, "also-notify {{ {ns2}; }};")
    ns1_log = ctr.find_containers(ex10.engine, ex10.instance)["ns1"].logs().decode()
    assert f"zone {capitals[:-1]}/IN: loaded serial 2024040202" in ns1_log
    assert_passes(student.until("b-notify"))
    serve(2024040203, "notify no;")
    result = student.until("b-notify", timeout=4)
    assert_fails(result)
    assert "ns2 got no NOTIFY from ns1 for serial 2024040203" in result.detail
    serve(2024040204, "also-notify {{ {ns2}; }};")
    assert_passes(student.until("b-notify"))


def test_apply_returns_once_the_secondary_serves_the_new_zone(ex10, student):
    """Two applies within BIND's notify-delay (5 s): the second NOTIFY leaves ns1 seconds
    later. apply waits for ns2 before it flushes the lab resolver, which otherwise could ask
    ns2 and cache the old zone for a day: here a wrong SPF record, fixed at once."""
    student.register("ns1", "ns2")
    wrong = f'@ IN TXT "v=spf1 ip4:{student.ip("correo")} -all"'
    right = f'@ IN TXT "v=spf1 a:mail.{student.domain} -all"'
    student.serve_zone(2024040301, extra=wrong)
    student.serve_zone(2024040302, extra=right)
    assert served_serial(student.ip("ns2"), student.domain) == 2024040302
    assert ex10.student("dig", "+short", "TXT", student.domain).strip() == f'"v=spf1 a:mail.{student.domain} -all"'
    assert_passes(ex10.check("g-spf-registro"))
    # A secondary that cannot copy the zone is waited for a few seconds, and named.
    student.write("ns1/named.conf.local", student.primary_zone_conf(transfer=False))
    student.write(f"ns1/db.{student.domain}", student.zone(2024040303, extra=right))
    result = student.apply()
    assert result.code == 0 and f"note: ns2 still serves serial 2024040302 of {student.domain}" in result.output, result.output
    student.serve_zone(2024040304, extra=right)


def test_b_m_mx_near_misses_then_right(ex10, student):
    """An MX names a host with its own address: an alias (CNAME) is illegal (RFC 2181 10.3,
    BIND logs it so), and a name written without its final dot gets the zone's name added.
    Both are served by BIND and both fail b (mail's MX) and m (the backup)."""
    student.register("ns1", "ns2")
    student.write("respaldo-mx.yaml", f"backup_for: [{student.domain}]\n")
    student.serve_zone(2024040401, mx="@ IN MX 10 smtp\n@ IN MX 20 respaldo\nsmtp IN CNAME mail\nrespaldo IN CNAME mx.nube.com.ar.")
    result = ex10.check("b-zona")
    assert_fails(result)
    assert f"MX 10 smtp.{student.domain}. is an alias (CNAME)" in result.detail
    assert f"MX 20 respaldo.{student.domain}. is an alias (CNAME)" in result.detail
    assert "no MX points at the mail server" not in result.detail, result.detail  # the alias said it
    assert_fails(ex10.check("m-mx-respaldo"))

    student.serve_zone(2024040402, mx=f"@ IN MX 10 mail.{student.domain}\n@ IN MX 20 mx.nube.com.ar")
    result = ex10.check("b-zona")
    assert_fails(result)
    assert "did you mean mx.nube.com.ar.?" in result.detail and f"did you mean mail.{student.domain}.?" in result.detail
    assert_fails(ex10.check("m-mx-respaldo"))

    # The SOA's primary server without its final dot.
    zone = student.zone(2024040403, mx="@ IN MX 10 mail\n@ IN MX 20 mx.nube.com.ar.")
    student.write(f"ns1/db.{student.domain}", zone.replace(f"SOA ns1.{student.domain}.", f"SOA ns1.{student.domain}"))
    student.applied()
    result = ex10.check("b-zona")
    assert_fails(result)
    assert f"the SOA names ns1.{student.domain}.{student.domain}. as the primary server" in result.detail
    assert_passes(ex10.check("m-mx-respaldo"))

    # Mail has an MX, but another host is preferred: the webmail's (runs no SMTP), or the cloud's.
    for serial, better in ((2024040404, "correo"), (2024040405, "mx.nube.com.ar.")):
        student.serve_zone(serial, mx=f"@ IN MX 10 mail\n@ IN MX 5 {better}")
        result = ex10.check("b-zona")
        assert_fails(result)
        assert "the mail server's MX (10) is not the most preferred" in result.detail
    assert_fails(ex10.check("m-mx-respaldo"))

    # Right: the backup by the cloud's own name, or by a name of the zone with its own A record.
    student.serve_zone(2024040406, mx="@ IN MX 10 mail\n@ IN MX 20 mx.nube.com.ar.")
    assert_passes(ex10.check("b-zona"))
    assert_passes(ex10.check("m-mx-respaldo"))
    student.serve_zone(2024040407, mx="@ IN MX 10 mail\n@ IN MX 20 respaldo",
                       extra=f"respaldo IN A {student.ip('mail-nube')}\n")
    assert_passes(ex10.check("b-zona"))
    assert_passes(ex10.check("m-mx-respaldo"))


TSIG_KEY = 'key "transferencia" {\n    algorithm hmac-sha256;\n    secret "c2VjcmV0by1kZS1sYS16b25hLWRlbC1hbHVtbm8tMTIz";\n};\n'


def test_apply_with_tsig_added_to_both_servers_at_once(ex10, student):
    """A student secures the transfer with a TSIG key on ns1 and ns2 and raises the serial,
    in one apply. ns1 reloads first and its NOTIFY reaches ns2 before ns2 has the key: that
    transfer fails, and BIND would try again only at the SOA's retry (10 min here). apply asks
    each secondary to refresh after its reload, so ns2 copies the zone with the key at once."""
    student.serve_zone(2024040501)
    assert_passes(student.until("b-autoritativos"))
    time.sleep(6)  # past BIND's notify-delay: ns1's next NOTIFY leaves at once
    primary = student.primary_zone_conf().replace(f"allow-transfer {{ {student.ip('ns2')}; }};", "allow-transfer { key transferencia; };")
    student.write("ns1/named.conf.local", TSIG_KEY + primary)
    student.write("ns2/named.conf.local", TSIG_KEY + student.secondary_zone_conf().replace(
        f"primaries {{ {student.ip('ns1')}; }}", f"primaries {{ {student.ip('ns1')} key transferencia; }}"))
    student.write(f"ns1/db.{student.domain}", student.zone(2024040502))
    student.applied()
    assert served_serial(student.ip("ns2"), student.domain) == 2024040502
    assert_passes(ex10.check("b-autoritativos"))
    ns2_log = ctr.find_containers(ex10.engine, ex10.instance)["ns2"].logs().decode()
    assert "transferred serial 2024040502: TSIG 'transferencia'" in ns2_log


def test_an_edit_without_a_higher_serial_leaves_ns2_stale_and_fails(ex10, student):
    """A student edits the zone on ns1 and applies without raising the serial: ns1 serves
    the new records, ns2 keeps its copy (same serial, it never transfers), and the lab
    resolver answers from either. b fails (the servers disagree), and so do the checks that
    read the zone through the resolver, whichever copy is the right one; once the serial is
    raised, both pass."""
    student.register("ns1", "ns2")
    right = f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} -all"'
    webmail_too = f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} ip4:{student.ip("correo")} -all"'
    backup = "@ IN MX 10 mail\n@ IN MX 20 mx.nube.com.ar."
    student.serve_zone(2024040601, extra=right)
    assert_passes(student.until("b-autoritativos"))
    assert_passes(ex10.check("g-spf-registro"))
    assert_fails(ex10.check("m-mx-respaldo"))
    # The SPF widened to the webmail and the backup MX added, the serial left as it was:
    # apply says what ns2 still serves.
    student.write(f"ns1/db.{student.domain}", student.zone(2024040601, extra=webmail_too, mx=backup))
    applied = student.apply()
    assert applied.code == 0 and (f"note: ns2 serves other MX records for {student.domain}. than ns1" in applied.output
                                  and "only with a higher serial" in applied.output), applied.output
    assert served_serial(student.ip("ns2"), student.domain) == 2024040601
    result = ex10.check("b-autoritativos")
    assert_fails(result)
    assert "same serial 2024040601" in result.detail and "ns2 serves other MX records" in result.detail, result.detail
    for item in ("g-spf-registro", "m-mx-respaldo"):  # ns2 still serves the right SPF, ns1 the backup MX
        result = ex10.check(item)
        assert_fails(result)
        assert "ns2 serves other" in result.detail and "higher serial" in result.detail, result.detail
    # The other way round: ns2 keeps a wrong SPF that ns1 no longer has.
    student.serve_zone(2024040602, extra=webmail_too, mx=backup)
    assert_passes(student.until("b-autoritativos"))
    student.serve_zone(2024040602, extra=right, mx=backup)
    result = ex10.check("g-spf-registro")
    assert_fails(result)
    assert "ns2 serves other TXT records" in result.detail, result.detail
    # Right: the same edit with the serial raised reaches ns2, and apply has nothing to note.
    student.write(f"ns1/db.{student.domain}", student.zone(2024040603, extra=right, mx=backup))
    applied = student.apply()
    assert applied.code == 0 and "note:" not in applied.output, applied.output
    assert_passes(student.until("b-autoritativos"))
    assert_passes(ex10.check("g-spf-registro"))
    assert_passes(ex10.check("m-mx-respaldo"))


# The same right answers in other words: /etc/services' names (domain, imap2) and the
# course's (POP), ports written with their transport (25/tcp, TCP 143), any order, and
# the webmail's HTTPS alone (its port 80 only redirects browsers to https://).
OTHER_WORDS = """\
correo:
  - {servicio: HTTPS, puerto: 443/tcp}
mail:
  - {servicio: imap2, puerto: TCP 143}
  - {servicio: POP, puerto: 110/tcp}
  - {servicio: Submission, puerto: "587", transporte: TCP}
  - {servicio: SMTP, puerto: 25 (tcp)}
ns2:
  - {servicio: domain, puerto: 53/tcp}
  - {servicio: domain, puerto: 53/udp}
ns1:
  - {servicio: DNS, puerto: UDP 53}
  - {servicio: DNS, puerto: TCP 53}
"""


def test_d_e_right_answers_in_other_words_pass(ex10, student):
    assert ex10.lab.services["correo"].role.value == "webmail"
    student.write("ns1/named.conf.options", "recursion no;\n")
    student.write("respuestas.yaml", OTHER_WORDS)
    student.applied()
    assert_passes(ex10.check("d-servicios"))
    result = ex10.check("e-puertos")
    assert_passes(result)
    assert "correo: 80/tcp, 443/tcp" in result.detail, result.detail  # what correo answers on, shown all the same
    # Near misses: the webmail's plain HTTP without its HTTPS; a port and a transport that disagree.
    student.write("respuestas.yaml", OTHER_WORDS.replace("{servicio: HTTPS, puerto: 443/tcp}", "{servicio: http, puerto: 80/tcp}"))
    student.applied()
    assert "correo: missing https" in ex10.check("d-servicios").detail
    result = ex10.check("e-puertos")
    assert_fails(result)
    assert result.detail == "correo: missing 443/tcp", result.detail
    student.write("respuestas.yaml", OTHER_WORDS.replace("puerto: 110/tcp", "puerto: 110/udp, transporte: tcp"))
    result = student.apply()
    assert result.code == 2 and "respuestas.yaml: mail[1]: puerto '110/udp' says udp, transporte 'tcp'" in result.output, result.output
    student.write("respuestas.yaml", OTHER_WORDS)


def test_g_spf_record_written_other_ways_and_a_stale_second_one(ex10, student):
    """The SPF record split in two strings (as long TXT records are written), beside a TXT
    record of another use, in capitals, or naming mail by its full name: pass. A second
    v=spf1 record left from before makes every evaluation a permerror (RFC 7208 4.5), and
    the failure says why."""
    student.register("ns1", "ns2")
    mail = student.ip("mail")
    for serial, txt in ((2024040701, f'@ IN TXT "v=spf1 " "ip4:{mail} -all"\n@ IN TXT "google-site-verification=abc123"'),
                        (2024040702, f'@ IN TXT "V=SPF1 IP4:{mail} -ALL"'),
                        (2024040703, f'@ IN TXT "v=spf1 a:MAIL.{student.domain.upper()} -all"')):
        student.serve_zone(serial, extra=txt + "\n")
        assert_passes(ex10.check("g-spf-registro"))
    student.serve_zone(2024040704, extra=f'@ IN TXT "v=spf1 ip4:{mail} -all"\n@ IN TXT "v=spf1 ip4:{student.ip("correo")} -all"\n')
    result = ex10.check("g-spf-registro")
    assert_fails(result)
    assert f"({mail}): permerror (the record is not valid SPF: a typing error, or more than one v=spf1 record" in result.detail, result.detail
    student.serve_zone(2024040705, extra="")
    result = ex10.check("g-spf-registro")
    assert_fails(result)
    assert "none (no TXT record of the domain starts with v=spf1)" in result.detail, result.detail


def test_b_full_names_without_their_final_dot_are_told_where_they_went(ex10, student):
    """mail written in full without its final dot (as owner) and webmail a CNAME to a full
    name without it: BIND serves both one zone's name further down. b fails, and says where
    the records went and what was meant."""
    domain = student.domain
    zone = student.zone(2024040801, webmail=f"webmail IN CNAME correo.{domain}")
    student.write(f"ns1/db.{domain}", zone.replace("mail IN A", f"mail.{domain} IN A"))
    student.write("ns1/named.conf.local", student.primary_zone_conf())
    student.write("ns2/named.conf.local", student.secondary_zone_conf())
    student.applied()
    result = ex10.check("b-zona")
    assert_fails(result)
    assert (f"mail.{domain}. resolves to nothing, expected {student.ip('mail')} (its records are at "
            f"mail.{domain}.{domain}.: a full name written without the final dot") in result.detail, result.detail
    assert f"webmail.{domain}. resolves to nothing, expected {student.ip('correo')} (written without the final dot, so BIND added the zone's name: did you mean correo.{domain}.?)" in result.detail, result.detail
    assert f"MX 10 mail.{domain}. has no address in the zone (its records are at" in result.detail, result.detail
    student.serve_zone(2024040802, webmail=f"webmail IN CNAME correo.{domain}.")
    assert_passes(ex10.check("b-zona"))
