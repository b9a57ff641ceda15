"""Checks that need proof an account was really used: Dovecot's log of its logins."""
from __future__ import annotations

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.mailbox import ADDRESS, folder_present
from labctl.checks.sessions import clock


class PopFolderParams(Params):
    account: str = Field(pattern=ADDRESS)
    folder: str = Field(min_length=1)


@register("pop-folder-local")
class PopFolderLocal(Check):
    """The account was used over POP3 (a login in Dovecot's log, encrypted or not) and the
    folder the student made for it is not on the server: POP has no server folders. On an
    untouched lab the folder is missing too, so the login is what makes this evidence."""

    Params = PopFolderParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        service = ctx.mail_service_of(p.account)
        logins = [login for login in ctx.logins(service) if login.protocol == "pop3" and login.is_account(p.account)]
        if not logins:
            return False, (f"{p.account} never logged in over POP3: read its mail over POP3 (port 110) in Thunderbird, "
                           f"then make the folder {p.folder!r} in it")
        folders = ctx.folders(p.account)
        used = f"{p.account} logged in over POP3 {len(logins)} time(s), last at {clock(logins[-1].ts)} from {logins[-1].client_ip}"
        # Made through IMAP under the Inbox (INBOX.POP) or as "pop": still a server folder.
        if folder_present(folders, p.folder):
            return False, f"{used}, but the server has a folder {p.folder!r} for it (made over IMAP?): it has {', '.join(folders)}"
        return True, f"{used}; the server has no folder {p.folder!r} for it (it has: {', '.join(folders)})"
