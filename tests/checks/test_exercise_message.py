"""The exercise's message that an SMTP dialogue check wants (exercises 3b and 11): read from
the capture's dialogue with the bounded parser, compared as the mailbox checks compare."""
from __future__ import annotations

import pytest
from test_smtp_messages import SWAKS_PDF, smtp_session

from labctl.checks.exercise_message import SentMessage, WantedMessage
from labctl.checks.smtp_messages import stream_messages
from labctl.spec.loader import load_lab

OTHER, IMAP, POP = "redesycomunicaciones@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar", "alumnopop@redes.unlp.edu.ar"


def wanted(exercise: str) -> WantedMessage:
    """The message lab.yaml names for the exercise's smtp-dialogue check."""
    lab = load_lab("practica4", exercise=exercise)
    [check] = [c for c in lab.exercises[exercise].checks if c.id == "smtp-dialogue"]
    return WantedMessage.model_validate(check.params["message"])


def sent(content: bytes, sender: str = OTHER, to: str = IMAP, **session) -> SentMessage:
    [message] = stream_messages(smtp_session(content, sender=sender.encode(), to=to.encode(), **session))
    return SentMessage(message.mail_from, message.rcpt_to, message.summary)


THUNDERBIRD = (f"From: Redes <{OTHER}>\r\nTo: <{IMAP}>\r\nSubject: =?UTF-8?Q?SMTP-Pr=C3=A1ctica4?=\r\n"
               "Content-Type: text/plain; charset=UTF-8\r\n\r\nhola\r\n").encode()
DECOMPOSED = f"From: {OTHER}\r\nSubject: smtp-pra\u0301ctica4\r\n\r\nhola\r\n".encode()


@pytest.mark.parametrize("message", [
    sent(SWAKS_PDF),  # swaks --attach, the subject in raw 8-bit
    sent(SWAKS_PDF, chunks=2),  # BDAT (CHUNKING)
    sent(THUNDERBIRD),  # RFC 2047 subject, From: with a display name
    sent(DECOMPOSED),  # the accent typed apart, in lower case
    sent(THUNDERBIRD, sender="REDESYCOMUNICACIONES@redes.unlp.edu.ar"),
    sent(SWAKS_PDF, sender="redesycomunicaciones", to="alumnoimap"),  # swaks --to alumnoimap: the server completes the domain
], ids=["swaks-attach", "bdat", "thunderbird", "decomposed-accent", "upper-case-envelope", "bare-local-parts"])
def test_exercise_11_message_ways_that_count(message):
    assert wanted("11").matches(message)


def test_exercise_11_near_misses():
    curl = sent("Subject: prueba\r\n\r\nhola\r\n".encode(), sender="a@redes.unlp.edu.ar")
    assert not wanted("11").matches(curl)
    assert curl.describe() == "a message from a@redes.unlp.edu.ar to alumnoimap@redes.unlp.edu.ar with subject 'prueba'"
    assert not wanted("11").matches(sent(SWAKS_PDF, to=POP))  # another recipient
    assert not wanted("11").matches(sent(SWAKS_PDF, to="alumnopop"))  # another recipient, bare
    assert not wanted("11").matches(sent(SWAKS_PDF, to="alumnoimap@otro.unlp.edu.ar"))  # another domain
    assert not wanted("11").matches(sent(SWAKS_PDF.replace("á".encode(), b"a")))  # the accent lost
    # The envelope alone (the MTA's log of a message not delivered here): the subject is unknown.
    assert not wanted("11").matches(SentMessage(OTHER, (IMAP,), None))
    assert wanted("11").describe() == (f"a message from {OTHER} to {IMAP} with subject containing 'SMTP-Práctica4'")


def test_exercise_3b_sender_by_envelope_or_from():
    forwarded_from = f"From: {POP}\r\nSubject: hola\r\n\r\nhola\r\n".encode()
    assert wanted("3").matches(sent(forwarded_from, sender="otro@redes.unlp.edu.ar"))  # From: names alumnopop
    assert wanted("3").matches(sent(b"Subject: sin From\r\n\r\nhola\r\n", sender=POP))  # MAIL FROM does
    assert wanted("3").matches(SentMessage(POP, (IMAP,), None))  # no subject wanted: the envelope tells
    assert not wanted("3").matches(sent(forwarded_from, sender=POP, to=OTHER))
    described = sent(forwarded_from, sender="otro@redes.unlp.edu.ar").describe()
    assert described == f"a message from otro@redes.unlp.edu.ar (From: {POP}) to {IMAP} with subject 'hola'"


def test_the_server_s_host_name_and_localhost_name_its_first_domain():
    """mydestination = $myhostname, localhost: alumnoimap@mail.redes.unlp.edu.ar reaches
    alumnoimap's mailbox, so it names alumnoimap; another account there, or those names
    without the server's word for them, do not."""
    names = {"mail.redes.unlp.edu.ar": "redes.unlp.edu.ar", "localhost": "redes.unlp.edu.ar"}
    for to in ("alumnoimap@mail.redes.unlp.edu.ar", "ALUMNOIMAP@Mail.Redes.UNLP.edu.ar", "alumnoimap@localhost"):
        assert wanted("11").matches(sent(SWAKS_PDF, to=to), names), to
        assert not wanted("11").matches(sent(SWAKS_PDF, to=to)), to
    assert not wanted("11").matches(sent(SWAKS_PDF, to="alumnopop@mail.redes.unlp.edu.ar"), names)
