"""Exercises 7 (several mails per connection, two domains), 8 (MSA on 2525), 9 (MTA on
2526: relayed mail stays deferred) and 11 (swaks with a PDF, TXT lookups)."""
from __future__ import annotations

import base64

import pytest

from checklab import assert_fails, assert_passes, exercise_lab
from labctl.runtime import containers as ctr
from student import send, typed

POP, IMAP = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"
UNO, DOS = "uno@otro.unlp.edu.ar", "dos@otro.unlp.edu.ar"
LOGIN = ("alumnopop", "alumnopoppass")


@pytest.fixture(scope="module")
def ex7(engine):
    yield from exercise_lab(engine, "7")


def test_ex7_mua_msa_several_messages(ex7):
    assert_fails(ex7.check("mua-msa-two-messages"))
    # Two mails, two connections: no reuse.
    for n in range(2):
        ex7.python(send(ex7.ip("mail"), POP, IMAP, f"separado {n}"))
    ex7.captured()
    result = ex7.check("mua-msa-two-messages")
    assert_fails(result)
    assert "2 SMTP to mail session(s)" in result.detail  # each connection once, though in capture and log
    assert "1 mail(s) accepted in the connection (messages times their recipients), 2 wanted" in result.detail, result.detail
    # Over TLS on the MSA, as Thunderbird sends: the capture cannot show it, the MTA's log can.
    ex7.python(send(ex7.ip("mail"), POP, IMAP, "juntos y cifrados", count=2, port=587, login=LOGIN, starttls=True))
    result = ex7.eventually("mua-msa-two-messages", timeout=3)
    assert_passes(result)
    assert "(MTA log)" in result.detail and "STARTTLS" in result.detail, result.detail


@pytest.fixture
def ex7_second(engine):
    yield from exercise_lab(engine, "7", second=True)


def test_ex7_two_messages_in_clear_with_helo(ex7_second):
    ex7_second.python(send(ex7_second.ip("mail"), POP, IMAP, "juntos", count=2, helo=True))
    ex7_second.captured()
    assert_passes(ex7_second.check("mua-msa-two-messages"))


def test_ex7_mta_mta_one_connection(ex7):
    assert_fails(ex7.check("mta-mta-two-recipients"))
    assert_fails(ex7.check("delivered-otro"))
    # One recipient of the other domain alone: relayed, and received by uno, but one recipient.
    ex7.python(send(ex7.ip("mail"), POP, UNO, "a uno", port=587, login=LOGIN))
    assert_passes(ex7.eventually("delivered-otro"))
    result = ex7.eventually("mta-mta-two-recipients", timeout=8)
    assert_fails(result)
    assert "1 recipient" in result.detail and f"carried mail for {UNO} alone" in result.detail, result.detail
    ex7.python(send(ex7.ip("mail"), POP, UNO, "a los dos", port=587, login=LOGIN, recipients=[UNO, DOS, IMAP]))
    assert_passes(ex7.eventually("mta-mta-two-recipients"))
    assert_passes(ex7.eventually("delivered-otro"))


def swaks_msa(lab, *recipients: str) -> None:
    """Sent as a student does with swaks through the MSA (587, AUTH): one connection, one message."""
    lab.student("swaks", "--server", lab.ip("mail"), "--port", "587", "--auth-user", LOGIN[0], "--auth-password", LOGIN[1],
                "--from", POP, "--to", ",".join(recipients), "--header", "Subject: ejercicio 7")


def test_ex7_one_message_for_recipients_of_both_domains(ex7):
    """The statement's "destinatarios de dominios distintos" as one message to alumnoimap and
    to uno@otro: two mails in one MUA→MSA connection, and the MTA relays only uno's to
    otro's MX. One recipient of otro alone stays short on both sides."""
    ex7.reset()
    # One recipient typed twice (telnet): Postfix delivers one mail.
    ex7.python(typed(ex7.ip("mail"), ["EHLO cliente", f"MAIL FROM:<{POP}>", f"RCPT TO:<{IMAP}>", f"RCPT TO:<{IMAP.upper()}>", "DATA"],
                     ["Subject: dos veces", "", "hola"]))
    swaks_msa(ex7, UNO)
    assert_passes(ex7.eventually("delivered-otro"))
    result = ex7.eventually("mta-mta-two-recipients", timeout=3)
    assert_fails(result)
    assert f"carried mail for {UNO} alone" in result.detail, result.detail
    ex7.captured()
    result = ex7.check("mua-msa-two-messages")
    assert_fails(result)
    assert "1 mail(s) accepted in the connection" in result.detail, result.detail
    swaks_msa(ex7, IMAP, UNO)
    result = ex7.eventually("mta-mta-two-recipients")
    assert_passes(result)
    assert f"the message was sent to {IMAP}, {UNO}" in result.detail, result.detail
    result = ex7.eventually("mua-msa-two-messages")
    assert_passes(result)
    assert "EHLO, AUTH, MAIL, RCPT, DATA" in result.detail, result.detail


def test_ex7_separate_messages_to_two_recipients_of_the_other_domain(ex7):
    """uno@ then dos@otro, one message each and one swaks each: the MTA relays each in its
    own connection, and MTA→MTA shows mail for two recipients of the domain. The MUA still
    sent one mail per connection."""
    ex7.reset()
    swaks_msa(ex7, UNO)
    swaks_msa(ex7, DOS)
    result = ex7.eventually("mta-mta-two-recipients")
    assert_passes(result)
    assert f"together carried 2 recipients: {DOS}, {UNO}" in result.detail, result.detail
    ex7.captured()
    result = ex7.check("mua-msa-two-messages")
    assert_fails(result)
    assert "1 mail(s) accepted in the connection" in result.detail, result.detail


@pytest.fixture(scope="module")
def ex8(engine):
    yield from exercise_lab(engine, "8")


def test_ex8_msa_on_2525(ex8):
    assert_fails(ex8.check("submission-2525"))
    assert_fails(ex8.check("delivered"))
    # Sent on the standard port: delivered, but not through the MSA on 2525.
    ex8.python(send(ex8.ip("mail"), POP, IMAP, "por el 25"))
    ex8.captured()
    assert_fails(ex8.check("submission-2525"))
    result = ex8.eventually("delivered", timeout=3)
    assert_fails(result)
    assert "no message from alumnoimap@redes.unlp.edu.ar or alumnopop@redes.unlp.edu.ar was submitted" in result.detail
    assert "(0 session(s) on that port" in result.detail  # labctl's probe of port 2525 is none
    # From alumnoimap to alumnopop (the statement names no direction), over STARTTLS as
    # Thunderbird does: the capture shows ciphertext, the MSA's log the whole session.
    ex8.python(send(ex8.ip("mail"), IMAP, POP, "por el 2525 cifrado", port=2525, login=("alumnoimap", "alumnoimappass"), starttls=True))
    result = ex8.eventually("submission-2525", timeout=3)
    assert_passes(result)
    assert "(MTA log)" in result.detail
    result = ex8.eventually("delivered")
    assert_passes(result)
    assert "alumnoimap@redes.unlp.edu.ar submitted on port 2525" in result.detail and "delivered to alumnopop" in result.detail


def helo_auth_by_hand(server: str, sender: str, to: str) -> str:
    plain = base64.b64encode(b"\0alumnopop\0alumnopoppass").decode()
    return typed(server, ["HELO cliente", f"AUTH PLAIN {plain}", f"MAIL FROM:<{sender}>", f"RCPT TO:<{to}>", "DATA"],
                 ["Subject: a mano con HELO", "", "hola"], port=2525)


def test_ex8_authenticated_by_hand_after_helo(ex8):
    """Typed by hand (telnet): HELO, then AUTH, as Debian's Postfix takes it: an authenticated
    send on 2525 all the same."""
    ex8.forget_mail()
    assert_fails(ex8.check("submission-2525"))
    ex8.python(helo_auth_by_hand(ex8.ip("mail"), POP, IMAP))
    result = ex8.eventually("submission-2525", timeout=3)
    assert_passes(result)
    assert "HELO, AUTH, MAIL, RCPT, DATA" in result.detail, result.detail
    assert_passes(ex8.eventually("delivered"))


def test_ex8_sent_to_the_server_s_own_name_is_delivered_to_the_account(ex8):
    """alumnoimap@mail.redes.unlp.edu.ar is alumnoimap's mailbox (mydestination has the host
    name); to alumnopop there, from alumnopop, it is still a message to itself."""
    ex8.forget_mail()
    ex8.python(helo_auth_by_hand(ex8.ip("mail"), POP, "alumnopop@mail.redes.unlp.edu.ar"))
    result = ex8.eventually("delivered", timeout=3, until=lambda r: "none from one of" in r.detail)
    assert_fails(result)
    assert "alumnopop@redes.unlp.edu.ar → alumnopop@redes.unlp.edu.ar delivered" in result.detail, result.detail
    ex8.python(helo_auth_by_hand(ex8.ip("mail"), POP, "alumnoimap@mail.redes.unlp.edu.ar"))
    result = ex8.eventually("delivered")
    assert_passes(result)
    assert "delivered to alumnoimap@mail.redes.unlp.edu.ar" in result.detail, result.detail


@pytest.fixture
def ex8_second(engine):
    yield from exercise_lab(engine, "8", second=True)


def test_ex8_msa_on_2525_in_clear(ex8_second):
    lab = ex8_second
    # To itself: submitted on 2525, but not from one account to the other.
    lab.python(send(lab.ip("mail"), POP, POP, "a mí mismo", port=2525, login=LOGIN))
    result = lab.eventually("delivered", timeout=3)
    assert_fails(result)
    assert "alumnopop@redes.unlp.edu.ar → alumnopop@redes.unlp.edu.ar delivered" in result.detail, result.detail
    lab.python(send(lab.ip("mail"), POP, IMAP, "por el 2525", port=2525, login=LOGIN))
    assert_passes(lab.eventually("submission-2525", timeout=3))
    assert_passes(lab.eventually("delivered"))


@pytest.fixture(scope="module")
def ex9(engine):
    yield from exercise_lab(engine, "9")


def test_ex9_direct_delivery_on_2526(ex9):
    assert_fails(ex9.check("direct-2526"))
    # Port 25 of mail.otro: nobody listens there.
    code, output = ex9.client.exec_run(["swaks", "--to", UNO, "--from", POP, "--server", ex9.ip("mail-otro"), "--port", "25"])
    assert code != 0, output
    ex9.captured()
    assert_fails(ex9.check("direct-2526"))
    ex9.student("swaks", "--to", UNO, "--from", POP, "--server", ex9.ip("mail-otro"), "--port", "2526")
    assert_passes(ex9.eventually("direct-2526", timeout=3))


def test_ex9_relay_by_mx_stays_deferred(ex9):
    assert_fails(ex9.check("relay-deferred"))
    # Local mail is delivered, never deferred.
    ex9.python(send(ex9.ip("mail"), POP, IMAP, "local", port=587, login=LOGIN))
    assert_fails(ex9.eventually("relay-deferred", timeout=3))
    ex9.python(send(ex9.ip("mail"), POP, UNO, "por MX", port=587, login=LOGIN))
    result = ex9.eventually("relay-deferred")
    assert_passes(result)
    assert UNO in result.detail


def test_ex9_deferral_counts_after_the_mail_left_the_queue(ex9):
    # However the mail leaves the queue (bounced when its lifetime ends, delivered after a
    # fix, removed by an administrator as with postsuper -d), the MTA's log keeps the deferral.
    assert_passes(ex9.eventually("relay-deferred"))
    mail = ctr.find_containers(ex9.engine, ex9.instance)["mail"]
    code, output = mail.exec_run(["sh", "-c", "rm -f /var/lib/labctl-mail/spool/*.msg"])
    assert code == 0, output
    result = ex9.check("relay-deferred")
    assert_passes(result)
    assert "(MTA log" in result.detail and "refused" in result.detail, result.detail


@pytest.fixture(scope="module")
def ex11(engine):
    yield from exercise_lab(engine, "11")


SUBJECT_11 = "SMTP-Práctica4"
SWAKS = ["swaks", "--from", "redesycomunicaciones@redes.unlp.edu.ar", "--to", IMAP, "--header", f"Subject: {SUBJECT_11}"]


def hint_command(lab) -> str:
    """The swaks command exercise 11's hint gives, as the student would paste it."""
    [check] = [c for c in lab.lab.exercises["11"].checks if c.id == "swaks-pdf"]
    return check.hint.split("  (", 1)[0]


def test_ex11_dialogue_is_the_exercise_send(ex11):
    """Another clear session beside swaks's own over TLS is a near miss (issue 8); the
    exercise's message sent in clear, here by smtplib with HELO, passes."""
    mail, other = ex11.ip("mail"), "redesycomunicaciones@redes.unlp.edu.ar"
    result = ex11.check("smtp-dialogue")
    assert_fails(result)
    assert result.detail.startswith("the capture has no SMTP to mail connection"), result.detail
    ex11.student("sh", "-c", f"cd /tmp && printf 'Subject: prueba\\r\\n\\r\\nhola\\r\\n' > m.txt && curl -sS smtp://{mail} "
                             f"--mail-from a@redes.unlp.edu.ar --mail-rcpt {IMAP} -T m.txt")
    ex11.captured()
    result = ex11.check("smtp-dialogue")
    assert_fails(result)
    assert (f"it carried a message from a@redes.unlp.edu.ar to {IMAP} with subject 'prueba', not the exercise's "
            f"(a message from {other} to {IMAP} with subject containing '{SUBJECT_11}')") in result.detail, result.detail
    ex11.student("sh", "-c", "cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf && "
                             f"{hint_command(ex11)} --tls")
    result = ex11.eventually("smtp-dialogue", until=lambda r: "the exercise's message (" in r.detail)
    assert_fails(result)
    assert "has EHLO, STARTTLS; missing MAIL, RCPT, DATA|BDAT" in result.detail, result.detail
    assert (f"it carried the exercise's message (a message from {other} to {IMAP} with subject '{SUBJECT_11}', "
            "as the MTA's log has it), but encrypted (STARTTLS): send without TLS (swaks without --tls") in result.detail, result.detail
    ex11.python(send(mail, other, IMAP, SUBJECT_11, helo=True))
    ex11.captured()
    result = ex11.check("smtp-dialogue")
    assert_passes(result)
    assert ": HELO, MAIL, RCPT, DATA" in result.detail and f"it carried a message from {other} to {IMAP}" in result.detail, result.detail


def test_ex11_dialogue_of_the_hint_command(ex11):
    ex11.reset()  # the capture of the other ways gone: this one passes on its own
    assert_fails(ex11.check("smtp-dialogue"))
    ex11.student("sh", "-c", f"cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf && {hint_command(ex11)}")
    ex11.captured()
    result = ex11.check("smtp-dialogue")
    assert_passes(result)
    assert ": EHLO, MAIL, RCPT, DATA" in result.detail, result.detail
    ex11.forget_mail()


def test_ex11_swaks_with_pdf(ex11):
    assert_fails(ex11.check("swaks-pdf"))
    ex11.student("sh", "-c", "cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf && head -c 3000 /dev/urandom >> archivo.pdf")
    # Right subject, but the attachment is a plain-text file.
    ex11.student("sh", "-c", "echo notas > /tmp/notas.txt")
    ex11.student(*SWAKS, "--server", ex11.ip("mail"), "--attach-type", "text/plain", "--attach", "@/tmp/notas.txt")
    assert_passes(ex11.eventually("smtp-dialogue", timeout=3))
    result = ex11.eventually("swaks-pdf", timeout=3)
    assert_fails(result)
    assert "lacks: an attachment of type application/pdf (its attachments: text/plain)" in result.detail
    # A PDF, but the subject lost its accent.
    ex11.student(*SWAKS[:-1], "Subject: SMTP-Practica4", "--server", ex11.ip("mail"), "--attach", "@/tmp/archivo.pdf")
    result = ex11.eventually("swaks-pdf", timeout=3)
    assert_fails(result)
    assert "lacks: subject containing 'SMTP-Práctica4'" in result.detail


def test_ex11_swaks_attaching_a_path_that_does_not_exist_sends_no_pdf(ex11):
    """swaks attaches the argument itself when no file has that name (a typo): labelled
    application/pdf as asked, its bytes are the path, and no reader opens it as a PDF."""
    ex11.forget_mail()
    ex11.student("sh", "-c", "cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf")
    ex11.student(*SWAKS, "--server", ex11.ip("mail"), "--attach-type", "application/pdf", "--attach", "/tmp/archvo.pdf")
    result = ex11.eventually("swaks-pdf", until=lambda r: "has received no message" not in r.detail)
    assert_fails(result)
    assert "(its attachments: application/pdf by its label only, not by its bytes)" in result.detail, result.detail
    ex11.student(*SWAKS, "--server", ex11.ip("mail"), "--attach-type", "application/pdf", "--attach", "/tmp/archivo.pdf")
    assert_passes(ex11.eventually("swaks-pdf"))


def test_ex11_sent_to_the_server_s_own_name_reaches_alumnoimap(ex11):
    """Postfix's mydestination has the host name: alumnoimap@mail.redes.unlp.edu.ar is
    alumnoimap's mailbox, and the MTA delivers it there. The checks looked for that
    address, and said the message had not come over SMTP and the dialogue carried another
    recipient's. alumnopop there is still another recipient."""
    ex11.reset()
    ex11.student("sh", "-c", "cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf")
    swaks = [*SWAKS[:3], "--header", f"Subject: {SUBJECT_11}", "--server", "mail.redes.unlp.edu.ar", "--attach", "@/tmp/archivo.pdf"]
    ex11.student(*swaks, "--to", "alumnopop@mail.redes.unlp.edu.ar")
    ex11.captured()
    result = ex11.check("smtp-dialogue")
    assert_fails(result)
    assert "to alumnopop@mail.redes.unlp.edu.ar with subject 'SMTP-Práctica4', not the exercise's" in result.detail, result.detail
    ex11.student(*swaks, "--to", "alumnoimap@mail.redes.unlp.edu.ar")
    assert_passes(ex11.eventually("swaks-pdf"))
    ex11.captured()
    result = ex11.check("smtp-dialogue")
    assert_passes(result)
    assert "to alumnoimap@mail.redes.unlp.edu.ar with subject 'SMTP-Práctica4'" in result.detail, result.detail


@pytest.mark.parametrize("command", [
    "hint",  # --attach-type application/pdf --attach @archivo.pdf
    "cd /tmp && swaks --server mail.redes.unlp.edu.ar --from redesycomunicaciones@redes.unlp.edu.ar "
    "--to alumnoimap@redes.unlp.edu.ar --header 'Subject: SMTP-Práctica4' --attach @archivo.pdf",  # octet-stream
    # Decomposed accent (a Mac's keyboard) and other case: the same subject on screen.
    "cd /tmp && swaks --server mail.redes.unlp.edu.ar --from redesycomunicaciones@redes.unlp.edu.ar "
    "--to alumnoimap@redes.unlp.edu.ar --header 'Subject: smtp-pra\u0301ctica4' --attach @archivo.pdf",
    # No --server: swaks finds the MX of redes.unlp.edu.ar (with Net::DNS, which Debian's apt
    # installs with it as a recommendation).
    "cd /tmp && swaks --from redesycomunicaciones@redes.unlp.edu.ar --to alumnoimap@redes.unlp.edu.ar "
    "--header 'Subject: SMTP-Práctica4' --attach-type application/pdf --attach @archivo.pdf",
])
def test_ex11_swaks_ways_that_pass(ex11, command):
    ex11.forget_mail()
    assert_fails(ex11.check("swaks-pdf"))
    ex11.student("sh", "-c", "cd /tmp && printf '%%PDF-1.4\\n%%apunte\\n' > archivo.pdf")
    ex11.student("sh", "-c", f"cd /tmp && {hint_command(ex11)}" if command == "hint" else command)
    assert_passes(ex11.eventually("swaks-pdf"))


def test_ex11_txt_lookup(ex11):
    assert_fails(ex11.check("txt-lookup"))
    dns = ex11.ip("dns-redes")
    ex11.student("dig", f"@{dns}", "A", "www.redes.unlp.edu.ar")  # not a TXT lookup
    ex11.student("dig", f"@{dns}", "TXT", "nada.practica.redes.unlp.edu.ar")  # no TXT there
    ex11.captured()
    assert_fails(ex11.check("txt-lookup"))
    ex11.student("dig", f"@{dns}", "TXT", "saludo.redes.unlp.edu.ar")
    assert_passes(ex11.eventually("txt-lookup", timeout=3))


def test_ex11_spf_lookup(ex11):
    assert_fails(ex11.check("spf-lookup"))
    dns = ex11.ip("dns-redes")
    ex11.student("dig", f"@{dns}", "TXT", "saludo.redes.unlp.edu.ar")  # a TXT, but not the SPF
    ex11.captured()
    assert_fails(ex11.check("spf-lookup"))
    ex11.student("dig", f"@{dns}", "TXT", "redes.unlp.edu.ar")
    assert_passes(ex11.eventually("spf-lookup", timeout=3))


@pytest.mark.parametrize("qtype", ["ANY", "AXFR"])
def test_ex11_txt_and_spf_seen_in_an_any_query_or_a_zone_transfer(ex11, qtype):
    """`dig ANY redes.unlp.edu.ar` and `dig axfr redes.unlp.edu.ar` answer with the TXT (SPF)
    records among the others: the student looked them up."""
    ex11.reset()  # no TXT lookup of an earlier test in the capture
    dns = ex11.ip("dns-redes")
    ex11.student("dig", f"@{ex11.ip('dns-practica-redes')}", qtype, "practica.redes.unlp.edu.ar")  # no TXT there
    ex11.captured()
    assert_fails(ex11.check("txt-lookup"))
    assert_fails(ex11.check("spf-lookup"))
    ex11.student("dig", f"@{dns}", qtype, "redes.unlp.edu.ar")
    ex11.captured()
    assert_passes(ex11.check("txt-lookup"))
    result = ex11.check("spf-lookup")
    assert_passes(result)
    assert "v=spf1" in result.detail, result.detail
