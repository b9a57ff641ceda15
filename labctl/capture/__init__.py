"""Reading the lab's packet captures: TCP streams reassembled as Wireshark's Follow TCP
Stream shows them, DNS messages decoded, mail dialogues split into commands and replies.

    capture = load_capture(lab_capture_files("practica4"))
    for stream in capture.tcp_streams("smtp"):
        for exchange in dialogue(stream):
            print(exchange.command_text, exchange.reply_text)

The names below are imported from their modules on first use: `labctl up` needs
only capture.files, not the reader and dnspython behind the rest.
"""
import importlib

# Bound now, over the submodule of the same name (light: streams and tcp only).
from labctl.capture.dialogue import Exchange, dialogue

_MODULE_OF = {
    "Capture": "capture", "load_capture": "capture",
    "DnsMessage": "dns_messages", "DnsQuestion": "dns_messages", "DnsRecord": "dns_messages",
    "capture_files": "files", "lab_capture_files": "files",
    "WELL_KNOWN_PORTS": "ports",
    "Chunk": "streams", "Direction": "streams", "Endpoint": "streams",
    "TcpStream": "tcp",
}
__all__ = sorted([*_MODULE_OF, "Exchange", "dialogue"])


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
