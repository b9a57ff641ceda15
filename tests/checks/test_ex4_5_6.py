"""Exercises 4 (POP3), 5 (IMAP) and 6 (IMAP vs POP): each on its own lab."""
from __future__ import annotations

import time

import pytest

from checklab import assert_fails, assert_passes, exercise_lab
from student import imap, send

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
    ex6.python(imap(ex6.ip("mail"), "alumnoimap", "alumnoimappass", "imap.create('IMAP')"))
    assert_passes(ex6.check("imap-folder"))
    # Creating "POP" on the server (through IMAP) is exactly what POP cannot do.
    ex6.python(imap(ex6.ip("mail"), "alumnopop", "alumnopoppass", "imap.create('POP')"))
    assert_fails(ex6.check("pop-folder-local"))
