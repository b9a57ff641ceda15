"""Exercise 10, items f) to m), on a real lab: a simulated student uses the webmail in a real
browser, publishes SPF and a backup MX through the workspace, sends with swaks and mutt's
tools from the lab's hosts, and stops and starts mail. Each check fails on the fresh lab,
fails on a near miss, and passes after the right action (and, where there is one, another
right way)."""
from __future__ import annotations

import time
import uuid

import pytest
from typer.testing import CliRunner

from checklab import assert_fails, assert_passes
from ex10student import Student, ex10_lab
from labctl.checks.smtp_messages import captured_messages
from labctl.cli import app
from labctl.paths import tls_dir
from labctl.render.tls import CA_CERT
from labctl.runtime import containers as ctr
from webmail_browser import browser, login, open_message, send, trusting_home

INSTANCE = "chk-ex10m"
SUBNET = "172.29.110.0/24"
MAIL_ITEMS = ["f-webmail-imap", "f-webmail-envio", "g-spf-registro", "g-spf-pass", "g-spf-fail", "h-adjunto",
              "i-remitente", "j-destinatario", "k-srv", "k-submission", "l-reintento", "m-mx-respaldo", "m-reenvio"]
PROVIDER_USER = "amigo@proveedor.com.ar"
RETRY = 30  # mail-proveedor's and mail-nube's retry interval in the lab


@pytest.fixture(scope="module")
def ex10(engine):
    yield from ex10_lab(engine, instance=INSTANCE, subnet=SUBNET)


@pytest.fixture(scope="module")
def student(ex10):
    return Student(ex10)


def run_in(ex10, service: str, *command: str, ok: bool = True) -> str:
    """A command in one of the lab's hosts (the client PC, the forging host...)."""
    code, output = ctr.find_containers(ex10.engine, ex10.instance)[service].exec_run(list(command))
    text = output.decode(errors="replace")
    assert not ok or code == 0, f"{command[:2]} in {service} failed ({code}): {text[-600:]}"
    return text


def swaks(ex10, *args: str, host: str = "client", ok: bool = True) -> str:
    return run_in(ex10, host, "swaks", "--silent", "1", *args, ok=ok)


def cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def provider_sends(ex10, student, subject: str) -> None:
    """amigo@proveedor.com.ar writes to alumno@<domain> through the provider's MSA."""
    swaks(ex10, "--server", student.ip("mail-proveedor"), "--port", "587", "--auth", "PLAIN",
          "--auth-user", PROVIDER_USER, "--auth-password", "amigopass", "--from", PROVIDER_USER,
          "--to", f"alumno@{student.domain}", "--header", f"Subject: {subject}")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.5)
    return value


def publish(student, serial: int, **zone) -> None:
    """Serve a new zone: apply returns once ns2 has it too, and the lab resolver forgot the old one."""
    student.serve_zone(serial, **zone)
    assert_passes(student.until("b-autoritativos", timeout=0))


def test_fresh_lab_fails_every_mail_item(ex10):
    for item in MAIL_ITEMS:
        assert_fails(ex10.check(item))


def test_domain_served_and_registered(ex10, student):
    """What the mail items stand on (items a, b): the zone with its MX, delegated."""
    publish(student, 2024040101)
    student.register("ns1", "ns2")
    assert ex10.student("dig", "+short", "MX", student.domain).strip() == f"10 mail.{student.domain}."


def test_h_attachment_encoded(ex10, student):
    swaks(ex10, "--server", student.ip("mail"), "--from", f"redes@{student.domain}",
          "--to", f"alumno@{student.domain}", "--header", "Subject: sin adjunto")
    ex10.captured()
    assert_fails(ex10.check("h-adjunto"))  # near miss: text only
    run_in(ex10, "client", "sh", "-c", "head -c 3000 /dev/urandom > /tmp/foto.jpg")

    def send_photo(subject: str, *tls: str):
        swaks(ex10, "--server", student.ip("mail"), *tls, "--from", f"redes@{student.domain}",
              "--to", f"alumno@{student.domain}", "--header", f"Subject: {subject}",
              "--attach-type", "image/jpeg", "--attach", "@/tmp/foto.jpg")
        ex10.captured()
        return ex10.check("h-adjunto")

    # Near miss: the attachment sent over STARTTLS (as Thunderbird does when offered): the
    # capture cannot show it, and the failure says how to send in clear.
    result = send_photo("adjunto cifrado", "--tls")
    assert_fails(result)
    assert "1 SMTP session(s) switched to TLS (STARTTLS)" in result.detail and "swaks without --tls" in result.detail
    result = send_photo("con adjunto")
    assert_passes(result)
    assert "foto.jpg" in result.detail and "base64" in result.detail


def test_i_j_visible_sender_and_recipient_forged(ex10, student):
    domain = student.domain
    # Near misses: only the display names differ from the envelope.
    swaks(ex10, "--server", student.ip("mail"), "--from", f"redes@{domain}", "--to", f"alumno@{domain}",
          "--header", f"From: Cátedra de Redes <redes@{domain}>", "--header", f"To: Alumno <ALUMNO@{domain}>")
    ex10.captured()
    assert_fails(ex10.check("i-remitente"))
    assert_fails(ex10.check("j-destinatario"))
    # Near miss for j: To: a local user, Cc: the provider's. The leg that mail relays to the
    # provider carries only the Cc'd recipient in RCPT TO, and nothing is forged.
    swaks(ex10, "--server", student.ip("mail"), "--port", "587", "--auth", "PLAIN", "--auth-user", "alumno",
          "--auth-password", "alumnopass", "--from", f"alumno@{domain}", "--to", f"redes@{domain},{PROVIDER_USER}",
          "--header", f"To: redes@{domain}", "--header", f"Cc: {PROVIDER_USER}", "--header", "Subject: con copia")
    wait_for(lambda: any(m.stream.server.ip == student.ip("mail-proveedor") and "con copia" in str(m.content["Subject"])
                         for m in captured_messages(ex10.context())), 20, "mail relayed the copy to the provider")
    assert_fails(ex10.check("j-destinatario"))
    assert_fails(ex10.check("i-remitente"))  # logged in as alumno, From: alumno@
    # i forged in the envelope too, as a webmail identity or swaks --from sends: the visible
    # sender is not who logged in (SASL LOGIN, Roundcube's choice).
    swaks(ex10, "--server", student.ip("mail"), "--port", "587", "--auth", "LOGIN", "--auth-user", "alumno",
          "--auth-password", "alumnopass", "--from", "presidente@casarosada.gob.ar", "--to", f"redes@{domain}")
    ex10.captured()
    result = ex10.check("i-remitente")
    assert_passes(result)
    assert "logged in as alumno | From: presidente@casarosada.gob.ar" in result.detail, result.detail
    swaks(ex10, "--server", student.ip("mail"), "--from", f"redes@{domain}", "--to", f"alumno@{domain}",
          "--header", "From: Presidencia <presidente@casarosada.gob.ar>", "--header", "To: todos@unlp.edu.ar")
    ex10.captured()
    result = ex10.check("i-remitente")
    assert_passes(result)
    assert f"MAIL FROM <redes@{domain}> | From: presidente@casarosada.gob.ar" in result.detail
    result = ex10.check("j-destinatario")
    assert_passes(result)
    assert f"RCPT TO <alumno@{domain}> | To:/Cc: todos@unlp.edu.ar" in result.detail


def test_k_submission_at_info_found_by_srv(ex10, student):
    # Near miss: port 25 of info's server, no AUTH (an MTA takes it only for its own users).
    swaks(ex10, "--server", student.ip("mail-info"), "--from", "redes@info.unlp.edu.ar",
          "--to", "redes@info.unlp.edu.ar")
    # Near misses for k-srv: info's server by its name only, another domain's SRV, and the
    # MX lookup that the student's MTA makes itself to relay a message to info.
    ex10.student("dig", "A", "mail.info.unlp.edu.ar")
    ex10.student("dig", "SRV", "_submission._tcp.proveedor.com.ar")
    swaks(ex10, "--server", student.ip("mail"), "--port", "587", "--auth", "PLAIN", "--auth-user", "alumno",
          "--auth-password", "alumnopass", "--from", f"alumno@{student.domain}", "--to", "redes@info.unlp.edu.ar")
    deadline = time.monotonic() + 20
    while not any(m.is_response and m.qtype == "MX" and m.qname == "info.unlp.edu.ar." and m.client.ip == student.ip("mail")
                  for m in ex10.context().capture.dns_messages()):
        assert time.monotonic() < deadline, "the MTA never looked up info's MX"
        time.sleep(0.3)
    ex10.captured()
    assert_fails(ex10.check("k-submission"))
    assert_fails(ex10.check("k-srv"))
    # The other way a MUA learns it: Thunderbird's account wizard asks the domain's MX.
    ex10.student("dig", "MX", "info.unlp.edu.ar")
    ex10.captured()
    result = ex10.check("k-srv")
    assert_passes(result)
    assert "info.unlp.edu.ar. MX answered" in result.detail, result.detail
    srv = ex10.student("dig", "+short", "SRV", "_submission._tcp.info.unlp.edu.ar").split()
    assert srv[2:] == ["587", "mail.info.unlp.edu.ar."]
    submit = ["--server", srv[3].rstrip("."), "--port", srv[2], "--auth", "LOGIN", "--auth-user", "redes@info.unlp.edu.ar",
              "--auth-password", "redespass", "--from", "redes@info.unlp.edu.ar", "--to", f"alumno@{student.domain}"]
    # As Thunderbird sends when the MSA offers STARTTLS: the item asks which server and
    # protocol, not to read the dialogue, so the MSA's own log of the session counts.
    swaks(ex10, *submit, "--tls")
    ex10.captured()
    result = ex10.check("k-submission")
    assert_passes(result)
    assert "(MTA log): EHLO, STARTTLS, AUTH, MAIL" in result.detail, result.detail
    swaks(ex10, *submit)
    ex10.captured()
    assert_passes(ex10.check("k-srv"))
    result = ex10.check("k-submission")
    assert_passes(result)


def test_f_g_webmail_and_spf(ex10, student, tmp_path):
    domain = student.domain
    # Near miss for f: the MSA used with AUTH, but from the client PC, not from the webmail.
    swaks(ex10, "--server", student.ip("mail"), "--port", "587", "--auth", "PLAIN", "--auth-user", "alumno",
          "--auth-password", "alumnopass", "--from", f"alumno@{domain}", "--to", PROVIDER_USER,
          "--header", "Subject: desde la PC")
    ex10.captured()
    assert_fails(ex10.check("f-webmail-envio"))
    # Near miss for g: a record that authorises the whole network.
    network = student.ip("mail").rsplit(".", 1)[0] + ".0/24"
    publish(student, 2024040102, extra=f'@ IN TXT "v=spf1 ip4:{network} -all"\n')
    result = ex10.check("g-spf-registro")
    assert_fails(result)
    assert "does not refuse other hosts" in result.detail and "correo" in result.detail
    publish(student, 2024040103, extra='@ IN TXT "v=spf1 mx -all"\n')
    assert_passes(ex10.check("g-spf-registro"))
    # Another right way: the address itself.
    publish(student, 2024040104, extra=f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} -all"\n')
    assert_passes(ex10.check("g-spf-registro"))
    # The mail from the PC reached the provider before the record existed: SPF none, not pass.
    assert_fails(ex10.check("g-spf-pass"))

    token = uuid.uuid4().hex[:8]
    host = f"webmail.{domain}"
    home = trusting_home(tmp_path / "home", tls_dir(INSTANCE) / CA_CERT)
    with browser(home, {host: student.ip("correo")}) as chromium:
        page = chromium.new_page()
        login(page, host, "alumno", "alumnopass")
        open_message(page, "con adjunto")  # delivered in item h
        send(page, host, PROVIDER_USER, f"Hola desde el webmail {token}", "Saludos.")
        page.screenshot(path=str(tmp_path / "ex10-webmail.png"), full_page=True)
    ex10.captured()
    assert_passes(ex10.check("f-webmail-imap"))
    assert_passes(ex10.check("f-webmail-envio"))
    assert_passes(ex10.eventually("g-spf-pass"))

    # Forged from the forging host, but with another domain in MAIL FROM: not about this domain.
    swaks(ex10, "--server", student.ip("mail-proveedor"), "--from", "alguien@otro.example", "--to", PROVIDER_USER,
          host="falsificador")
    assert_fails(ex10.check("g-spf-fail"))
    forged = swaks(ex10, "--server", student.ip("mail-proveedor"), "--from", f"rector@{domain}", "--to",
                   PROVIDER_USER, "--quit-after", "RCPT", host="falsificador", ok=False)
    assert "550 5.7.23" in forged
    result = ex10.check("g-spf-fail")
    assert_passes(result)
    assert "fail" in result.detail


def test_l_provider_defers_while_mail_is_stopped_and_delivers_after(ex10, student):
    # Near miss: mail is up, the provider delivers at once (nothing deferred).
    provider_sends(ex10, student, "sin corte")
    assert_fails(ex10.check("l-reintento"))
    cli("stop", "mail", "--instance", INSTANCE)
    provider_sends(ex10, student, "durante el corte")
    deferred = wait_for(lambda: "has not delivered it yet" in ex10.check("l-reintento").detail, 30,
                        "the provider deferred the mail")
    assert deferred
    assert_fails(ex10.check("l-reintento"))  # still down: deferred, not delivered
    cli("start", "mail", "--instance", INSTANCE)
    result = ex10.eventually("l-reintento", timeout=RETRY + 15)
    assert_passes(result)
    assert f"retry interval {RETRY} s" in result.detail


def test_l_a_send_from_info_counts_too(ex10, student):
    """Item l asks what the senders do while the only mail server restarts: a message from
    redes@info.unlp.edu.ar (the account of item k), queued and retried by info's MTA, shows
    it as the provider's does. Before mail is back, it still fails."""
    ex10.forget_mail()
    assert_fails(ex10.check("l-reintento"))
    cli("stop", "mail", "--instance", INSTANCE)
    swaks(ex10, "--server", student.ip("mail-info"), "--port", "587", "--auth", "PLAIN",
          "--auth-user", "redes@info.unlp.edu.ar", "--auth-password", "redespass", "--from", "redes@info.unlp.edu.ar",
          "--to", f"alumno@{student.domain}", "--header", "Subject: desde info durante el corte")
    wait_for(lambda: "mail-info deferred mail" in ex10.check("l-reintento").detail, 30, "info's MTA deferred the mail")
    assert_fails(ex10.check("l-reintento"))
    cli("start", "mail", "--instance", INSTANCE)
    result = ex10.eventually("l-reintento", timeout=90)  # info's MTA backs off: 5 s, doubling
    assert_passes(result)
    assert result.detail.startswith("mail-info: ")


def mail_down_while_the_provider_sends(ex10, student, subject: str):
    """mail stopped, the provider sends, the cloud server takes and defers the mail, mail
    started again: m-reenvio once the cloud forwarded it (or its last result)."""
    cli("stop", "mail", "--instance", INSTANCE)
    provider_sends(ex10, student, subject)
    wait_for(lambda: "has not delivered it yet" in ex10.check("m-reenvio").detail, 30,
             "the cloud server took and deferred the mail")
    cli("start", "mail", "--instance", INSTANCE)
    return ex10.eventually("m-reenvio", timeout=RETRY + 15)


def test_m_backup_mx_in_the_cloud(ex10, student):
    spf = f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} -all"\n'
    # Near miss: the cloud server preferred over mail (lower number is tried first).
    publish(student, 2024040105, mx="@ IN MX 10 mail\n@ IN MX 5 mx.nube.com.ar.", extra=spf)
    result = ex10.check("m-mx-respaldo")
    assert_fails(result)
    assert "higher preference number" in result.detail
    publish(student, 2024040106, mx="@ IN MX 10 mail\n@ IN MX 20 mx.nube.com.ar.", extra=spf)
    assert_passes(ex10.check("m-mx-respaldo"))
    # Near miss: the MX is there but the cloud server is not enabled as backup: it refuses to relay.
    cli("stop", "mail", "--instance", INSTANCE)
    provider_sends(ex10, student, "respaldo sin habilitar")
    time.sleep(3)
    assert_fails(ex10.check("m-reenvio"))
    cli("start", "mail", "--instance", INSTANCE)
    # Right: backup enabled in the workspace, applied; mail stopped, the cloud takes the mail.
    student.write("respaldo-mx.yaml", f"backup_for:\n  - {student.domain}\n")
    student.applied()
    assert_passes(mail_down_while_the_provider_sends(ex10, student, "respaldo habilitado"))


def test_g_forgery_from_any_host_but_mail_counts(ex10, student):
    """Item g: mail from the domain is refused unless it comes from mail. A forgery sent
    from the student's own PC proves it as the forging host's does; with ~all the provider
    only marks it (softfail), which is not the refusal the item asks for."""
    student.register("ns1", "ns2")
    ex10.forget_mail()
    mx = "@ IN MX 10 mail\n@ IN MX 20 mx.nube.com.ar."
    # Near miss: a network around mail (a mask by habit) where no other lab host lives.
    publish(student, 2024040107, mx=mx, extra=f'@ IN TXT "v=spf1 ip4:{student.ip("mail")}/30 -all"\n')
    result = ex10.check("g-spf-registro")
    assert_fails(result)
    assert "the address next to mail" in result.detail
    publish(student, 2024040108, mx=mx, extra=f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} ~all"\n')
    swaks(ex10, "--server", student.ip("mail-proveedor"), "--from", f"rector@{student.domain}", "--to", PROVIDER_USER)
    result = ex10.check("g-spf-fail")
    assert_fails(result)
    assert f"softfail from {student.ip('client')} (~all gives softfail, which the provider only marks and accepts" in result.detail, result.detail
    publish(student, 2024040109, mx=mx, extra=f'@ IN TXT "v=spf1 ip4:{student.ip("mail")} -all"\n')
    assert_passes(ex10.check("g-spf-registro"))
    forged = swaks(ex10, "--server", student.ip("mail-proveedor"), "--from", f"rector@{student.domain}", "--to",
                   PROVIDER_USER, "--quit-after", "RCPT", ok=False)
    assert "550 5.7.23" in forged
    result = ex10.check("g-spf-fail")
    assert_passes(result)
    assert f"from client ({student.ip('client')}): fail" in result.detail


def test_m_backup_named_in_the_students_zone_forwards_too(ex10, student):
    """The backup MX by a name of the student's own zone (respaldo.<domain> A <the cloud's
    address>), which b and m accept: the cloud server finds itself in the MX list by its
    address, as Postfix does, and queues the mail for mail. (Knowing itself only by its host
    name, it relayed the mail to itself in a loop, and m-reenvio never saw mail unreachable.)"""
    student.register("ns1", "ns2")
    student.write("respaldo-mx.yaml", f"backup_for: [{student.domain}]\n")
    ex10.forget_mail()
    publish(student, 2024040110, mx="@ IN MX 10 mail\n@ IN MX 20 respaldo",
            extra=f"respaldo IN A {student.ip('mail-nube')}\n")
    assert_passes(ex10.check("m-mx-respaldo"))
    assert_fails(ex10.check("m-reenvio"))
    result = mail_down_while_the_provider_sends(ex10, student, "respaldo con nombre propio")
    assert_passes(result)
    assert result.detail.startswith("mail-nube: ") and "deferred (451 4.4.1" in result.detail, result.detail
    # Item l, done only now: the provider deferred nothing, the backup took the mail, and l says so.
    result = ex10.check("l-reintento")
    assert_fails(result)
    assert (f"mail-proveedor never found mail unreachable for mail to @{student.domain} (stop it while mail is sent); "
            f"it may hand that mail to {student.ip('mail-nube')} too (another MX of the domain)") in result.detail, result.detail
