"""Exercise 3: two accounts, a reply, the SMTP dialogue, MIME and the hand-extracted
attachment; and the `labctl check` command (text, JSON, JUnit, exit codes)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

from typer.testing import CliRunner

from checklab import assert_fails, assert_passes
from labctl.cli import app
from student import imap, imap_append, pop3_download, send, send_raw, typed

POP, IMAP, OTHER = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar", "redesycomunicaciones@redes.unlp.edu.ar"
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(30000) + b"\xff\xd9"  # a JPEG's markers around random bytes


def put(lab, path: str, data: bytes) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    lab.client.put_archive("/", archive.getvalue())


def cli(*args: str):
    return CliRunner().invoke(app, ["check", "--instance", "chk-ex3", *args])


def test_before_the_student_everything_fails(ex3):
    for check_id in ("mail-pop-to-imap", "reply", "smtp-dialogue", "mime-image", "attachment-extracted"):
        assert_fails(ex3.check(check_id))
    result = cli("--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["exercise"] == "3" and report["passed"] == 0 and report["failed"] == 5


def test_smtp_dialogue_needs_data(ex3):
    # The student gives up after RCPT TO: no DATA, the dialogue is incomplete.
    ex3.python(f"""
import smtplib
s = smtplib.SMTP({ex3.ip('mail')!r}, 25); s.ehlo('cliente'); s.mail({POP!r}); s.rcpt({IMAP!r}); s.quit()""")
    ex3.captured()
    assert_fails(ex3.check("smtp-dialogue"))


def test_mail_to_the_wrong_account_does_not_count(ex3):
    # A complete dialogue, but not of the send 3b asks for (alumnopop to alumnoimap).
    ex3.python(send(ex3.ip("mail"), POP, OTHER, "para otra cuenta"))
    ex3.captured()
    result = ex3.check("smtp-dialogue")
    assert_fails(result)
    assert (f"it carried a message from {POP} to {OTHER} with subject 'para otra cuenta', not the exercise's "
            f"(a message from {POP} to {IMAP})") in result.detail, result.detail
    assert_fails(ex3.check("mail-pop-to-imap"))


def test_attachment_of_the_wrong_type_does_not_count(ex3):
    put(ex3, "/tmp/apunte.pdf", b"%PDF-1.4\n" + os.urandom(2000))
    ex3.python(send(ex3.ip("mail"), OTHER, IMAP, "un pdf", attachment=("/tmp/apunte.pdf", "application", "pdf")))
    # It arrived (from another account): neither check counts it.
    assert "redesycomunicaciones" in ex3.python(imap(ex3.ip("mail"), "alumnoimap", "alumnoimappass",
                                                     "imap.select(); print(imap.fetch('1', '(BODY[HEADER.FIELDS (FROM)])')[1])"))
    assert_fails(ex3.check("mime-image"))
    assert_fails(ex3.check("mail-pop-to-imap"))


def once_delivered(lab, check_id: str, timeout: float = 10.0):
    """The check's result once a message has reached the account (its detail then names
    the closest message and what it lacks): a near miss must be there to be judged."""
    deadline = time.monotonic() + timeout
    while "has received no message" in (result := lab.check(check_id)).detail:
        assert time.monotonic() < deadline, f"nothing reached the account: {result.detail}"
        time.sleep(0.2)
    return result


def assert_fails_for(result, missing: str) -> None:
    assert_fails(result)
    assert missing in result.detail, result.detail


INLINE_PHOTO = """
import email.message, smtplib
msg = email.message.EmailMessage()
msg['From'], msg['To'], msg['Subject'] = {sender!r}, {to!r}, 'foto en el cuerpo'
msg.set_content('la foto va en el cuerpo')
msg.add_alternative('<p>la foto va en el cuerpo</p><img src="cid:foto">', subtype='html')
msg.get_payload()[1].add_related(open('/tmp/foto.jpg', 'rb').read(), maintype='image', subtype='jpeg', cid='<foto>')
with smtplib.SMTP({server!r}, 25) as smtp:
    smtp.send_message(msg)
"""


def test_mime_image_near_misses(ex3):
    put(ex3, "/tmp/foto.jpg", PHOTO)
    put(ex3, "/tmp/apunte.pdf", b"%PDF-1.4\n" + os.urandom(2000))
    mail = ex3.ip("mail")
    near_misses = [
        (send(mail, POP, IMAP, "foto sin texto", "", attachment=("/tmp/foto.jpg", "image", "jpeg")), "text in the body"),
        (send(mail, POP, IMAP, "", "sin asunto", attachment=("/tmp/foto.jpg", "image", "jpeg")), "a subject"),
        (send(mail, POP, IMAP, "un pdf", "no es una imagen", attachment=("/tmp/apunte.pdf", "application", "pdf")),
         "an attachment of type image/*"),
        (send(mail, OTHER, IMAP, "foto", "desde otra cuenta", attachment=("/tmp/foto.jpg", "image", "jpeg")),
         f"From: {POP}"),
    ]
    for script, missing in near_misses:
        ex3.forget_mail()
        ex3.python(script)
        assert_fails_for(once_delivered(ex3, "mime-image"), missing)


def test_a_forged_sender_put_in_over_imap_does_not_count(ex3):
    """IMAP APPEND puts any From: in a mailbox: alumnopop did not send it."""
    ex3.forget_mail()
    forged = (f"From: {POP}\r\nTo: {IMAP}\r\nSubject: foto\r\nMessage-ID: <forjado@cliente>\r\n"
              "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhola\r\n"
              "--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n").encode()
    ex3.python(imap_append(ex3.ip("mail"), "alumnoimap", "alumnoimappass", forged))
    assert_fails_for(ex3.check("mail-pop-to-imap"), "sent over SMTP from your machine")
    assert_fails_for(ex3.check("mime-image"), "sent over SMTP from your machine")


def test_mail_with_an_image_from_pop_to_imap(ex3, tmp_path):
    """Four ways: swaks (a JPEG labelled application/octet-stream), Thunderbird's image in
    the body (multipart/related), the host on the MSA with AUTH, an attachment (smtplib)."""
    mail = ex3.ip("mail")
    put(ex3, "/tmp/foto.jpg", PHOTO)
    ex3.forget_mail()
    ex3.student("swaks", "--server", mail, "--from", POP, "--to", IMAP, "--header", "Subject: foto por swaks",
                "--body", "les mando la foto", "--attach", "@/tmp/foto.jpg")
    assert_passes(ex3.eventually("mime-image"))
    assert_passes(ex3.check("mail-pop-to-imap"))
    ex3.forget_mail()
    ex3.python(INLINE_PHOTO.format(sender=POP, to=IMAP, server=mail))
    assert_passes(ex3.eventually("mime-image"))
    # Thunderbird in the VM: the host itself, on the MSA (587) with AUTH.
    ex3.forget_mail()
    photo = tmp_path / "foto.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(3000))
    host = subprocess.run([sys.executable, "-c", send(mail, POP, IMAP, "foto desde el host", "va la foto", port=587,
                                                      login=("alumnopop", "alumnopoppass"),
                                                      attachment=(str(photo), "image", "png"))],
                          capture_output=True, text=True)
    assert host.returncode == 0, host.stderr
    assert_passes(ex3.eventually("mime-image"))
    ex3.forget_mail()
    ex3.python(send(mail, POP, IMAP, "foto del laboratorio", "les mando la foto",
                    attachment=("/tmp/foto.jpg", "image", "jpeg")))
    assert_passes(ex3.eventually("mail-pop-to-imap"))
    assert_passes(ex3.check("mime-image"))


def test_reply_must_be_linked(ex3):
    original = ex3.python(imap(ex3.ip("mail"), "alumnoimap", "alumnoimappass", """
imap.select()
_, found = imap.search(None, 'FROM', 'alumnopop')
print(imap.fetch(found[0].split()[-1], '(BODY[HEADER.FIELDS (MESSAGE-ID)])')[1][0][1].decode().split(':', 1)[1].strip())""")).strip()
    # "Re:" in the subject alone is no reply: nothing links it to the original.
    ex3.python(send(ex3.ip("mail"), IMAP, POP, "Re: foto del laboratorio"))
    assert_fails_for(ex3.eventually("reply", until=lambda r: f"1 from {IMAP} to {POP}" in r.detail), "name none")
    # Linked, but put into alumnopop's mailbox over IMAP: nobody sent it.
    forged = f"From: {IMAP}\r\nTo: {POP}\r\nSubject: Re: foto\r\nIn-Reply-To: {original}\r\n\r\ngracias\r\n"
    ex3.python(imap_append(ex3.ip("mail"), "alumnopop", "alumnopoppass", forged.encode()))
    assert_fails_for(ex3.check("reply"), "was not sent over SMTP from your machine")
    ex3.python(send(ex3.ip("mail"), IMAP, POP, "Re: foto del laboratorio", "gracias", in_reply_to=original))
    assert_passes(ex3.eventually("reply"))
    # alumnopop downloads by POP3 and deletes from the server (Thunderbird's default):
    # the MTA's delivery log still shows the reply arrived.
    assert int(ex3.python(pop3_download(ex3.ip("mail"), "alumnopop", "alumnopoppass", delete=True))) == 3
    assert ex3.context().messages(POP) == []
    result = ex3.check("reply")
    assert_passes(result)
    assert "no longer in the mailbox" in result.detail


def test_handed_in_attachment_byte_for_byte(ex3, tmp_path):
    assert_fails(ex3.check("attachment-extracted"))  # nothing handed in
    # The student copies the base64 block of the image part from the source and decodes it.
    extracted = ex3.python(imap(ex3.ip("mail"), "alumnoimap", "alumnoimappass", """
import base64, re, sys
imap.select()
_, found = imap.search(None, 'SUBJECT', 'foto')
source = imap.fetch(found[0].split()[-1], '(RFC822)')[1][0][1].decode().replace('\\r\\n', '\\n')
block = source.split('Content-Type: image/jpeg', 1)[1].split('\\n\\n', 1)[1].split('--', 1)[0]
sys.stdout.write(base64.b64decode(''.join(block.split())).hex())"""))
    good = tmp_path / "foto.jpg"
    good.write_bytes(bytes.fromhex(extracted))
    bad = tmp_path / "foto-mal.jpg"
    bad.write_bytes(good.read_bytes()[:-1])  # one byte short: a careless copy
    assert_fails(ex3.check("attachment-extracted", handin=bad))
    assert_passes(ex3.check("attachment-extracted", handin=good))

    junit = tmp_path / "ex3.xml"
    result = cli("--file", str(good), "--student", "Ada", "--junit", str(junit))
    assert result.exit_code == 0, result.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "0"
    assert [case.get("name").split(":")[0] for case in suite.iter("testcase")] == [
        "mail-pop-to-imap", "reply", "smtp-dialogue", "mime-image", "attachment-extracted"]


def test_bad_input_exits_2(ex3, tmp_path):
    assert cli("--exercise", "99").exit_code == 2
    assert cli("--file", str(tmp_path / "no-such.jpg")).exit_code == 2
    assert CliRunner().invoke(app, ["check", "--instance", "chk-no-such-lab"]).exit_code == 1


def test_reply_the_other_way_round(ex3):
    """The sheet (3a) sends "desde una cuenta a la otra" and replies "desde la otra": alumnoimap
    may write first and alumnopop answer (from Thunderbird's Local Folders, after a POP3 download)."""
    ex3.forget_mail()
    asked = ex3.python(send(ex3.ip("mail"), IMAP, POP, "te escribo primero")).strip()
    other = ex3.python(send(ex3.ip("mail"), OTHER, POP, "de otra cuenta")).strip()
    assert_fails_for(ex3.eventually("reply", until=lambda r: f"1 from {IMAP} to {POP}" in r.detail), "name none")
    # Near miss: alumnopop answers alumnoimap, but the message it answers came from another account.
    ex3.python(send(ex3.ip("mail"), POP, IMAP, "Re: de otra cuenta", "gracias", in_reply_to=other))
    assert_fails_for(ex3.eventually("reply", until=lambda r: f"1 from {POP} to {IMAP}" in r.detail), "name none")
    ex3.python(send(ex3.ip("mail"), POP, IMAP, "Re: te escribo primero", "recibido", in_reply_to=asked))
    result = ex3.eventually("reply")
    assert_passes(result)
    assert f"answers a message {IMAP} had sent to {POP}" in result.detail, result.detail


def test_a_reply_to_a_message_put_in_over_imap_is_no_reply(ex3):
    """The message answered must have reached the replier: one APPENDed with alumnopop's From:
    was never sent by alumnopop, however properly alumnoimap answers it."""
    ex3.forget_mail()
    planted = f"From: {POP}\r\nTo: {IMAP}\r\nSubject: plantado\r\nMessage-ID: <plantado@cliente>\r\n\r\nhola\r\n"
    ex3.python(imap_append(ex3.ip("mail"), "alumnoimap", "alumnoimappass", planted.encode()))
    ex3.python(send(ex3.ip("mail"), IMAP, POP, "Re: plantado", "gracias", in_reply_to="<plantado@cliente>"))
    assert_fails_for(ex3.eventually("reply", until=lambda r: f"1 from {IMAP} to {POP}" in r.detail), "name none")


def thunderbird(headers: list[str], body: str) -> bytes:
    """A message as Thunderbird writes it: its own Message-ID, 8-bit UTF-8 text."""
    return ("\r\n".join([f"Message-ID: <{os.urandom(8).hex()}@redes.unlp.edu.ar>", "Date: Sun, 29 Nov 2026 05:40:00 -0300",
                         "MIME-Version: 1.0", "User-Agent: Mozilla Thunderbird", *headers]) + "\r\n\r\n" + body).encode()


def thunderbird_forward(original: str) -> bytes:
    """Forward (inline): In-Reply-To, References and X-Forwarded-Message-Id all name the original."""
    return thunderbird(["Subject: Fwd: para responder", f"References: {original}", f"To: alumnopop <{POP}>",
                        f"From: alumnoimap <{IMAP}>", f"In-Reply-To: {original}", f"X-Forwarded-Message-Id: {original}",
                        "Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 8bit"],
                       "\r\n-------- Forwarded Message --------\r\nSubject: \tpara responder\r\n\r\nestoy probando\r\n")


def thunderbird_receipt(original: str) -> bytes:
    """The return receipt Thunderbird sends when a message asked for one (nsMsgMdnGenerator):
    References names the original."""
    return thunderbird([f"From: alumnoimap <{IMAP}>", "Subject: Return Receipt (displayed) - para responder",
                        f"To: alumnopop <{POP}>", f"References: {original}",
                        'Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary="mdn"'],
                       "--mdn\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nThis is a Return Receipt for the mail that you sent.\r\n"
                       "--mdn\r\nContent-Type: message/disposition-notification\r\n\r\nReporting-UA: cliente; Mozilla Thunderbird\r\n"
                       f"Final-Recipient: rfc822;{IMAP}\r\nOriginal-Message-ID: {original}\r\n"
                       "Disposition: manual-action/MDN-sent-manually; displayed\r\n--mdn--\r\n")


def thunderbird_reply(original: str, subject: str) -> bytes:
    """Reply, in HTML (multipart/alternative, quoted-printable), as a German Thunderbird writes its subject."""
    return thunderbird([f"Subject: {subject}", f"References: {original}", f"To: alumnopop <{POP}>",
                        f"From: alumnoimap <{IMAP}>", f"In-Reply-To: {original}",
                        'Content-Type: multipart/alternative; boundary="alt"'],
                       "--alt\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                       "recib=C3=AD la foto\r\n--alt\r\nContent-Type: text/html; charset=UTF-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>recib=C3=AD la foto</p>\r\n--alt--\r\n")


def test_a_forward_or_a_read_receipt_is_no_reply(ex3):
    """Thunderbird's Forward names the message it forwards in In-Reply-To and References, and
    its return receipt in References: neither answers it. Its Reply does, over the MSA with
    AUTH PLAIN, in HTML, whatever the client writes before the subject ("AW:", "RE:")."""
    mail, login = ex3.ip("mail"), ("alumnoimap", "alumnoimappass")
    ex3.forget_mail()
    original = ex3.python(send(mail, POP, IMAP, "para responder")).strip()
    ex3.python(send_raw(mail, IMAP, POP, thunderbird_forward(original), port=587, login=login))
    forward = "«Fwd: para responder» from alumnoimap@redes.unlp.edu.ar"
    assert_fails_for(ex3.eventually("reply", until=lambda r: forward in r.detail),
                     "is a forward of it (X-Forwarded-Message-Id), not a reply")
    # Downloaded and deleted over POP3: the MTA's log tells the same.
    assert int(ex3.python(pop3_download(mail, "alumnopop", "alumnopoppass", delete=True))) == 1
    result = ex3.check("reply")
    assert_fails_for(result, "no longer in the mailbox) names the message it came from, but is a forward of it")
    ex3.forget_mail()
    original = ex3.python(send(mail, POP, IMAP, "para responder")).strip()
    ex3.python(send_raw(mail, IMAP, POP, thunderbird_receipt(original)))
    assert_fails_for(ex3.eventually("reply", until=lambda r: "Return Receipt" in r.detail), "is a read receipt")
    ex3.python(send_raw(mail, IMAP, POP, thunderbird_reply(original, "AW: para responder"), port=587, login=login))
    result = ex3.eventually("reply")
    assert_passes(result)
    assert "«AW: para responder»" in result.detail, result.detail


# mutt in a terminal, reading alumnoimap over IMAP: r (reply), Enter to its To:, Subject: and
# "Include message in reply?", the reply written in Debian's editor (nano: ^X, save, Enter to
# its file name), y to send, q. mutt composes in an editor: without one it sends nothing.
MUTT_REPLY = ("mkdir -p /root/Mail && (sleep 3; printf r; sleep 1; printf '\\r'; sleep 1; printf '\\r'; sleep 1; printf '\\r'; "
              "sleep 2; printf 'respuesta escrita en nano'; sleep 0.5; printf '\\030'; sleep 0.5; printf y; sleep 0.5; "
              "printf '\\r'; sleep 2; printf y; sleep 3; printf q; sleep 1) | TERM=xterm timeout 40 script -qfc "
              "\"mutt -f imap://alumnoimap:alumnoimappass@mail.redes.unlp.edu.ar/INBOX -e 'set ssl_force_tls=no "
              "ssl_starttls=no smtp_url=smtp://mail.redes.unlp.edu.ar:25 from=alumnoimap@redes.unlp.edu.ar'\" /dev/null >/dev/null")


def test_a_reply_written_in_mutt_in_the_client(ex3):
    ex3.forget_mail()
    ex3.python(send(ex3.ip("mail"), POP, IMAP, "pregunta para mutt"))
    assert_passes(ex3.eventually("mail-pop-to-imap"))
    assert_fails(ex3.check("reply"))
    ex3.student("sh", "-c", MUTT_REPLY)
    result = ex3.eventually("reply")
    assert_passes(result)
    assert "«Re: pregunta para mutt» from alumnoimap@redes.unlp.edu.ar" in result.detail, result.detail


def test_the_client_reads_an_extracted_attachment_as_a_student_does(ex3):
    """file and xxd tell what a file decoded from a message's base64 is (3c)."""
    put(ex3, "/tmp/foto.jpg", PHOTO)
    assert ex3.student("file", "--brief", "--mime-type", "/tmp/foto.jpg").strip() == "image/jpeg"
    assert ex3.student("xxd", "-l", "4", "/tmp/foto.jpg").startswith("00000000: ffd8 ffe0")


def typed_from(server: str, sender: str, lines: list[str]) -> str:
    return typed(server, ["HELO cliente", f"MAIL FROM:<{sender}>", f"RCPT TO:<{IMAP}>", "DATA"], lines)


def test_a_message_typed_by_hand_without_from_is_from_its_envelope_sender(ex3):
    """3a by telnet: MAIL FROM alumnopop, then DATA with no header at all (Postfix adds no
    From: for a client of another host): the Return-Path the reader shows says who sent it.
    A From: naming another account still says otherwise, and so does another MAIL FROM."""
    ex3.forget_mail()
    mail = ex3.ip("mail")
    ex3.python(typed_from(mail, IMAP, ["hola, sin encabezados"]))
    assert_fails_for(once_delivered(ex3, "mail-pop-to-imap"), f"lacks: From: {POP}")
    ex3.python(typed_from(mail, POP, [f"From: {OTHER}", "", "hola"]))
    assert_fails_for(ex3.eventually("mail-pop-to-imap", timeout=3), f"lacks: From: {POP}")
    ex3.python(typed_from(mail, POP, ["hola desde telnet"]))
    result = ex3.eventually("mail-pop-to-imap")
    assert_passes(result)
    assert f"from {POP} (MAIL FROM; no From: field)" in result.detail, result.detail
    ex3.captured()
    assert_passes(ex3.check("smtp-dialogue"))


def test_a_reply_to_a_message_typed_without_message_id(ex3):
    """3a typed by hand: Postfix adds no Message-ID for a client of another host, so the reply
    (mutt's r, as Thunderbird's) has no In-Reply-To to name it: «Re:» and its subject tie
    them. A new message with that subject, or its forward, is no reply."""
    ex3.forget_mail()
    ex3.python(typed_from(ex3.ip("mail"), POP, [f"From: {POP}", "Subject: pregunta a mano", "", "hola"]))
    assert_passes(ex3.eventually("mail-pop-to-imap"))
    ex3.python(send(ex3.ip("mail"), IMAP, POP, "pregunta a mano"))
    ex3.python(send(ex3.ip("mail"), IMAP, POP, "Fwd: pregunta a mano"))
    result = ex3.eventually("reply", timeout=3, until=lambda r: "2 from alumnoimap" in r.detail)
    assert_fails(result)
    assert "nor is one «Re:» the subject of one without Message-ID" in result.detail, result.detail
    ex3.student("sh", "-c", MUTT_REPLY)
    result = ex3.eventually("reply")
    assert_passes(result)
    assert "«Re: pregunta a mano» from alumnoimap@redes.unlp.edu.ar" in result.detail, result.detail
