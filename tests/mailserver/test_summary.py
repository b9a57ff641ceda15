"""Reading one message with bounded work: hostile mail is reported, never raised; what a
student sends is read as their MUA shows it (attachments by content and name, accents)."""
from __future__ import annotations

import email.message
import tracemalloc
import unicodedata

import pytest

from labctl.mailserver import summary
from labctl.mailserver.summary import UnreadableMessage, normalised, summarise

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200)
PDF = b"%PDF-1.4\n%apunte\n" + bytes(200)


def mail(subject: str = "foto", body: str | None = "hola", *attachments: tuple[bytes, str, str, str]) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alumno POP <alumnopop@redes.unlp.edu.ar>", "alumnoimap@redes.unlp.edu.ar", subject
    msg["Message-ID"] = "<1@cliente>"
    if body is not None:
        msg.set_content(body)
    for data, main, sub, name in attachments:
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


# --- hostile mail: one line saying why, bounded time and memory ------------------------

def nested_multiparts(depth: int, folded: bool = False) -> bytes:
    fold = "\r\n " if folded else " "
    return b"From: a@b.c\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + b"".join(
        f'Content-Type:{fold}multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
        for i in range(depth)) + b"Content-Type: text/plain\r\n\r\nhola\r\n"


@pytest.mark.parametrize("folded", [False, True])
def test_a_thousand_nested_multiparts_are_refused_before_parsing(folded):
    with pytest.raises(UnreadableMessage, match="more than 100 nested multipart"):
        summarise(nested_multiparts(1000, folded))


def test_nesting_within_the_bound_is_read():
    assert summarise(nested_multiparts(60)).text.strip() == "hola"


def test_malformed_message_id_is_kept_as_text():
    read = summarise(b"From: a@b.c\r\nMessage-ID: <<>>@@\r\nSubject: z\r\n\r\nhola\r\n")
    assert read.message_id == "<<>>@@" and read.senders == ("a@b.c",)


def test_thousands_of_nested_comments_in_from():
    raw = b"From: " + b"(" * 5000 + b"x" + b")" * 5000 + b" <a@b.c>\r\nSubject: y\r\n\r\nhola\r\n"
    read = summarise(raw)
    assert read.subject == "y" and read.text.strip() == "hola"


def test_comments_nested_within_the_header_cap_still_give_the_sender():
    read = summarise(b"From: " + b"(" * 100 + b"x" + b")" * 100 + b" <a@b.c>\r\n\r\nhola\r\n")
    assert read.senders == ("a@b.c",)


def test_too_many_parts():
    raw = b"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" + \
        b"--zz\r\nContent-Type: image/png\r\n\r\nx\r\n" * 5000 + b"--zz--\r\n"
    with pytest.raises(UnreadableMessage, match="more than 200 MIME parts"):
        summarise(raw)


def test_a_message_over_the_cap_is_not_parsed(monkeypatch):
    monkeypatch.setattr(summary, "MAX_MESSAGE_BYTES", 1000)
    with pytest.raises(UnreadableMessage, match="more than the 1000 a check reads"):
        summarise(mail(body="x" * 2000))


def test_control_characters_never_reach_the_summary():
    read = summarise(b"From: a@b.c\r\nSubject: hola\x1b[31m\x00rojo\r\n\r\nhola\r\n")
    assert read.subject == "hola [31m rojo"


def test_memory_of_a_ten_megabyte_message_is_bounded():
    raw = mail("grande", "hola", (JPEG + bytes(10_000_000), "image", "jpeg", "grande.jpg"))
    tracemalloc.start()
    read = summarise(raw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert read.attachments[0].size == len(JPEG) + 10_000_000
    assert peak < 8 * len(raw), f"{peak} bytes at peak for a {len(raw)}-byte message"


# --- what the student sent -----------------------------------------------------------------

def test_swaks_attach_labels_a_pdf_octet_stream_but_content_and_name_say_pdf():
    [attached] = summarise(mail("SMTP-Práctica4", "hola", (PDF, "application", "octet-stream", "archivo.pdf"))).attachments
    assert attached.declared == "application/octet-stream"
    assert attached.sniffed == attached.by_name == "application/pdf"
    assert attached.types == {"application/octet-stream", "application/pdf"}
    assert not attached.inline


def test_a_label_the_bytes_belie_is_not_what_the_file_is():
    """swaks --attach-type application/pdf --attach /ruta/que/no/existe.pdf attaches the path
    itself, labelled PDF; a type the bytes cannot tell (BMP) keeps its label."""
    path, bmp, pdf = summarise(mail("SMTP-Práctica4", "hola", (b"/root/informe.pdf", "application", "pdf", "informe.pdf"),
                                    (b"BM" + bytes(60), "image", "bmp", "foto.bmp"),
                                    (PDF, "application", "pdf", "informe.pdf"))).attachments
    assert path.types == {"application/pdf"} and path.credible_types == set()
    assert bmp.credible_types == {"image/bmp"} and pdf.credible_types == {"application/pdf"}


@pytest.mark.parametrize(("data", "kind"), [
    (JPEG, "image/jpeg"), (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"), (b"GIF89a" + bytes(8), "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"), (PDF, "application/pdf"), (b"hola", ""),
    # PDF readers accept junk before the header within the first 1024 bytes, not after them
    (b"\xef\xbb\xbf\r\n" + PDF, "application/pdf"), (bytes(1018) + PDF, "application/pdf"),
    (bytes(1020) + PDF, ""),
])
def test_content_is_recognised_by_its_magic_bytes(data, kind):
    [attached] = summarise(mail("x", "hola", (data, "application", "octet-stream", "sin-extension"))).attachments
    assert attached.sniffed == kind and attached.by_name == ""


def test_an_inline_image_counts_as_an_image_of_the_message():
    msg = email.message.EmailMessage()
    msg["From"], msg["Subject"] = "alumnopop@redes.unlp.edu.ar", "foto"
    msg.set_content("mirá la foto")
    msg.add_alternative('<p>mirá la foto</p><img src="cid:foto">', subtype="html")
    msg.get_payload()[1].add_related(JPEG, maintype="image", subtype="jpeg", cid="<foto>")
    read = summarise(msg.as_bytes())
    [image] = read.attachments
    assert image.inline and image.types == {"image/jpeg"}
    assert read.text.strip() == "mirá la foto"


def test_a_message_that_is_only_a_file():
    raw = b"From: a@b.c\r\nSubject: s\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    read = summarise(raw)
    assert read.text == "" and [a.sniffed for a in read.attachments] == ["image/png"]


def test_html_only_body_is_the_text():
    raw = b"From: a@b.c\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hola</p>\r\n"
    assert summarise(raw).text.strip() == "<p>hola</p>"


def test_a_text_file_attached_is_an_attachment_not_the_body():
    read = summarise(mail("notas", None, (b"notas\n", "text", "plain", "notas.txt")))
    assert read.text == "" and [a.filename for a in read.attachments] == ["notas.txt"]


@pytest.mark.parametrize("raw_subject", [
    "Subject: SMTP-Práctica4".encode(),  # swaks --header, raw UTF-8
    "Subject: SMTP-Práctica4".encode("latin-1"),
    unicodedata.normalize("NFD", "Subject: SMTP-Práctica4").encode(),  # decomposed accent
    b"Subject: =?utf-8?q?SMTP-Pr=C3=A1ctica4?=",
    b"Subject: =?iso-8859-1?b?U01UUC1QcuFjdGljYTQ=?=",
])
def test_subjects_read_as_the_mua_shows_them(raw_subject):
    read = summarise(b"From: a@b.c\r\n" + raw_subject + b"\r\n\r\nhola\r\n")
    assert normalised(read.subject) == normalised("smtp-PRÁCTICA4")


def test_reply_links_and_the_event_form():
    raw = b"From: a@b.c\r\nIn-Reply-To: <1@x>\r\nReferences: <0@x>\r\n <1@x>\r\nSubject: Re: foto\r\n\r\n" + b"y" * 900
    read = summarise(raw)
    assert read.links == ("<1@x>", "<0@x>")
    event = read.to_event()
    assert len(event["text"]) == 500
    assert summary.MessageSummary.from_event(event).links == read.links


def test_a_forward_and_a_receipt_name_a_message_without_answering_it():
    """Thunderbird's Forward names the original in In-Reply-To, References and
    X-Forwarded-Message-Id; its return receipt (a multipart/report) in References."""
    forward = summarise(b"From: a@b.c\r\nSubject: Fwd: foto\r\nReferences: <0@x> <1@x>\r\nIn-Reply-To: <1@x>\r\n"
                        b"X-Forwarded-Message-Id: <1@x>\r\n\r\nmira\r\n")
    assert forward.links == ("<1@x>", "<0@x>") and forward.forwarded == ("<1@x>",) and forward.answers == ("<0@x>",)
    receipt = summarise(b"From: a@b.c\r\nReferences: <1@x>\r\nContent-Type: multipart/report;\r\n"
                        b" report-type=Disposition-Notification; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\n"
                        b"leido\r\n--r--\r\n")
    assert receipt.report == "disposition-notification" and receipt.links == ("<1@x>",) and receipt.answers == ()
    for read in (forward, receipt):
        assert summary.MessageSummary.from_event(read.to_event()) == read
    reply = summarise(b"From: a@b.c\r\nSubject: AW: foto\r\nIn-Reply-To: <1@x>\r\n\r\ngracias\r\n")
    assert reply.answers == ("<1@x>",) and reply.report == "" and reply.forwarded == ()


def test_millions_of_lines_are_refused_before_parsing():
    with pytest.raises(UnreadableMessage, match="more than 300000 lines"):
        summarise(b"From: a@b.c\nSubject: vacio\n\n" + b"\n" * 4_000_000)
