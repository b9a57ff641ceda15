"""The workspace (exercise 10's own configuration) of the instance a command is about."""
from __future__ import annotations

from labctl.cli.lab_options import instance_name
from labctl.runtime import project
from labctl.workspace.layout import Layout


def instance_layout(lab: str, instance: str | None) -> tuple[str, Layout]:
    name = instance_name(lab, instance)
    layout = Layout.of(project.Origin.load(name).spec(), name)
    layout.spec  # a lab without a workspace stops here (its folder would be an empty promise)
    return name, layout
