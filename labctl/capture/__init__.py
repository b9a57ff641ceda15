"""Reading the lab's packet captures: TCP streams reassembled as Wireshark's Follow TCP
Stream shows them, DNS messages decoded, mail dialogues split into commands and replies.

    capture = load_capture(lab_capture_files("practica4"))
    for stream in capture.tcp_streams("smtp"):
        for exchange in dialogue(stream):
            print(exchange.command_text, exchange.reply_text)
"""
from labctl.capture.capture import Capture, load_capture
from labctl.capture.dialogue import Exchange, dialogue
from labctl.capture.dns_messages import DnsMessage, DnsQuestion, DnsRecord
from labctl.capture.files import capture_files, lab_capture_files
from labctl.capture.ports import WELL_KNOWN_PORTS
from labctl.capture.streams import Chunk, Direction, Endpoint
from labctl.capture.tcp import TcpStream

__all__ = [
    "Capture", "Chunk", "Direction", "DnsMessage", "DnsQuestion", "DnsRecord", "Endpoint", "Exchange",
    "TcpStream", "WELL_KNOWN_PORTS", "capture_files", "dialogue", "lab_capture_files", "load_capture",
]
