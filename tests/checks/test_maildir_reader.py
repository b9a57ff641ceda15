"""The checks' Maildir reader on a Maildir built on disk the way Dovecot lays it out
(Maildir++, modified UTF-7 names, IMAP COPY as a hard link) and tarred as Docker does."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from labctl.checks import maildir_tar
from labctl.checks.maildir_tar import decode_mutf7, folder_of, read_maildir_tar
from labctl.mailserver.summary import summarise


def message(subject: str, sender: str = "alumnopop@redes.unlp.edu.ar") -> bytes:
    return (f"From: {sender}\nTo: alumnoimap@redes.unlp.edu.ar\nSubject: {subject}\n"
            f"Message-ID: <{abs(hash(subject))}@cliente>\n\nhola\n").encode()


def store(maildir: Path, folder: str, sub: str, name: str, data: bytes) -> Path:
    where = maildir / folder / sub if folder else maildir / sub
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(data)
    return where / name


def tar_chunks(maildir: Path, chunk: int = 4096) -> list[bytes]:
    """The Maildir as `docker cp`/get_archive hands it over: a tar rooted at "Maildir",
    cut into chunks (tarfile, like Docker, stores a second name of an inode as a link)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(maildir, arcname="Maildir")
    data = buffer.getvalue()
    return [data[i:i + chunk] for i in range(0, len(data), chunk)]


@pytest.fixture
def maildir(tmp_path) -> Path:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "dovecot-uidlist").write_text("3 V1 N2\n")
    (root / "subscriptions").write_text("INBOX.IMAP\n")
    original = store(root, "", "cur", "1700000000.Q0123456789R0.mail:2,S", message("foto"))
    store(root, "", "new", "1700000001.Q0123456789R1.mail", message("nuevo"))
    store(root, "", "tmp", "1700000002.M1.mail", message("a medio escribir"))
    # Thunderbird's "IMAP" under the inbox; the COPY is a hard link to the INBOX file.
    (root / ".INBOX.IMAP" / "cur").mkdir(parents=True)
    os.link(original, root / ".INBOX.IMAP" / "cur" / "1700000100.M5P1.mail,S=120:2,S")
    (root / ".INBOX.IMAP" / "maildirfolder").write_text("")
    store(root, ".Mis cosas", "cur", "1700000200.M1.mail:2,", message("con espacios"))
    store(root, ".Cr&APM-nicas", "new", "1700000300.M1.mail", message("crónica"))
    store(root, ".Borradores", "cur", "1700000400.M1.mail:2,D", message("borrador"))
    store(root, ".Enviados", "cur", "1700000500.M1.mail:2,S", message("enviado", "alumnoimap@redes.unlp.edu.ar"))
    return root


def test_every_message_in_every_folder(maildir):
    contents = read_maildir_tar(tar_chunks(maildir))
    seen = sorted((m.folder, m.summary.subject) for m in contents.messages)
    assert seen == [
        ("Borradores", "borrador"), ("Crónicas", "crónica"), ("Enviados", "enviado"),
        ("INBOX", "foto"), ("INBOX", "nuevo"), ("INBOX.IMAP", "foto"), ("Mis cosas", "con espacios"),
    ]
    assert contents.unread == []


def test_the_hard_linked_copy_keeps_its_own_name_and_flags(maildir):
    (maildir / ".INBOX.IMAP" / "cur" / "1700000100.M5P1.mail,S=120:2,S").rename(
        maildir / ".INBOX.IMAP" / "cur" / "1700000100.M5P1.mail,S=120:2,RS")
    copies = [m for m in read_maildir_tar(tar_chunks(maildir)).messages if m.summary.subject == "foto"]
    assert {(m.folder, m.name, m.flags) for m in copies} == {
        ("INBOX", "1700000000.Q0123456789R0.mail", "S"),
        ("INBOX.IMAP", "1700000100.M5P1.mail,S=120", "RS"),
    }
    assert copies[0].summary == copies[1].summary


def test_one_unreadable_message_is_reported_and_the_rest_read(maildir):
    hostile = b"From: a@b.c\nSubject: x\nMIME-Version: 1.0\n" + b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'.encode() for i in range(1000))
    store(maildir, "", "new", "1700000600.Q00000000AAR0.mail", hostile)
    contents = read_maildir_tar(tar_chunks(maildir))
    assert len(contents.messages) == 7
    [unread] = contents.unread
    assert unread.folder == "INBOX" and unread.name == "1700000600.Q00000000AAR0.mail"
    assert str(unread).startswith("could not read message 1700000600.Q00000000AAR0.mail in INBOX: more than 100 nested")


def test_huge_messages_are_not_read(maildir, monkeypatch):
    monkeypatch.setattr(maildir_tar, "MAX_MESSAGE_BYTES", 1000)
    store(maildir, ".Mis cosas", "new", "1700000700.M1.mail", message("enorme") + b"x" * 2000)
    contents = read_maildir_tar(tar_chunks(maildir))
    [unread] = contents.unread
    assert unread.folder == "Mis cosas" and "more than the 1000" in unread.why
    assert len(contents.messages) == 7


def test_an_account_over_its_budget_is_read_up_to_it(maildir, monkeypatch):
    monkeypatch.setattr(maildir_tar, "MAX_ACCOUNT_BYTES", 3 * len(message("foto")))
    contents = read_maildir_tar(tar_chunks(maildir))
    assert len(contents.messages) >= 2
    assert contents.unread and all("more than the" in u.why for u in contents.unread)
    assert len(contents.messages) + len(contents.unread) == 7


def test_an_empty_or_missing_maildir_has_no_messages(tmp_path):
    (tmp_path / "Maildir").mkdir()
    assert read_maildir_tar(tar_chunks(tmp_path / "Maildir")).messages == []


@pytest.mark.parametrize(("on_disk", "shown"), [
    ("Enviados", "Enviados"), ("Cr&APM-nicas", "Crónicas"), ("A&APE-o 2024", "Año 2024"),
    ("Fish &- Chips", "Fish & Chips"), ("&ZeVnLIqe-", "日本語"), ("bad &%%%-", "bad &%%%-"),
])
def test_modified_utf7_names(on_disk, shown):
    assert decode_mutf7(on_disk) == shown


@pytest.mark.parametrize(("path", "folder"), [
    ("Maildir/cur/1.M1.mail:2,S", "INBOX"),
    ("Maildir/new/1.M1.mail", "INBOX"),
    ("Maildir/tmp/1.M1.mail", None),
    ("Maildir/.Sent/cur/1.M1.mail:2,S", "Sent"),
    ("Maildir/.INBOX.IMAP/new/1.M1.mail", "INBOX.IMAP"),
    ("Maildir/.a.b.c/cur/1", "a.b.c"),
    ("Maildir/dovecot-uidlist", None),
    ("Maildir/.Sent/maildirfolder", None),
    ("Maildir/./cur/1", None),
])
def test_folder_of(path, folder):
    assert folder_of(path) == folder


def test_what_the_mta_logged_stands_in_for_the_files_it_wrote(maildir):
    """Files named after a queue id the MTA's log describes are not parsed again; the
    name survives Dovecot's copies. Files the MTA did not write are always read."""
    logged = summarise(message("según el registro"))
    contents = read_maildir_tar(tar_chunks(maildir), known={"0123456789": logged})
    subjects = sorted((m.folder, m.summary.subject) for m in contents.messages)
    assert ("INBOX", "según el registro") in subjects and ("INBOX", "nuevo") not in subjects
    assert ("INBOX.IMAP", "foto") in subjects  # a name without a queue id is read
    assert ("Mis cosas", "con espacios") in subjects


def test_what_the_mta_could_not_read_is_not_parsed_again(maildir):
    contents = read_maildir_tar(tar_chunks(maildir), known={"0123456789": "more than 300000 lines"})
    assert {(u.folder, u.why) for u in contents.unread} >= {("INBOX", "more than 300000 lines")}
    assert "nuevo" not in {m.summary.subject for m in contents.messages}
