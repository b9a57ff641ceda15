"""What one account can make the mail server keep on the disk every lab of a class shares:
folders, messages (files, however small) and keywords are bounded, each past its bound
refused the way Dovecot and Postfix refuse it, and what a student legitimately files
(the exercises' folders, Thunderbird's) still fits. Real Dovecot, real MTA, imaplib/smtplib.

Before the bounds (main at 2feea2e): a loop of CREATEs made 1204 folders in 10 s (120/s,
+24 KiB each: 10.5 GB an hour); a loop of STORE +FLAGS kept 5300 new keywords in 3 s."""
from __future__ import annotations

import imaplib
import smtplib

import pytest

INSTANCE = "mailbounds"
NET = "172.31.241"
MAIL = f"{NET}.90"
DOMAIN = "redes.unlp.edu.ar"
# Small enough to reach in a test; the mechanism is the same as at the lab's 10000.
MESSAGES = 30


@pytest.fixture(scope="module")
def lab(engine):
    from labctl.render import configs
    from labctl.runtime import project
    from labctl.spec.loader import load_lab

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(configs, "MAILBOX_MESSAGES", MESSAGES)
        project.down(engine, INSTANCE)
        project.up(engine, load_lab("practica4", None, f"{NET}.0/24"), INSTANCE)
    yield engine.containers.get(f"{INSTANCE}-mail")
    project.down(engine, INSTANCE)


def imap_login(user: str) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(MAIL, 143, timeout=30)
    imap.login(user, f"{user}pass")
    return imap


def disk_kib(mail) -> int:
    return int(mail.exec_run(["du", "-sk", "/var/lib/labctl-mail/maildirs"]).output.split()[0])


def test_folders_are_bounded_and_what_a_student_files_fits(lab):
    from labctl.render.configs import MAILBOX_FOLDERS

    with imap_login("alumnoimap") as imap:
        # Exercise 6's folders and Thunderbird's: made as ever.
        for name in ("POP", "IMAP", "Sent", "Drafts", "Trash", "Junk", "Archives", "Templates", "Archives.2026"):  # "." separates, as in Debian
            assert imap.create(name)[0] == "OK", name
        before = disk_kib(lab)
        made, answer = 0, None
        for n in range(MAILBOX_FOLDERS * 3):
            typ, answer = imap.create(f"relleno{n:04d}")
            if typ != "OK":
                break
            made += 1
        # INBOX and the nine above count: the loop stops at the bound, with 2.4's answer.
        assert 1 + 9 + made == MAILBOX_FOLDERS
        assert answer[0].startswith(b"[LIMIT] Maximum number of mailboxes reached"), answer
        assert disk_kib(lab) - before < made * 40  # ~25 KiB a folder, and no more folders
        # At the bound, what exists still works: a folder goes, and another can be made.
        assert imap.append("IMAP", None, None, b"Subject: sigue\r\n\r\nhola\r\n")[0] == "OK"
        assert imap.rename("relleno0000", "Viejos")[0] == "OK"
        assert imap.delete("Viejos")[0] == "OK"
        assert imap.create("Nueva")[0] == "OK"
        assert imap.create("Otra")[0] == "NO"
    # The bound is per account: alumnopop's folders are its own.
    with imap_login("alumnopop") as imap:
        assert imap.create("POP")[0] == "OK"


def test_messages_are_bounded_over_smtp_and_imap_however_small(lab):
    """Tiny messages never reach the 51.2 MB quota (170k of them would); their count is
    bounded: the MTA refuses at RCPT as when the quota is reached, Dovecot refuses APPEND."""
    pop, imap_address = f"alumnopop@{DOMAIN}", f"alumnoimap@{DOMAIN}"
    accepted, refusal = 0, None
    with smtplib.SMTP(MAIL, 25, timeout=30) as smtp:
        for _ in range(MESSAGES * 3):
            try:
                smtp.sendmail(imap_address, [pop], "Subject: x\r\n\r\nx\r\n")
                accepted += 1
            except smtplib.SMTPRecipientsRefused as refused:
                refusal = refused.recipients[pop]
                break
    assert refusal is not None and refusal[0] == 552 and refusal[1].endswith(b"Mailbox is full"), refusal
    assert MESSAGES - 10 <= accepted <= MESSAGES  # Dovecot's own files in the Maildir count as files too
    with imap_login("alumnopop") as imap:
        appended, answer = 0, None
        for _ in range(MESSAGES * 3):
            typ, answer = imap.append("INBOX", None, None, b"Subject: y\r\n\r\ny\r\n")
            if typ != "OK":
                break
            appended += 1
        assert accepted + appended == MESSAGES  # Dovecot counts messages: the rest of the bound
        assert b"Quota exceeded" in answer[0], answer
        # Expunging makes room again, as with the byte quota.
        imap.select("INBOX")
        imap.store("1:5", "+FLAGS", r"(\Deleted)")
        imap.expunge()
        assert imap.append("INBOX", None, None, b"Subject: y\r\n\r\ny\r\n")[0] == "OK"


def test_keywords_of_a_folder_are_bounded_and_known_ones_still_work(lab):
    from labctl.render.configs import MAILBOX_KEYWORDS

    with imap_login("alumnoimap") as imap:
        assert imap.append("INBOX", None, None, b"Subject: k\r\n\r\nk\r\n")[0] == "OK"
        imap.select("INBOX")
        # Thunderbird's own keywords are a handful.
        assert imap.store("1", "+FLAGS", "($Forwarded $MDNSent NonJunk $label1)")[0] == "OK"
        kept, answer = 4, None
        for n in range(MAILBOX_KEYWORDS):
            names = " ".join(f"k{n}_{i:02d}" for i in range(10))
            typ, answer = imap.store("1", "+FLAGS", f"({names})")
            if typ != "OK":
                break
            kept += 10
        assert MAILBOX_KEYWORDS <= kept < MAILBOX_KEYWORDS + 10, kept  # at most one command past it
        assert b"Can't create new keywords" in answer[0], answer
        imap.select("INBOX")
        assert b"\\*" not in b" ".join(imap.untagged_responses.get("OK", []))  # PERMANENTFLAGS says so
        # A keyword the folder has is still set and cleared.
        assert imap.store("1", "-FLAGS", "($label1)")[0] == "OK"
        assert imap.store("1", "+FLAGS", "($label1)")[0] == "OK"
