"""labctl workspace."""
from __future__ import annotations

from typing import Optional

from labctl.cli.lab_options import InstanceOpt, LabOpt
from labctl.cli.output import user_errors
from labctl.cli.workspace_layout import instance_layout


def command(lab: str = LabOpt, instance: Optional[str] = InstanceOpt) -> None:
    """The folder where you write your domain's configuration (zone, BIND, registration, answers)."""
    with user_errors():
        _, layout = instance_layout(lab, instance)
        print(layout.dirs.workspace)
