"""What a message says, read with bounded work: sender, subject, Message-ID, text body and
attachments (recognised by content, file name and declared type).

Anyone can send the lab a message on port 25, so nothing here may raise anything but
UnreadableMessage, recurse without bound or take more than a few times the message's
size in memory. The MTA logs a compact form of it on local delivery; the checks read
the Maildirs with it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # above the lab's SIZE (10240000) plus trace fields
MAX_MULTIPARTS = 100  # the parser recurses once per nested multipart: refuse before it does
MAX_LINES = 300_000  # the parser keeps an object per line: a 16 MB base64 file has ~210,000
MAX_PARTS = 200
MAX_HEADER_CHARS = 512  # address parsing recurses on nested comments
MAX_TEXT_CHARS = 16_384
MAX_LINKS = 50  # ids in In-Reply-To + References

# A header line declaring a multipart container; counted before parsing (cheap, bounded).
MULTIPART_LINE = re.compile(rb"^content-type:[ \t\r\n]*multipart/", re.IGNORECASE | re.MULTILINE)
MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
ADDR_SPEC = re.compile(r"[^<>\s(),;:\"]+@[^<>\s(),;:\"]+")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# What a file is, by its first bytes and by its name.
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
# The types sniff() tells by content: a file labelled one of them whose bytes are not it is not it.
KNOWN_BY_CONTENT = frozenset(kind for _, kind in MAGIC) | {"image/webp"}
EXTENSIONS = {
    "pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg",
    "png": "image/png", "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp",
    "tif": "image/tiff", "tiff": "image/tiff", "svg": "image/svg+xml", "heic": "image/heic",
}


class UnreadableMessage(Exception):
    """The message cannot be read within the bounds; the text says why, in a few words."""


@dataclass(frozen=True)
class Attachment:
    declared: str  # Content-Type as labelled by the sender's client
    sniffed: str  # what its bytes are ("" when not recognised)
    by_name: str  # what its file name says ("" when not recognised)
    filename: str
    size: int
    sha256: str
    inline: bool  # shown in the body (Content-Disposition inline or none) rather than attached

    @property
    def types(self) -> set[str]:
        return {t for t in (self.declared, self.sniffed, self.by_name) if t}

    @property
    def credible_types(self) -> set[str]:
        """What it is: what its bytes are, and its label and file name unless the bytes belie
        them (swaks --attach-type application/pdf --attach with a path that does not exist
        attaches the path itself, labelled application/pdf)."""
        return {t for t in self.types if t == self.sniffed or t not in KNOWN_BY_CONTENT}


@dataclass(frozen=True)
class MessageSummary:
    message_id: str
    senders: tuple[str, ...]  # addresses of From:
    subject: str
    text: str  # the text body (plain, else HTML), capped
    attachments: tuple[Attachment, ...]
    links: tuple[str, ...]  # Message-IDs named by In-Reply-To and References
    # Message-IDs named by X-Forwarded-Message-Id: Thunderbird's "Forward" names the message it
    # forwards in In-Reply-To and References too, and a forward is no answer to it.
    forwarded: tuple[str, ...]
    # The report-type of a multipart/report (a read receipt, "disposition-notification", which
    # Thunderbird links with References; a bounce, "delivery-status"); "" for any other message.
    report: str

    @property
    def answers(self) -> tuple[str, ...]:
        """The Message-IDs this message replies to: its links, unless it is a report, but for
        those it forwards."""
        return () if self.report else tuple(link for link in self.links if link not in self.forwarded)

    def to_event(self, text_chars: int = 500) -> dict:
        """The compact form the MTA logs with a delivery."""
        fields = asdict(self)
        fields["text"] = self.text[:text_chars]
        return fields

    @classmethod
    def from_event(cls, fields: dict) -> "MessageSummary":
        return cls(
            message_id=str(fields.get("message_id", "")), senders=tuple(fields.get("senders", ())),
            subject=str(fields.get("subject", "")), text=str(fields.get("text", "")),
            attachments=tuple(Attachment(**a) for a in fields.get("attachments", ())),
            links=tuple(fields.get("links", ())), forwarded=tuple(fields.get("forwarded", ())),
            report=str(fields.get("report", "")))


def clean(text: str, limit: int = 998) -> str:
    """One line of printable text: no control characters into logs or reports."""
    return CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " "))[:limit].strip()


def normalised(text: str) -> str:
    """For comparing what the student typed: NFC (composed accents), case-folded."""
    return unicodedata.normalize("NFC", text).casefold()


# PDF readers find the "%PDF-" header anywhere in the first 1024 bytes (PDF 1.7 reference,
# implementation note 13): some generators put a byte-order mark or blank lines before it.
PDF_HEADER_WINDOW = 1024


def sniff(data: bytes) -> str:
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if b"%PDF-" in data[:PDF_HEADER_WINDOW]:
        return "application/pdf"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def type_by_name(filename: str) -> str:
    return EXTENSIONS.get(filename.rpartition(".")[2].lower(), "") if "." in filename else ""


def _header(message: Message, name: str) -> str:
    """A header's text with RFC 2047 words decoded; raw text if they do not decode."""
    # raw_items(): get() would turn 8-bit bytes into replacement characters.
    value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return ""
    value = _eight_bit(str(value)[:4 * MAX_HEADER_CHARS])
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, IndexError, RecursionError):
        return value


def _eight_bit(value: str) -> str:
    """Raw 8-bit header bytes (swaks --header 'Subject: SMTP-Práctica4') as the MUA shows
    them: UTF-8, else Latin-1. The parser hands them over as surrogate escapes."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def addresses(message: Message, name: str) -> tuple[str, ...]:
    """The addresses of every `name` header field (To: may come twice and name several),
    without display names; bounded, since address parsing recurses on nested comments."""
    found: list[str] = []
    for key, raw in message.raw_items():
        if key.lower() != name.lower():
            continue
        value = _eight_bit(str(raw)[:MAX_HEADER_CHARS])
        try:
            parsed = [address for _, address in getaddresses([value]) if "@" in address]
        except (IndexError, ValueError, RecursionError):
            parsed = []
        found += parsed or ADDR_SPEC.findall(value)
    return tuple(dict.fromkeys(clean(a, 254) for a in found))


def _senders(message: Message) -> tuple[str, ...]:
    return addresses(message, "From")


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
        return clean(str(make_header(decode_header(name))), 255)
    except (LookupError, UnicodeError, ValueError, IndexError, RecursionError, TypeError):
        return ""


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _leaves(message: Message) -> list[Message]:
    """The non-multipart parts, walked without recursion, at most MAX_PARTS."""
    leaves, pending = [], [message]
    while pending:
        part = pending.pop(0)
        if len(leaves) + len(pending) > MAX_PARTS:
            raise UnreadableMessage(f"more than {MAX_PARTS} MIME parts")
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            pending[:0] = payload
        else:
            leaves.append(part)
    return leaves


def _is_text_body(part: Message) -> bool:
    return (part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", "html")
            and part.get_content_disposition() != "attachment" and not part.get_filename())


def _attachment(part: Message) -> Attachment:
    data = part.get_payload(decode=True) or b""
    filename = _filename(part)
    return Attachment(declared=clean(part.get_content_type(), 100), sniffed=sniff(data),
                      by_name=type_by_name(filename), filename=filename, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(),
                      inline=part.get_content_disposition() != "attachment")


def parse(raw: bytes) -> Message:
    """The message's structure, read with bounded work (compat32: header fields stay text,
    parsed only where asked); UnreadableMessage (never anything else) when it cannot be."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UnreadableMessage(f"{len(raw)} bytes, more than the {MAX_MESSAGE_BYTES} a check reads")
    if raw.count(b"\n") > MAX_LINES:
        raise UnreadableMessage(f"more than {MAX_LINES} lines")
    if sum(1 for _ in zip(range(MAX_MULTIPARTS + 1), MULTIPART_LINE.finditer(raw))) > MAX_MULTIPARTS:
        raise UnreadableMessage(f"more than {MAX_MULTIPARTS} nested multipart containers")
    try:
        return BytesParser(policy=compat32).parsebytes(raw)
    except (RecursionError, MemoryError) as error:
        raise UnreadableMessage(f"its structure is too deep to read ({error.__class__.__name__})") from None
    except Exception as error:  # the stdlib parser's failure modes are not all documented
        raise UnreadableMessage(f"{error.__class__.__name__}: {clean(str(error), 120)}") from None


def summarise(raw: bytes) -> MessageSummary:
    """Read one message; UnreadableMessage (never anything else) when it cannot be."""
    return summary_of(parse(raw))


def _report_type(message: Message) -> str:
    """The report-type of a multipart/report message ("report" when it names none), else ""."""
    if message.get_content_type() != "multipart/report":
        return ""
    kind = message.get_param("report-type")
    return clean(collapse_rfc2231_value(kind) if kind else "report", 100).lower()


def summary_of(message: Message) -> MessageSummary:
    """What a message `parse` read says; UnreadableMessage (never anything else) when it cannot be."""
    try:
        leaves = _leaves(message)
        bodies = [p for p in leaves if _is_text_body(p)]
        body = next((p for p in bodies if p.get_content_subtype() == "plain"), bodies[0] if bodies else None)
        links = re.findall(MESSAGE_ID, f"{_header(message, 'In-Reply-To')} {_header(message, 'References')}")
        message_id = MESSAGE_ID.search(_header(message, "Message-ID"))
        return MessageSummary(
            message_id=message_id.group(0) if message_id else clean(_header(message, "Message-ID"), 500),
            senders=_senders(message),
            subject=clean(_header(message, "Subject")),
            text=_decoded_text(body)[:MAX_TEXT_CHARS] if body is not None else "",
            attachments=tuple(_attachment(p) for p in leaves if not _is_text_body(p)),
            links=tuple(dict.fromkeys(links[:MAX_LINKS])),
            forwarded=tuple(dict.fromkeys(MESSAGE_ID.findall(_header(message, "X-Forwarded-Message-Id"))[:MAX_LINKS])),
            report=_report_type(message))
    except UnreadableMessage:
        raise
    except (RecursionError, MemoryError) as error:
        raise UnreadableMessage(f"its structure is too deep to read ({error.__class__.__name__})") from None
    except Exception as error:  # the stdlib parser's failure modes are not all documented
        raise UnreadableMessage(f"{error.__class__.__name__}: {clean(str(error), 120)}") from None

