"""What the simulated student types in the client container, as Python source for
`python3 -c` (the client has the stock library: smtplib, poplib, imaplib)."""
from __future__ import annotations


def send(server: str, sender: str, to: str, subject: str, body: str = "estoy probando", *,
         port: int = 25, login: tuple[str, str] | None = None, attachment: tuple[str, str, str] | None = None,
         in_reply_to: str | None = None, count: int = 1, recipients: list[str] | None = None,
         helo: bool = False, starttls: bool = False) -> str:
    """An EHLO/MAIL/RCPT/DATA session; `attachment` is (path in client, maintype, subtype);
    `count` messages over the same connection; `helo`: HELO instead of EHLO, as telnet
    users and mutt do; `starttls`: TLS after EHLO, as Thunderbird does by default on 587.
    Prints the Message-IDs sent."""
    return f"""
import email.message, email.utils, smtplib, ssl
ids = []
with smtplib.SMTP({server!r}, {port}, timeout=20) as smtp:
    if {helo!r}:
        smtp.helo('cliente')
    else:
        smtp.ehlo('cliente')
    if {starttls!r}:
        smtp.starttls(context=ssl._create_unverified_context())
        smtp.ehlo('cliente')
    if {login!r}:
        smtp.login(*{login!r})
    for n in range({count}):
        msg = email.message.EmailMessage()
        msg['From'], msg['To'], msg['Subject'] = {sender!r}, {", ".join(recipients or [to])!r}, {subject!r} + (f' {{n}}' if n else '')
        msg['Message-ID'] = email.utils.make_msgid()
        if {in_reply_to!r}:
            msg['In-Reply-To'] = msg['References'] = {in_reply_to!r}
        msg.set_content({body!r})
        if {attachment!r}:
            path, main, sub = {attachment!r}
            msg.add_attachment(open(path, 'rb').read(), maintype=main, subtype=sub, filename=path.rsplit('/', 1)[-1])
        smtp.send_message(msg, to_addrs={recipients or [to]!r})
        ids.append(msg['Message-ID'])
print(' '.join(ids))
"""


def imap(server: str, user: str, password: str, commands: str) -> str:
    """A logged-in IMAP session (`imap` is the imaplib object) running `commands`."""
    return f"""
import imaplib
imap = imaplib.IMAP4({server!r}, 143)
imap.login({user!r}, {password!r})
{commands}
imap.logout()
"""


def pop3_download(server: str, user: str, password: str, *, delete: bool) -> str:
    """Thunderbird's "get messages" over POP3: every message retrieved, deleted from the
    server unless "leave a copy on the server" is on. Prints how many there were."""
    return f"""
import poplib
pop = poplib.POP3({server!r}, 110, timeout=10)
pop.user({user!r}); pop.pass_({password!r})
count, _ = pop.stat()
pop.uidl()
for n in range(1, count + 1):
    pop.retr(n)
    if {delete!r}:
        pop.dele(n)
pop.quit()
print(count)
"""


def imap_append(server: str, user: str, password: str, raw: bytes, folder: str = "INBOX") -> str:
    """A message put straight into a mailbox over IMAP (APPEND): any From: the sender likes."""
    return imap(server, user, password, f"imap.append({folder!r}, None, None, {raw!r})")


def pop3(server: str, user: str, password: str, commands: str, *, capa: bool = True, sasl: bool = False,
         stls: bool = False) -> str:
    """A POP3 session (`pop` is the poplib object) running `commands` after the login, then
    QUIT. `capa`: CAPA first, as Thunderbird does; `sasl`: AUTH PLAIN in two steps (challenge
    "+ ", then the credentials), as Thunderbird does, instead of USER/PASS; `stls`: STLS
    first. A refused login is printed, and the session still ends with QUIT."""
    return f"""
import base64, poplib, ssl
pop = poplib.POP3({server!r}, 110, timeout=10)
if {capa!r}:
    pop.capa()
if {stls!r}:
    pop.stls(context=ssl._create_unverified_context())
try:
    if {sasl!r}:
        pop._shortcmd('AUTH PLAIN')
        pop._shortcmd(base64.b64encode(b'\\0' + {user!r}.encode() + b'\\0' + {password!r}.encode()).decode())
    else:
        pop.user({user!r})
        pop.pass_({password!r})
{commands}
except poplib.error_proto as error:
    print(error)
pop.quit()
"""


def send_raw(server: str, sender: str, to: str, raw: bytes, *, port: int = 25,
             login: tuple[str, str] | None = None) -> str:
    """A message sent exactly as given, the way Thunderbird sends it: EHLO with the
    client's address literal, AUTH PLAIN with an initial response when `login` is given,
    MAIL FROM with BODY=8BITMIME and SIZE."""
    return f"""
import base64, smtplib
with smtplib.SMTP({server!r}, {port}, timeout=20) as smtp:
    smtp.ehlo('[' + smtp.sock.getsockname()[0] + ']')
    if {login!r}:
        user, password = {login!r}
        blob = base64.b64encode(b'\\0' + user.encode() + b'\\0' + password.encode()).decode()
        assert smtp.docmd('AUTH', 'PLAIN ' + blob)[0] == 235
    smtp.sendmail({sender!r}, [{to!r}], {raw!r}, mail_options=['BODY=8BITMIME'])
"""


def typed(server: str, commands: list[str], lines: list[str], *, port: int = 25) -> str:
    """An SMTP session typed by hand (telnet): each command once the reply to the one before
    it came, each positive; after them (the last is DATA) the message's `lines` as typed,
    the "." line, then QUIT."""
    return f"""
import socket
s = socket.create_connection(({server!r}, {port})); f = s.makefile('rb')
def say(line):
    s.sendall(line.encode() + b'\\r\\n')
    reply = f.readline().decode()
    while reply[3:4] == '-':
        reply = f.readline().decode()
    return reply
f.readline()
for command in {commands!r}:
    reply = say(command)
    assert reply[:1] in '23', (command, reply)
for line in {lines!r}:
    s.sendall(line.encode() + b'\\r\\n')
assert say('.').startswith('250')
say('QUIT')
"""
