"""Exercises 4 (POP3), 5 (IMAP) and 6 (IMAP vs POP): each on its own lab, with simulated
students who did the work in different legitimate ways, partly, nearly, or not at all."""
from __future__ import annotations

import shlex
import time

import pytest

from checklab import assert_fails, assert_passes, exercise_lab
from labctl.render.configs import MAILDIR_ROOT
from labctl.runtime import containers as ctr
from student import imap, pop3, pop3_download, send

POP, IMAP = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"


def wait_for_inbox(lab, count: int) -> None:
    """Until alumnoimap's Inbox holds `count` messages (delivery is asynchronous)."""
    script = imap(lab.ip("mail"), "alumnoimap", "alumnoimappass", "print(imap.select(readonly=True)[1][0].decode())")
    deadline = time.monotonic() + 20
    while int(lab.python(script)) < count:
        assert time.monotonic() < deadline, f"{count} messages never reached alumnoimap"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ex4(engine):
    yield from exercise_lab(engine, "4")


@pytest.fixture(scope="module")
def ex5(engine):
    yield from exercise_lab(engine, "5")


@pytest.fixture(scope="module")
def ex6(engine):
    yield from exercise_lab(engine, "6")


def test_ex4_nothing_done_fails_without_describing_labctls_probes(ex4):
    # `up` probed port 110 from the host: that connection is not the student's session.
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "has no POP to mail connection" in result.detail
    assert_fails(ex4.check("mail-to-pop"))


def test_ex4_partial_and_near_misses_name_what_is_missing(ex4):
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para leer por POP"))
    assert_passes(ex4.eventually("mail-to-pop"))
    # Wrong password: nothing after the login counts.
    ex4.python(pop3(ex4.ip("mail"), "alumnopop", "mal", "    pop.stat(); pop.list(); pop.uidl(); pop.retr(1)"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "missing AUTH|USER, STAT" in result.detail
    # Logged in but never downloaded: the most complete session is named, with what it lacks.
    ex4.python(pop3(ex4.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat(); pop.list(); pop.uidl()"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "has CAPA, USER, PASS, STAT, LIST, UIDL, QUIT; missing RETR|TOP;" in result.detail, result.detail
    # Downloaded over STLS: the dialogue the exercise reads is encrypted, and the detail says so.
    ex4.python(pop3(ex4.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat(); pop.list(); pop.uidl(); pop.retr(1)", stls=True))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "encrypted" in result.detail and "Connection security: None" in result.detail, result.detail


def test_ex4_python_poplib_with_uidl_before_list_passes(ex4):
    ex4.python(pop3(ex4.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat(); pop.uidl(); pop.list(); pop.retr(1)"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_passes(result)
    assert "fetched the message delivered at" in result.detail


def test_ex4_mail_downloaded_and_deleted_by_pop3_still_counts(ex4):
    """Thunderbird without "leave messages on the server": RETR + DELE empties the Maildir;
    the MTA's delivery log is the evidence that stays."""
    ex4.forget_mail()
    assert_fails(ex4.check("mail-to-pop"))
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para descargar y borrar"))
    assert_passes(ex4.eventually("mail-to-pop"))
    assert int(ex4.python(pop3_download(ex4.ip("mail"), "alumnopop", "alumnopoppass", delete=True))) == 1
    assert ex4.context().messages(POP) == []
    result = ex4.check("mail-to-pop")
    assert_passes(result)
    assert "«para descargar y borrar»" in result.detail and "no longer in the mailbox" in result.detail


@pytest.fixture
def ex4_thunderbird(engine):
    """A lab of its own: nothing earlier in the capture may pass for this student."""
    yield from exercise_lab(engine, "4", second=True)


def test_ex4_thunderbird_auth_plain_that_deletes_from_the_server_passes(ex4_thunderbird):
    lab = ex4_thunderbird
    lab.python(send(lab.ip("mail"), IMAP, POP, "para bajar y borrar"))
    assert_passes(lab.eventually("mail-to-pop"))
    # CAPA, AUTH PLAIN, STAT, LIST, UIDL, RETR, DELE, QUIT: the mailbox is empty afterwards.
    lab.python(pop3(lab.ip("mail"), "alumnopop", "alumnopoppass",
                    "    pop.stat(); pop.list(); pop.uidl(); pop.retr(1); pop.dele(1)", sasl=True))
    lab.captured()
    assert_passes(lab.check("pop3-dialogue"))


def test_ex4_curl_one_connection_per_command_passes_together(ex4):
    """curl pop3:// makes one connection per command (LIST; RETR with /1; STAT and UIDL with
    -X): the account's sessions count together once one of them fetched the delivered mail."""
    ex4.reset()  # no session of an earlier test in the capture
    curl = f"curl -sS -u alumnopop:alumnopoppass pop3://{ex4.ip('mail')}/"
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para leer con curl"))
    assert_passes(ex4.eventually("mail-to-pop"))
    ex4.student("sh", "-c", f"{curl} && {curl} -X STAT -I && {curl}1")
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "the 3 logged-in sessions of alumnopop@redes.unlp.edu.ar together lack UIDL" in result.detail, result.detail
    # Another account's sessions do not make up for what alumnopop's lack.
    ex4.student("sh", "-c", f"{curl.replace('alumnopop:alumnopoppass', 'alumnoimap:alumnoimappass')} -X UIDL")
    ex4.captured()
    assert_fails(ex4.check("pop3-dialogue"))
    ex4.student("sh", "-c", f"{curl} -X UIDL")
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_passes(result)
    assert "4 sessions of alumnopop@redes.unlp.edu.ar together (capture): CAPA, AUTH, LIST, QUIT, STAT, RETR, UIDL" in result.detail, result.detail


FETCHMAILRC = "poll {server} protocol pop3 user alumnopop password alumnopoppass {tls} mda 'cat >/dev/null' keep\n"


def test_ex4_fetchmail_passes_once_it_reads_without_tls(ex4):
    """fetchmail switches to TLS (STLS) whenever the server offers it, as Dovecot does: that
    download cannot be read in the capture; with sslproto '' it is read (CAPA, USER/PASS,
    STAT, LAST, UIDL, LIST n, RETR n, QUIT: fetchmail's own order)."""
    ex4.reset()
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para fetchmail"))
    assert_passes(ex4.eventually("mail-to-pop"))

    def fetchmail(tls: str) -> None:
        rc = FETCHMAILRC.format(server="mail.redes.unlp.edu.ar", tls=tls)
        ex4.student("sh", "-c", f"printf %s {shlex.quote(rc)} > /root/.fetchmailrc && chmod 600 /root/.fetchmailrc "
                                "&& fetchmail --nodetach --norewrite")
        ex4.captured()

    fetchmail("")
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "switched to TLS (STLS)" in result.detail and "fetchmail: sslproto ''" in result.detail, result.detail
    # The first download is remembered (UIDL, keep): a new message to read in clear.
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "otra para fetchmail"))
    ex4.eventually("mail-to-pop", until=lambda r: "otra para fetchmail" in r.detail)
    fetchmail("sslproto ''")
    result = ex4.check("pop3-dialogue")
    assert_passes(result)
    assert "CAPA, USER, PASS, STAT" in result.detail and "RETR, QUIT" in result.detail, result.detail


def test_ex4_fetchmail_that_deletes_downloads_with_top_and_passes(ex4):
    """Without keep, fetchmail downloads each message with TOP n 99999999 (RFC 1939: the
    whole message when the count passes its end) and deletes it: a download, as RETR is.
    TOP n 0 (the header, as mutt's index reads it) downloads nothing."""
    ex4.reset()
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para fetchmail sin keep"))
    assert_passes(ex4.eventually("mail-to-pop"))
    ex4.python(pop3(ex4.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat(); pop.list(); pop.uidl(); pop.top(1, 0)"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    assert "TOP (part)" in result.detail and "missing RETR|TOP" in result.detail, result.detail
    rc = "poll mail.redes.unlp.edu.ar protocol pop3 user alumnopop password alumnopoppass sslproto '' mda 'cat >/dev/null'\n"
    ex4.student("sh", "-c", f"printf %s {shlex.quote(rc)} > /root/.fetchmailrc && chmod 600 /root/.fetchmailrc "
                            "&& fetchmail --nodetach --norewrite")
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_passes(result)
    assert "LIST, TOP, DELE, QUIT" in result.detail and "fetched the message delivered at" in result.detail, result.detail
    assert "(delivered, no longer in the mailbox)" in ex4.check("mail-to-pop").detail


# Thunderbird keeps an IMAP connection in IDLE; the server announces the new message
# (* n EXISTS), the client ends IDLE (DONE) and fetches, with UID FETCH, the header fields
# its message list shows (the body only when the message is opened).
IDLE_THEN_FETCH = """
import imaplib, smtplib, threading
imap = imaplib.IMAP4({server!r}, 143)
imap.login('alumnoimap', 'alumnoimappass')
imap.select()
tag = imap._new_tag()
imap.send(tag + b' IDLE\\r\\n')
assert imap.readline().startswith(b'+')
def mail():
    with smtplib.SMTP({server!r}, 25) as smtp:
        smtp.sendmail('alumnopop@redes.unlp.edu.ar', ['alumnoimap@redes.unlp.edu.ar'],
                      'Subject: avisado por IDLE\\r\\nMessage-ID: <idle.1@cliente>\\r\\n\\r\\nhola\\r\\n')
threading.Thread(target=mail).start()
while b'EXISTS' not in imap.readline():
    pass
imap.send(b'DONE\\r\\n')
while not imap.readline().startswith(tag):
    pass
uid = imap.uid('SEARCH', None, 'ALL')[1][0].split()[-1]
imap.uid('FETCH', uid, '(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID)])')
imap.logout()
"""

IDLE = """
tag = imap._new_tag()
imap.send(tag + b' IDLE\\r\\n')
assert imap.readline().startswith(b'+')
imap.send(b'DONE\\r\\n')
while not imap.readline().startswith(tag):
    pass
"""


def test_ex5_nothing_done_fails(ex5):
    assert_fails(ex5.check("mail-to-imap"))
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "has no IMAP to mail connection" in result.detail


def test_ex5_near_misses_fail_and_a_later_session_that_fetches_passes(ex5):
    """IDLE in one session, the fetch of the delivered message in a later one of the same
    account (the student closed the client and opened it again): the capture then has what
    the exercise reads. Before that, every near miss fails."""
    # IDLE and UID FETCH, all answered OK, but the message did not exist yet.
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select()" + IDLE + "imap.uid('FETCH', '1:*', '(FLAGS)')"))
    message_id = ex5.python(send(ex5.ip("mail"), POP, IMAP, "para leer por IMAP")).strip()
    assert_passes(ex5.eventually("mail-to-imap"))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "fetched none of the 1 message(s) delivered to alumnoimap@redes.unlp.edu.ar (it ended at" in result.detail, result.detail
    # A message the MTA never delivered (APPENDed into the Inbox), fetched after a NOOP.
    appended = b"Message-ID: <puesto.a.mano@cliente>\r\nSubject: puesto a mano\r\n\r\nhola\r\n"
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", f"""
imap.append('INBOX', None, None, {appended!r}); imap.select(); imap.noop()
number = imap.search(None, 'SUBJECT', '"puesto a mano"')[1][0].split()[-1]
imap.fetch(number, '(BODY.PEEK[])')"""))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "it fetched none of the 1 message(s) delivered to alumnoimap" in result.detail, result.detail
    # Another account: alumnopop keeps a copy of what it sent (Sent, by IMAP APPEND), the
    # same Message-ID, fetched after IDLE: not the message delivered to alumnoimap.
    copy = f"Message-ID: {message_id}\r\nSubject: para leer por IMAP\r\n\r\nhola\r\n".encode()
    ex5.python(imap(ex5.ip("mail"), "alumnopop", "alumnopoppass", f"imap.append('INBOX', None, None, {copy!r}); imap.select()"
                    + IDLE + "imap.uid('FETCH', '1:*', '(BODY.PEEK[HEADER.FIELDS (Message-ID)])')"))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "it fetched none of the 1 message(s) delivered to alumnoimap" in result.detail, result.detail
    # alumnoimap opens a new session that fetches the delivered message (no IDLE in it, but
    # the capture has the earlier session's: nothing to note).
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.uid('FETCH', '1:*', '(BODY.PEEK[])')"))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert ": CAPABILITY, LOGIN, SELECT, UID FETCH" in result.detail and "fetched the message delivered at" in result.detail, result.detail
    assert "note:" not in result.detail, result.detail


def test_ex5_thunderbird_idle_then_uid_fetch_passes(ex5):
    ex5.reset()  # no session of an earlier test in the capture
    ex5.python(IDLE_THEN_FETCH.format(server=ex5.ip("mail")))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "LOGIN, SELECT, IDLE" in result.detail and "fetched the message delivered at" in result.detail
    assert "together" not in result.detail, result.detail  # one session had it all


@pytest.fixture
def ex5_second(engine):
    """A lab of its own: nothing earlier in the capture may pass for this student."""
    yield from exercise_lab(engine, "5", second=True)


# Thunderbird's second connection: the first IDLEs in the Inbox and is told of the new
# message (* n EXISTS); the message is fetched (UID FETCH) on another connection, logged in
# as `fetcher`, open beside it. `idler` is the account that idles.
IDLE_HERE_FETCH_THERE = """
import imaplib, smtplib, time
idling = imaplib.IMAP4({server!r}, 143)
idling.login({idler!r}, {idler!r} + 'pass')
idling.select()
tag = idling._new_tag()
idling.send(tag + b' IDLE\\r\\n')
assert idling.readline().startswith(b'+')
fetching = imaplib.IMAP4({server!r}, 143)
fetching.login({fetcher!r}, {fetcher!r} + 'pass')
fetching.select()
with smtplib.SMTP({server!r}, 25) as smtp:
    smtp.sendmail('alumnopop@redes.unlp.edu.ar', ['alumnoimap@redes.unlp.edu.ar'],
                  'Subject: {subject}\\r\\n\\r\\nhola\\r\\n')
if {idler!r} == 'alumnoimap':
    while b'EXISTS' not in idling.readline():
        pass
else:
    time.sleep(2)
idling.send(b'DONE\\r\\n')
while not idling.readline().startswith(tag):
    pass
idling.logout()
while True:
    uids = fetching.uid('SEARCH', None, 'SUBJECT', '"{subject}"')[1][0].split()
    if uids:
        break
    time.sleep(0.1)
fetching.uid('FETCH', uids[-1], '(UID RFC822.SIZE BODY.PEEK[])')
fetching.logout()
"""


def test_ex5_thunderbird_fetching_on_a_second_connection_passes(ex5_second):
    lab = ex5_second
    lab.python(IDLE_HERE_FETCH_THERE.format(server=lab.ip("mail"), idler="alumnoimap", fetcher="alumnoimap", subject="segundo"))
    lab.captured()
    result = lab.check("imap-dialogue")
    assert_passes(result)
    assert "UID FETCH" in result.detail and "fetched the message delivered at" in result.detail, result.detail
    assert "note:" not in result.detail, result.detail  # the idling connection has IDLE


def test_ex5_fetch_first_then_idle_passes(ex5_second):
    # A client opened after the mail arrived: AUTHENTICATE PLAIN, UID FETCH, then IDLE.
    lab = ex5_second
    lab.python(send(lab.ip("mail"), POP, IMAP, "llegó antes"))
    assert_passes(lab.eventually("mail-to-imap"))
    lab.python(imap(lab.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.uid('FETCH', '1:*', '(UID BODY.PEEK[])')" + IDLE)
               .replace("imap.login('alumnoimap', 'alumnoimappass')",
                        "imap.authenticate('PLAIN', lambda _: b'\\0alumnoimap\\0alumnoimappass')"))
    lab.captured()
    result = lab.check("imap-dialogue")
    assert_passes(result)
    assert "AUTHENTICATE" in result.detail


# mutt in its index (a terminal, as the student has one) until q: with imap_idle it waits
# for new mail in IDLE, without it polls with NOOP; either way it fetches new mail by
# sequence number (FETCH); mutt 2.2 forces TLS unless told not to. The mail is sent while
# it runs.
MUTT = ("mkdir -p /root/Mail && (sleep 4; swaks -s {server} -f alumnopop@redes.unlp.edu.ar -t alumnoimap@redes.unlp.edu.ar "
        "--h-Subject {subject!r} >/dev/null; sleep 6; printf q; sleep 1) | TERM=xterm script -qfc "
        "'mutt -f imap://alumnoimap:alumnoimappass@mail.redes.unlp.edu.ar/INBOX "
        "-e \"set ssl_force_tls=no ssl_starttls=no timeout=1 mail_check=1 {idle}\"' /dev/null >/dev/null")


def test_ex5_fetching_without_waiting_passes_with_a_note_and_polling_with_noop_passes(ex5):
    """The exercise reads how the client learns of new mail (IDLE, or NOOP polls: curl -X
    NOOP, mutt with imap_idle=no), but a client that only fetches (curl, mbsync) received
    the mail by IMAP too: it passes, and the detail notes that no IDLE or NOOP was seen."""
    ex5.reset()  # no session of an earlier test in the capture
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para leer con curl"))
    assert_passes(ex5.eventually("mail-to-imap"))
    curl = "curl -sS -o /dev/null imap://alumnoimap:alumnoimappass@mail.redes.unlp.edu.ar/INBOX"
    ex5.student("sh", "-c", f"{curl}';UID=1'")
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "fetched the message delivered at" in result.detail, result.detail
    assert "note: no IDLE or NOOP in the capture" in result.detail, result.detail
    ex5.student("sh", "-c", f"{curl} -X NOOP")
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "UID FETCH" in result.detail and "note:" not in result.detail, result.detail
    ex5.reset()
    ex5.student("sh", "-c", MUTT.format(server=ex5.ip("mail"), subject="mutt sin idle", idle="imap_idle=no"))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "NOOP" in result.detail and "IDLE" not in result.detail and "FETCH" in result.detail, result.detail


# mbsync (isync 1.4) pulling the Inbox into a Maildir of the client: it logs in, selects
# and fetches by UID, and never waits for new mail.
MBSYNC = """mkdir -p /root/mbsync && cat > /root/.mbsyncrc <<'RC'
IMAPAccount lab
Host mail.redes.unlp.edu.ar
User alumnoimap
Pass alumnoimappass
SSLType None
AuthMechs LOGIN

IMAPStore lab-far
Account lab

MaildirStore lab-near
Path /root/mbsync/
Inbox /root/mbsync/INBOX

Channel lab
Far :lab-far:
Near :lab-near:
Patterns INBOX
Create Near
RC
mbsync -q lab"""


def test_ex5_mbsync_passes_with_a_note(ex5):
    ex5.reset()  # no session of an earlier test in the capture
    ex5.student("sh", "-c", MBSYNC)  # before the mail: nothing to fetch yet
    ex5.captured()
    assert_fails(ex5.check("imap-dialogue"))
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para mbsync"))
    assert_passes(ex5.eventually("mail-to-imap"))
    ex5.student("sh", "-c", MBSYNC)
    assert "para mbsync" in ex5.student("sh", "-c", "cat /root/mbsync/INBOX/*/*")
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "UID FETCH" in result.detail and "note: no IDLE or NOOP in the capture" in result.detail, result.detail


def test_ex5_mutt_idling_passes(ex5):
    ex5.reset()  # no session of an earlier test in the capture
    ex5.student("sh", "-c", MUTT.format(server=ex5.ip("mail"), subject="mutt con idle", idle="imap_idle=yes"))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert "IDLE" in result.detail and "FETCH" in result.detail and "fetched the message delivered at" in result.detail, result.detail


def test_ex5_the_copy_of_a_sent_message_is_not_mail_received(ex5):
    """Thunderbird APPENDs a copy of what alumnoimap sends to its Sent folder: alumnoimap has
    a message, but received none; mail delivered to it, then moved out of the Inbox, counts."""
    ex5.forget_mail()
    sent = ex5.python(send(ex5.ip("mail"), IMAP, POP, "enviado desde imap", port=587,
                           login=("alumnoimap", "alumnoimappass"))).strip()
    copy = (f"From: alumnoimap <{IMAP}>\r\nTo: {POP}\r\nSubject: enviado desde imap\r\n"
            f"Message-ID: {sent}\r\n\r\nestoy probando\r\n").encode()
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass",
                    f"imap.create('Sent'); imap.append('Sent', '(\\\\Seen)', None, {copy!r})"))
    assert [m.folder for m in ex5.context().messages(IMAP)] == ["Sent"]
    result = ex5.check("mail-to-imap")
    assert_fails(result)
    assert "in Sent, lacks: delivered to the account" in result.detail, result.detail
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para archivar"))
    assert_passes(ex5.eventually("mail-to-imap"))
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass",
                    "imap.create('Archivo'); imap.select(); imap._simple_command('MOVE', '1:*', 'Archivo')"))
    result = ex5.check("mail-to-imap")
    assert_passes(result)
    assert "«para archivar»" in result.detail and "in Archivo" in result.detail, result.detail


def test_ex5_messages_copied_and_moved_to_folders(ex5):
    """Thunderbird's habits: COPY (Dovecot hard-links the file) into "INBOX.IMAP" and a
    folder with an accent and a space, MOVE into another; every copy is seen where it is."""
    ex5.forget_mail()
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para copiar"))
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para mover"))
    assert_passes(ex5.eventually("mail-to-imap"))
    wait_for_inbox(ex5, 2)
    # imaplib sends folder names as given: Thunderbird's modified UTF-7, quoted for the space.
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", """
imap.create('INBOX.IMAP'); imap.create('"Cr&APM-nicas del a&APE-o"'); imap.create('Archivo')
imap.select()
copied = imap.search(None, 'SUBJECT', '"para copiar"')[1][0].split()[-1]
assert imap.copy(copied, 'INBOX.IMAP')[0] == 'OK'
assert imap.copy(copied, '"Cr&APM-nicas del a&APE-o"')[0] == 'OK'
moved = imap.search(None, 'SUBJECT', '"para mover"')[1][0].split()[-1]
assert imap._simple_command('MOVE', moved, 'Archivo')[0] == 'OK'
"""))
    # Dovecot did store the copies as hard links (the case the tar holds as link entries).
    code, output = ctr.find_containers(ex5.engine, ex5.instance)["mail"].exec_run(
        ["find", MAILDIR_ROOT, "-type", "f", "-links", "+1"])
    assert code == 0 and len(output.splitlines()) == 3, output
    folders = {}
    for stored in ex5.context().messages(IMAP):
        folders.setdefault(stored.summary.subject, set()).add(stored.folder)
    assert folders == {"para copiar": {"INBOX", "INBOX.IMAP", "Crónicas del año"}, "para mover": {"Archivo"}}
    result = ex5.check("mail-to-imap")
    assert_passes(result)


def test_ex6_read_flags(ex6):
    assert_fails(ex6.check("imap-all-read"))  # nothing there yet
    for n in range(2):
        ex6.python(send(ex6.ip("mail"), POP, IMAP, f"mensaje {n}"))
    wait_for_inbox(ex6, 2)  # both delivered before any is read
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('1', '+FLAGS', '\\\\Seen')"))
    result = ex6.check("imap-all-read")
    assert_fails(result)
    assert "1 of 2" in result.detail
    # The unread one marked deleted and not expunged (Thunderbird hides it): nothing left to read.
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('2', '+FLAGS', '\\\\Deleted')"))
    result = ex6.check("imap-all-read")
    assert_passes(result)
    assert "1 marked deleted" in result.detail
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('2', '-FLAGS', '\\\\Deleted')"))
    assert_fails(ex6.check("imap-all-read"))  # undeleted, and still unread
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('1:*', '+FLAGS', '\\\\Seen')"))
    assert_passes(ex6.check("imap-all-read"))


def test_ex6_folders(ex6):
    assert_fails(ex6.check("imap-folder"))
    # An untouched lab has no POP folder either: that alone proves nothing.
    result = ex6.check("pop-folder-local")
    assert_fails(result)
    assert "never logged in over POP3" in result.detail
    # A wrong password is no use of the account.
    ex6.python(pop3(ex6.ip("mail"), "alumnopop", "mal", "    pop.stat()"))
    assert_fails(ex6.check("pop-folder-local"))
    # An "IMAP" folder in the wrong account.
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.create('IMAP')"))
    assert_fails(ex6.check("imap-folder"))
    # A folder whose name only contains IMAP, beside one with a space in its name.
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('\"Mis cosas IMAP\"')"))
    result = ex6.check("imap-folder")
    assert_fails(result)
    assert "Mis cosas IMAP" in result.detail
    # Thunderbird's "New folder" on the Inbox makes it a subfolder: INBOX.IMAP.
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('INBOX.IMAP')"))
    assert_passes(ex6.check("imap-folder"))
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.delete('INBOX.IMAP')"))
    assert_fails(ex6.check("imap-folder"))
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('IMAP')"))
    assert_passes(ex6.check("imap-folder"))
    # Read over POP3 (USER/PASS): the "POP" folder lives in Thunderbird's Local Folders.
    ex6.python(pop3(ex6.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat()"))
    result = ex6.check("pop-folder-local")
    assert_passes(result)
    assert "logged in over POP3 1 time(s)" in result.detail
    # Read over POP3 with STLS and AUTH PLAIN, as a Thunderbird with STARTTLS: a login too.
    ex6.python(pop3(ex6.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat()", stls=True, sasl=True))
    assert "2 time(s)" in ex6.check("pop-folder-local").detail
    # Creating "POP" on the server (through IMAP) is exactly what POP cannot do.
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.create('POP')"))
    assert_fails(ex6.check("pop-folder-local"))


@pytest.mark.parametrize("made_over_imap", ["INBOX.POP", "pop"])
def test_ex6_pop_folder_made_on_the_server_under_another_name_fails(ex6, made_over_imap):
    # Thunderbird's "New folder" on an IMAP Inbox makes INBOX.POP; a lower-case "pop" is the
    # same folder to the student. Either on the server means the account was used over IMAP.
    ex6.python(pop3(ex6.ip("mail"), "alumnopop", "alumnopoppass", "    pop.stat()"))
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.delete('POP')"))
    assert_passes(ex6.check("pop-folder-local"))
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", f"imap.create({made_over_imap!r})"))
    result = ex6.check("pop-folder-local")
    assert_fails(result)
    assert made_over_imap in result.detail
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", f"imap.delete({made_over_imap!r})"))


def test_ex6_read_where_thunderbird_filed_the_mail(ex6):
    """Thunderbird moves mail (UID MOVE) into the folder the exercise makes and deleted mail
    into Trash: the mail is read where it is now; the Trash, where a message deleted unread
    stays unread, does not count; nothing at all fails."""
    ex6.forget_mail()
    assert_fails(ex6.check("imap-all-read"))
    for n in range(3):
        ex6.python(send(ex6.ip("mail"), POP, IMAP, f"para archivar {n}"))
    wait_for_inbox(ex6, 3)
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", """
imap.create('INBOX.IMAP'); imap.create('Trash')
imap.select()
uids = imap.uid('SEARCH', None, 'ALL')[1][0].split()
assert imap.uid('MOVE', b','.join(uids[:2]), 'INBOX.IMAP')[0] == 'OK'
assert imap.uid('MOVE', uids[2], 'Trash')[0] == 'OK'
"""))
    result = ex6.check("imap-all-read")
    assert_fails(result)
    assert "2 of 2 message(s)" in result.detail and "(2 in INBOX.IMAP)" in result.detail, result.detail
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass",
                    "imap.select('INBOX.IMAP'); imap.uid('STORE', '1:*', '+FLAGS', '(\\\\Seen)')"))
    result = ex6.check("imap-all-read")
    assert_passes(result)
    assert "all 2 message(s)" in result.detail and "(in INBOX.IMAP)" in result.detail, result.detail
    # A draft Thunderbird saves while the student writes: APPENDed with \Draft and not \Seen.
    draft = b"From: alumnoimap@redes.unlp.edu.ar\r\nSubject: a medio escribir\r\n\r\nhola\r\n"
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass",
                    f"imap.create('Borradores'); imap.append('Borradores', '(\\\\Draft)', None, {draft!r})"))
    assert any("D" in m.flags and "S" not in m.flags for m in ex6.context().messages(IMAP))
    assert_passes(ex6.check("imap-all-read"))
    # New mail in the Inbox, unread: not everything is read any more.
    ex6.python(send(ex6.ip("mail"), POP, IMAP, "llega despues"))
    result = ex6.eventually("imap-all-read", until=lambda r: "1 in INBOX" in r.detail)
    assert_fails(result)
    assert "1 of 3" in result.detail, result.detail


def test_ex6_a_sent_copy_alone_is_no_mail_marked_read(ex6):
    """Thunderbird keeps a \\Seen copy of each message sent in Sent: an account that only sent
    had nothing to mark read (it passed). Mail received, then read with curl's STORE, passes."""
    ex6.forget_mail()
    sent = ex6.python(send(ex6.ip("mail"), IMAP, POP, "solo enviado", port=587, login=("alumnoimap", "alumnoimappass"))).strip()
    copy = f"From: {IMAP}\r\nTo: {POP}\r\nSubject: solo enviado\r\nMessage-ID: {sent}\r\n\r\nestoy probando\r\n".encode()
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass",
                    f"imap.create('Sent'); imap.append('Sent', '(\\\\Seen)', None, {copy!r})"))
    result = ex6.check("imap-all-read")
    assert_fails(result)
    assert (f"no mail received by {IMAP} in the folders of {IMAP} (Trash, Junk and Drafts aside), only 1 message(s) "
            "the client put there itself (in Sent)") in result.detail, result.detail
    ex6.python(send(ex6.ip("mail"), POP, IMAP, "recibido"))
    wait_for_inbox(ex6, 1)
    assert_fails(ex6.check("imap-all-read"))  # received, not read yet
    ex6.student("curl", "-sS", "imap://alumnoimap:alumnoimappass@mail.redes.unlp.edu.ar/INBOX", "-X", "STORE 1 +FLAGS (\\Seen)")
    result = ex6.check("imap-all-read")
    assert_passes(result)
    assert "all 2 message(s)" in result.detail and "(in Sent, INBOX)" in result.detail, result.detail
