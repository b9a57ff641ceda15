"""Students who type the protocols by hand (nc, telnet) as the course's tutorials show:
lower-case commands, bare LF line ends, and one IMAP tag for every command (". login",
". select", ...), which Dovecot answers. Each dialogue is read as the server answered it."""
from __future__ import annotations

import pytest

from checklab import assert_fails, assert_passes, exercise_lab
from student import send


@pytest.fixture(scope="module")
def ex5(engine):
    yield from exercise_lab(engine, "5", second=True)


@pytest.fixture(scope="module")
def ex4(engine):
    yield from exercise_lab(engine, "4", second=True)


# A whole POP3 session piped into nc: it reaches the server before the greeting does on
# the lab's first POP3 connection (Dovecot starts its login process then).
TYPED_POP3 = "printf '{lines}' | nc -q 5 mail.redes.unlp.edu.ar 110"


def test_ex4_pop3_typed_ahead_of_the_greeting(ex4):
    ex4.python(send(ex4.ip("mail"), "alumnoimap@redes.unlp.edu.ar", "alumnopop@redes.unlp.edu.ar", "adelantado"))
    assert_passes(ex4.eventually("mail-to-pop"))
    # A wrong password: no login, whatever order the capture has the greeting in (the
    # greeting was read as USER's reply, and the refusal as PASS's acceptance).
    ex4.student("sh", "-c", TYPED_POP3.format(lines="user alumnopop\\npass mal\\nstat\\nquit\\n"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_fails(result)
    accepted = result.detail.split(" has ", 1)[1].split("; missing", 1)[0]
    assert "USER" not in accepted and "PASS" not in accepted, result.detail
    ex4.student("sh", "-c", TYPED_POP3.format(
        lines="capa\\nuser alumnopop\\npass alumnopoppass\\nstat\\nlist\\nuidl\\nretr 1\\nquit\\n"))
    ex4.captured()
    result = ex4.check("pop3-dialogue")
    assert_passes(result)
    assert ": CAPA, USER, PASS, STAT, LIST, UIDL, RETR, QUIT; fetched the message delivered at" in result.detail, result.detail


# IDLE typed into nc: the mail is sent (swaks) while it idles; "done" ends it, then `fetch`.
TYPED_IMAP = ("(sleep 0.5; printf '{tag} login alumnoimap alumnoimappass\\n{tag} select inbox\\n{tag} idle\\n'; sleep 1; "
              "swaks -s mail.redes.unlp.edu.ar -f alumnopop@redes.unlp.edu.ar -t alumnoimap@redes.unlp.edu.ar "
              "--h-Subject {subject} >/dev/null; sleep 3; printf 'done\\n'; sleep 0.5; {fetch}"
              "printf '{tag} logout\\n'; sleep 0.5) | nc mail.redes.unlp.edu.ar 143")


def test_ex5_imap_typed_with_one_tag_for_every_command(ex5):
    # Near miss: idled and was told of the mail, but never fetched it.
    ex5.student("sh", "-c", TYPED_IMAP.format(tag=".", subject="sin-fetch", fetch=""))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "has LOGIN, SELECT, IDLE, LOGOUT; missing UID FETCH|FETCH" in result.detail, result.detail
    # The same, fetching it: each ". OK" answers its own command (only the last did before).
    ex5.student("sh", "-c", TYPED_IMAP.format(tag=".", subject="a-mano", fetch="printf '. fetch 2 body[]\\n'; sleep 0.5; "))
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_passes(result)
    assert ": LOGIN, SELECT, IDLE, FETCH, LOGOUT; fetched the message delivered at" in result.detail, result.detail


def test_ex5_imap_typed_into_openssl_starttls_is_encrypted_and_the_detail_says_how_to_type_it_in_clear(ex5):
    """openssl s_client -starttls imap switches to TLS before the first command: the capture
    cannot show what was typed, and the failure tells to type it into nc or telnet instead."""
    ex5.reset()
    ex5.student("sh", "-c", "swaks -s mail.redes.unlp.edu.ar -f alumnopop@redes.unlp.edu.ar -t alumnoimap@redes.unlp.edu.ar "
                            "--h-Subject cifrado >/dev/null")
    assert_passes(ex5.eventually("mail-to-imap"))
    typed = ex5.student("sh", "-c", "(sleep 1; printf 'a login alumnoimap alumnoimappass\\na select inbox\\na noop\\n"
                                    "a fetch 1 body[]\\na logout\\n'; sleep 2) | "
                                    "openssl s_client -quiet -starttls imap -connect mail.redes.unlp.edu.ar:143 2>/dev/null")
    assert "Subject: cifrado" in typed, typed
    ex5.captured()
    result = ex5.check("imap-dialogue")
    assert_fails(result)
    assert "1 of them switched to TLS (STARTTLS)" in result.detail, result.detail
    assert "curl without --ssl/--ssl-reqd; by hand: nc or telnet, not openssl s_client -starttls" in result.detail, result.detail
