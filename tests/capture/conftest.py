from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab_traffic import LabPorts, lab_servers, run_clients, tcpdump, wait_until_captured

# Link layers tcpdump writes: Ethernet on lo, Linux cooked v1 and v2 on "any".
CAPTURE_SETUPS = {"ethernet": ("lo", None), "sll": ("any", "LINUX_SLL"), "sll2": ("any", "LINUX_SLL2")}


@dataclass
class LabCapture:
    files: dict[str, Path]  # link layer -> pcap
    ports: LabPorts


@pytest.fixture(scope="session")
def lab_capture(tmp_path_factory) -> LabCapture:
    """One run of every protocol, captured at once on all link layers."""
    directory = tmp_path_factory.mktemp("lab-capture")
    files = {name: directory / f"{name}.pcap" for name in CAPTURE_SETUPS}
    with lab_servers() as ports:
        with ExitStack() as dumps:
            for name, (interface, linktype) in CAPTURE_SETUPS.items():
                dumps.enter_context(tcpdump(files[name], interface, ports.bpf(), linktype))
            wait_until_captured(list(files.values()), ports.probe, b"probe-start")
            run_clients(ports)
            wait_until_captured(list(files.values()), ports.probe, b"probe-end")
    return LabCapture(files, ports)
