"""labctl mail queue."""
from __future__ import annotations

from typing import Optional

from labctl.cli.lab_options import InstanceOpt, LabOpt
from labctl.cli.mail_inspector import JsonOpt, ServiceOpt, run_inspector


def command(service: str = ServiceOpt, lab: str = LabOpt, instance: Optional[str] = InstanceOpt, as_json: bool = JsonOpt) -> None:
    """Messages waiting in the MTA's queue, with each recipient's status and deferral reason."""
    run_inspector("queue", service, lab, instance, as_json)
