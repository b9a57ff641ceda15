"""Folder names as Dovecot lists them: Debian's default separator for Maildir is "." (the lab's),
a namespace may set "/"; the checks find a folder the exercise asks for under either."""
from __future__ import annotations

import pytest

from labctl.checks.mailbox import folder_present, not_for_reading


@pytest.mark.parametrize("folders", [["INBOX", "INBOX.IMAP"], ["INBOX", "INBOX/IMAP"], ["INBOX", "imap"]])
def test_the_folder_is_found_at_the_top_or_under_the_inbox_with_either_separator(folders):
    assert folder_present(folders, "IMAP")


@pytest.mark.parametrize("folders", [["INBOX", "Mis cosas IMAP"], ["INBOX.IMAP.viejo"], ["IMAP2"], ["INBOX/IMAPS"], []])
def test_a_name_that_only_contains_it_is_not_the_folder(folders):
    assert not folder_present(folders, "IMAP")


def test_trash_and_drafts_under_the_inbox_are_not_for_reading_with_either_separator():
    assert not_for_reading("INBOX.Trash") and not_for_reading("INBOX/Drafts") and not_for_reading("Junk")
    assert not not_for_reading("INBOX.IMAP") and not not_for_reading("Trash.IMAP")
