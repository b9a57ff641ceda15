"""labctl mail log."""
from __future__ import annotations

from typing import Optional

from labctl.cli.lab_options import InstanceOpt, LabOpt
from labctl.cli.mail_inspector import JsonOpt, ServiceOpt, run_inspector


EXAMPLES = (
    'labctl mail log',
    'labctl mail log --json',
)


def command(service: str = ServiceOpt, lab: str = LabOpt, instance: Optional[str] = InstanceOpt, as_json: bool = JsonOpt) -> None:
    """Every SMTP session (commands, replies, queue IDs) and delivery attempt, a line each."""
    run_inspector("log", service, lab, instance, as_json)
