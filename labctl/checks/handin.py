"""A file the student hands in: the attachment extracted by hand from a message's source."""
from __future__ import annotations

import hashlib

from labctl.checks.base import Check, Verdict, register
from labctl.checks.context import CheckContext
from labctl.checks.mailbox import MessageParams, describe, matching_messages, type_matches


@register("handin-attachment")
class HandinAttachment(Check):
    """The handed-in file (--file) is, byte for byte, an attachment of a matching message."""

    Params = MessageParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        if ctx.handin is None:
            return False, "no file handed in: run labctl check with --file PATH"
        try:
            handed = ctx.handin.read_bytes()
        except OSError as exc:
            raise Verdict(f"cannot read {ctx.handin}: {exc.strerror}") from None
        attachments = [
            a for stored in matching_messages(ctx, self.params) for a in stored.message.iter_attachments()
            if self.params.attachment_type is None or type_matches(a.get_content_type(), self.params.attachment_type)
        ]
        if not attachments:
            return False, f"there is no {describe(self.params)[2:]} to compare {ctx.handin.name} with"
        for attachment in attachments:
            if attachment.get_payload(decode=True) == handed:
                return True, f"{ctx.handin.name} is {attachment.get_filename() or 'the attachment'}, byte for byte"
        sizes = ", ".join(str(len(a.get_payload(decode=True))) for a in attachments)
        digest = hashlib.sha256(handed).hexdigest()[:12]
        return False, (f"{ctx.handin.name} ({len(handed)} bytes, sha256 {digest}…) matches none of the "
                       f"{len(attachments)} attachment(s) ({sizes} bytes)")
