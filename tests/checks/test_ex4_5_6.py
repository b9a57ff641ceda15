"""Exercises 4 (POP3), 5 (IMAP) and 6 (IMAP vs POP): each on its own lab."""
from __future__ import annotations

import time

import pytest

from checklab import assert_fails, assert_passes, exercise_lab
from labctl.render.configs import MAILDIR_ROOT
from labctl.runtime import containers as ctr
from student import imap, pop3_download, send

POP, IMAP = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"


@pytest.fixture(scope="module")
def ex4(engine):
    yield from exercise_lab(engine, "4")


@pytest.fixture(scope="module")
def ex5(engine):
    yield from exercise_lab(engine, "5")


@pytest.fixture(scope="module")
def ex6(engine):
    yield from exercise_lab(engine, "6")


def pop3(server: str, password: str, commands: str) -> str:
    return f"""
import poplib
pop = poplib.POP3({server!r}, 110, timeout=10)
pop.user('alumnopop')
try:
    pop.pass_({password!r})
{commands}
except poplib.error_proto as error:
    print(error)
pop.quit()
"""


def test_ex4_pop3(ex4):
    assert_fails(ex4.check("mail-to-pop"))
    assert_fails(ex4.check("pop3-dialogue"))
    ex4.python(send(ex4.ip("mail"), IMAP, POP, "para leer por POP"))
    assert_passes(ex4.eventually("mail-to-pop"))
    # Wrong password: STAT is refused, the session does not count.
    ex4.python(pop3(ex4.ip("mail"), "mal", "    pop.stat(); pop.list(); pop.uidl(); pop.retr(1)"))
    ex4.captured()
    assert_fails(ex4.check("pop3-dialogue"))
    # Logged in but never downloaded (no RETR).
    ex4.python(pop3(ex4.ip("mail"), "alumnopoppass", "    pop.stat(); pop.list(); pop.uidl()"))
    ex4.captured()
    assert_fails(ex4.check("pop3-dialogue"))
    ex4.python(pop3(ex4.ip("mail"), "alumnopoppass", "    pop.stat(); pop.list(); pop.uidl(); pop.retr(1)"))
    assert_passes(ex4.eventually("pop3-dialogue", timeout=3))


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


IDLE = """
tag = imap._new_tag()
imap.send(tag + b' IDLE\\r\\n')
assert imap.readline().startswith(b'+')
imap.send(b'DONE\\r\\n')
while not imap.readline().startswith(tag):
    pass
"""


def test_ex5_imap(ex5):
    assert_fails(ex5.check("mail-to-imap"))
    assert_fails(ex5.check("imap-dialogue"))
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para leer por IMAP"))
    assert_passes(ex5.eventually("mail-to-imap"))
    # Fetched without ever idling: not what the exercise asks to observe.
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.uid('FETCH', '1:*', '(BODY.PEEK[])')"))
    ex5.captured()
    assert_fails(ex5.check("imap-dialogue"))
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select()" + IDLE + "imap.uid('FETCH', '1:*', '(BODY.PEEK[])')"))
    assert_passes(ex5.eventually("imap-dialogue", timeout=3))


def test_ex5_messages_copied_and_moved_to_folders(ex5):
    """Thunderbird's habits: COPY (Dovecot hard-links the file) into "INBOX/IMAP" and a
    folder with an accent and a space, MOVE into another; every copy is seen where it is."""
    ex5.forget_mail()
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para copiar"))
    ex5.python(send(ex5.ip("mail"), POP, IMAP, "para mover"))
    assert_passes(ex5.eventually("mail-to-imap"))
    count = imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", "print(imap.select(readonly=True)[1][0].decode())")
    deadline = time.monotonic() + 20
    while int(ex5.python(count)) < 2:
        assert time.monotonic() < deadline, "the two messages never reached alumnoimap"
        time.sleep(0.2)
    # imaplib sends folder names as given: Thunderbird's modified UTF-7, quoted for the space.
    ex5.python(imap(ex5.ip("mail"), "alumnoimap", "alumnoimappass", """
imap.create('INBOX/IMAP'); imap.create('"Cr&APM-nicas del a&APE-o"'); imap.create('Archivo')
imap.select()
copied = imap.search(None, 'SUBJECT', '"para copiar"')[1][0].split()[-1]
assert imap.copy(copied, 'INBOX/IMAP')[0] == 'OK'
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
    assert folders == {"para copiar": {"INBOX", "INBOX/IMAP", "Crónicas del año"}, "para mover": {"Archivo"}}
    result = ex5.check("mail-to-imap")
    assert_passes(result)


def test_ex6_read_flags(ex6):
    assert_fails(ex6.check("imap-all-read"))  # nothing there yet
    for n in range(2):
        ex6.python(send(ex6.ip("mail"), POP, IMAP, f"mensaje {n}"))
    count = imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "print(imap.select(readonly=True)[1][0].decode())")
    deadline = time.monotonic() + 20
    while int(ex6.python(count)) < 2:  # both delivered (asynchronously) before any is read
        assert time.monotonic() < deadline, "the two messages never reached alumnoimap"
        time.sleep(0.2)
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('1', '+FLAGS', '\\\\Seen')"))
    result = ex6.check("imap-all-read")
    assert_fails(result)
    assert "1 of 2" in result.detail
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.select(); imap.store('1:*', '+FLAGS', '\\\\Seen')"))
    assert_passes(ex6.check("imap-all-read"))


def test_ex6_folders(ex6):
    assert_fails(ex6.check("imap-folder"))
    # The POP "folder" lives in Thunderbird's Local Folders: the server knows nothing of it.
    assert_passes(ex6.check("pop-folder-local"))
    # An "IMAP" folder in the wrong account.
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.create('IMAP')"))
    assert_fails(ex6.check("imap-folder"))
    # A folder whose name only contains IMAP, beside one with a space in its name.
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('\"Mis cosas IMAP\"')"))
    result = ex6.check("imap-folder")
    assert_fails(result)
    assert "Mis cosas IMAP" in result.detail
    # Thunderbird's "New folder" on the Inbox makes it a subfolder: INBOX/IMAP.
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('INBOX/IMAP')"))
    assert_passes(ex6.check("imap-folder"))
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.delete('INBOX/IMAP')"))
    assert_fails(ex6.check("imap-folder"))
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('IMAP')"))
    assert_passes(ex6.check("imap-folder"))
    # Creating "POP" on the server (through IMAP) is exactly what POP cannot do.
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.create('POP')"))
    assert_fails(ex6.check("pop-folder-local"))
