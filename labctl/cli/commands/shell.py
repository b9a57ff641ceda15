"""labctl shell."""
from __future__ import annotations

import os
import shutil
from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, service_container
from labctl.cli.output import user_errors
from labctl.runtime.engine import LabError


def command(
    service: str = typer.Argument("client", help="Service name (default: the client with the students' tools)."),
    lab: str = LabOpt,
    instance: Optional[str] = InstanceOpt,
) -> None:
    """An interactive shell inside a service's container."""
    with user_errors():
        container = service_container(lab, instance, service)
        if shutil.which("docker") is None:
            raise LabError("labctl shell needs the docker command-line client (Debian package docker.io)")
    # Interactive TTYs are the docker CLI's job; hand over to it.
    os.execvp("docker", ["docker", "exec", "-it", container.name, "/bin/bash"])
