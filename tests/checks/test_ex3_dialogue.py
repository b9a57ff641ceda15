"""Exercise 3b, the SMTP dialogue of the send from alumnopop to alumnoimap: labctl's probes
are no session of the student's (nor what `capture follow`/`ladder` show first), another
clear send does not count while the exercise's, hidden by STARTTLS, is named as such, and
HELO is a complete dialogue."""
from __future__ import annotations

from typer.testing import CliRunner

from checklab import assert_fails, assert_passes
from labctl.cli import app
from student import send

POP, IMAP = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"
OTHER = "redesycomunicaciones@redes.unlp.edu.ar"


def capture(lab, *args: str):
    return CliRunner().invoke(app, ["capture", *args, "--instance", lab.instance])


def test_nothing_done_names_no_probe_session(ex3):
    # `up` probed ports 25 and 587 from the host; those connections are labctl's.
    result = ex3.check("smtp-dialogue")
    assert_fails(result)
    assert result.detail.startswith("the capture has no SMTP to mail connection"), result.detail
    assert capture(ex3, "follow", "--proto", "smtp").stdout == ""
    assert "=== tcp stream" in capture(ex3, "follow", "--proto", "smtp", "--probes").stdout
    ladder = capture(ex3, "ladder")
    assert ladder.exit_code == 1 and "no TCP stream to draw" in ladder.stderr


def test_another_clear_send_beside_the_exercise_s_over_tls_fails(ex3):
    # The clear session is not alumnopop's send to alumnoimap; that one went over STARTTLS,
    # and the detail names it (from the MTA's log) and says how to send in clear.
    ex3.python(send(ex3.ip("mail"), OTHER, IMAP, "otra cuenta, en claro"))
    ex3.python(send(ex3.ip("mail"), POP, IMAP, "cifrado", starttls=True))
    ex3.captured()
    result = ex3.eventually("smtp-dialogue", until=lambda r: "the exercise's message (" in r.detail)
    assert_fails(result)
    assert "has EHLO, STARTTLS; missing MAIL, RCPT, DATA|BDAT" in result.detail, result.detail
    assert (f"it carried the exercise's message (a message from {POP} to {IMAP} with subject 'cifrado', as the "
            "MTA's log has it), but encrypted (STARTTLS): send without TLS (swaks without --tls") in result.detail, result.detail
    ladder = capture(ex3, "ladder")  # the student's first mail dialogue, not a probe
    assert ladder.exit_code == 0 and "smtp 172.29.3.100:" in ladder.stdout.splitlines()[0], ladder.stdout


def test_helo_instead_of_ehlo_is_a_complete_dialogue(ex3):
    # As telnet users and mutt do.
    ex3.python(send(ex3.ip("mail"), POP, IMAP, "con HELO", helo=True))
    ex3.captured()
    result = ex3.check("smtp-dialogue")
    assert_passes(result)
    assert ": HELO, MAIL, RCPT, DATA" in result.detail, result.detail


TOO_BIG = f"""
import smtplib
with smtplib.SMTP('mail.redes.unlp.edu.ar', 25) as smtp:
    smtp.ehlo('pc')
    smtp.mail('{POP}')  # no SIZE=: the server learns the size only from the data
    smtp.rcpt('{IMAP}')
    print(smtp.data(b'From: {POP}\\r\\nSubject: grande\\r\\n\\r\\n' + (b'x' * 998 + b'\\r\\n') * 10400))
"""
# A script piped into nc, as students write one: its lines end in a bare LF and it types
# ahead of the banner.
NC = ("(printf 'helo pc\\nmail from:<{pop}>\\nrcpt to:<{imap}>\\ndata\\n'; sleep 1; "
      "printf 'From: {pop}\\nSubject: con nc\\n\\nhola\\n.\\n'; sleep 1; printf 'quit\\n') | nc -q 3 mail.redes.unlp.edu.ar 25")


def test_a_message_refused_after_354_fails_and_one_typed_into_nc_passes(ex3):
    """DATA answered 354 and the message refused (552, too big) is no send: the check errored
    (IndexError) there, as on a session typed into nc (bare LF lines, Postfix takes them)."""
    ex3.reset()
    assert "552" in ex3.python(TOO_BIG)
    ex3.captured()
    result = ex3.check("smtp-dialogue")
    assert_fails(result)
    assert f"has EHLO, MAIL, RCPT, DATA, QUIT; no message was accepted in it (a message from {POP} to {IMAP} wanted)" \
        in result.detail, result.detail
    ex3.student("sh", "-c", NC.format(pop=POP, imap=IMAP))
    ex3.captured()
    result = ex3.check("smtp-dialogue")
    assert_passes(result)
    assert f": HELO, MAIL, RCPT, DATA, QUIT; it carried a message from {POP} to {IMAP} with subject 'con nc'" \
        in result.detail, result.detail
