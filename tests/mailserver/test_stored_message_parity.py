"""The message a student finds in the mailbox (Thunderbird's "View source", exercise 3 c) after
sending it over port 25, against what Debian's Postfix 3.7 (bench/postfix) stores for the same
SMTP dialogue: the fields added on top (Return-Path, X-Original-To, Delivered-To, Received:)
and what cleanup(8) makes of a header typed by hand (no header, no empty line after it, an mbox
"From " line, "Subject :"). With always_add_missing_headers = no and a client that is not
local, Postfix adds no Message-ID:, Date: or From:, and neither do we.

Only the queue id, the date and the client's address differ by design, and are masked.
"""
from __future__ import annotations

import re
import smtplib

import pytest

from .conftest import IMAP, POP, RunningServer, make_config, maildir_files, postfix_container, wait_for
from .test_postfix_peer import postfix_mail

pytestmark = pytest.mark.docker

# What is sent after DATA (smtplib ends it and dot-stuffs it), as students type it in nc or telnet.
MESSAGES = {
    "Thunderbird's": b"Message-ID: <1@redes.unlp.edu.ar>\r\nDate: Tue, 12 Sep 2023 16:50:13 -0300\r\n"
                     b"From: alumnopop <alumnopop@redes.unlp.edu.ar>\r\nTo: alumnoimap@redes.unlp.edu.ar\r\n"
                     b"Subject: estoy probando\r\n\r\nestoy probando holitas\r\n",
    "only a subject": b"Subject: solo asunto\r\n\r\nhola\r\n",
    "no header at all": b"hola sin cabecera\r\nchau\r\n",
    "no empty line after the subject": b"Subject: hola\r\ncomo va\r\n",
    "a line that is no field between fields": b"Subject: a\r\nFrom alumno\r\nX-Otro: y\r\n\r\nz\r\n",
    "a blank first, then text": b" continuado\r\nSubject: y\r\n\r\nz\r\n",
    "a name with a blank in it": b"Sub ject: x\r\nX: y\r\n\r\nz\r\n",
    "blanks before the colon": b"X-A : b\r\nTo :\tc@d\r\nSubject:x\r\n\r\nz\r\n",
    "an mbox separator on top": b"From alumno Tue Sep 12 16:50:13 2023\r\nFrom otro\r\nSubject: y\r\n\r\nz\r\n",
    "a header and nothing else": b"Subject: nada mas\r\n",
    "empty": b"",
    "a continued field": b"Subject: a\r\n\tdos lineas\r\nFrom: a@b\r\n\r\nFrom b\r\n",
}
# (HELO name or None for EHLO "alumno", envelope sender, recipients): the Received: and
# Return-Path: forms.
ENVELOPES = {
    "EHLO, one recipient": ("[172.28.0.1]", False, POP, [IMAP]),
    "HELO, null sender, two recipients": ("alumno", True, "", [IMAP, POP]),
    "an address extension": ("alumno", False, POP, ["alumnoimap+algo@redes.unlp.edu.ar"]),
    "capitals, the host's name as domain": ("alumno", False, POP, ["ALUMNOIMAP@Mail.Redes.Unlp.Edu.Ar"]),
    "quoted": ("alumno", False, POP, ['"alumnoimap"@redes.unlp.edu.ar']),
    "final dot": ("alumno", False, POP, ['alumnoimap@redes.unlp.edu.ar.']),
    "the server's address literal": ("alumno", False, POP, ["alumnoimap@[127.0.0.1]"]),
    "localhost": ("alumno", False, POP, ["alumnoimap@localhost"]),
    "no domains": ("alumno", False, "alumnopop", ["alumnoimap", '"alumnopop"']),
}


def masked(text: str) -> str:
    text = re.sub(r" \(unknown \[[0-9.]+\]\)", " (unknown [<client>])", text)
    text = re.sub(r" id [0-9A-F]+", " id <id>", text)
    return re.sub(r"\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d \+0000 \(UTC\)", "<date>", text)


def send_each(port: int, stored) -> list[str]:
    """Send every case in turn, each once the one before is in the mailbox; `stored()` lists
    the mailbox's messages in any order. The stored messages, in the cases' order."""
    sessions = [(helo, plain, sender, recipients, b"Subject: sobre\r\n\r\nx\r\n")
                for helo, plain, sender, recipients in ENVELOPES.values()]
    sessions += [("alumno", False, POP, [IMAP], content) for content in MESSAGES.values()]
    found: list[str] = []
    for count, (helo, plain, sender, recipients, content) in enumerate(sessions, 1):
        client = smtplib.SMTP("127.0.0.1", port, local_hostname=helo)
        (client.helo if plain else client.ehlo)()
        client.sendmail(sender, recipients, content)
        client.quit()
        [new] = wait_for(lambda: len(stored()) == count and set(stored()) - set(found), timeout=30)
        found.append(new)
    return [masked(text) for text in found]


@pytest.fixture(scope="module")
def postfix_stored(engine, test_label):
    # We append the first local domain to an address without one: Postfix's myorigin set so.
    setup = ("useradd -m alumnopop && postconf -e 'mynetworks = 127.0.0.0/8' 'smtputf8_enable = no' "
             "'myorigin = redes.unlp.edu.ar'")
    with postfix_container(engine, {test_label: "postfix-stored"}, setup) as (postfix, port):
        return send_each(port, lambda: postfix_mail(postfix, "alumnoimap"))


@pytest.fixture(scope="module")
def stored_by_us(tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("stored"), banner="mail.redes.unlp.edu.ar ESMTP Postfix (Debian/GNU)")
    with RunningServer(config) as server:
        return send_each(server.smtp_port, lambda: [path.read_bytes().decode() for path in maildir_files(config, "alumnoimap")])


@pytest.mark.parametrize("index,case", list(enumerate([*ENVELOPES, *MESSAGES])))
def test_stored_message_matches_postfix(postfix_stored, stored_by_us, index, case):
    assert stored_by_us[index] == postfix_stored[index]
