"""A file the student hands in: the attachment extracted by hand from a message's source."""
from __future__ import annotations

import hashlib

from labctl.checks.base import Check, Verdict, register
from labctl.checks.context import CheckContext
from labctl.checks.mailbox import MessageParams, attachment_is, describe, matching_messages


@register("handin-attachment")
class HandinAttachment(Check):
    """The handed-in file (--file) is, byte for byte, an attachment of a matching message."""

    Params = MessageParams
    reads_handin = True

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        if ctx.handin is None:
            return False, "no file handed in: run labctl check with --file PATH"
        try:
            handed = ctx.handin.read_bytes()
        except OSError as exc:
            raise Verdict(f"cannot read {ctx.handin}: {exc.strerror}") from None
        attachments = [
            a for received in matching_messages(ctx, self.params) for a in received.summary.attachments
            if self.params.attachment_type is None or attachment_is(a, self.params.attachment_type)
        ]
        if not attachments:
            return False, f"there is no {describe(self.params)[2:]} to compare {ctx.handin.name} with"
        digest = hashlib.sha256(handed).hexdigest()
        for attachment in attachments:
            if attachment.sha256 == digest:
                return True, f"{ctx.handin.name} is {attachment.filename or 'the attachment'}, byte for byte"
        sizes = ", ".join(str(a.size) for a in attachments)
        digest = digest[:12]
        return False, (f"{ctx.handin.name} ({len(handed)} bytes, sha256 {digest}…) matches none of the "
                       f"{len(attachments)} attachment(s) ({sizes} bytes)")
