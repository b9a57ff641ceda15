"""labctl render."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from labctl.cli.lab_options import ExerciseOpt, InstanceOpt, LabArg, SubnetOpt, instance_name
from labctl.cli.output import console, user_errors
from labctl.paths import lab_state_dir
from labctl.render.compose import COMPOSE_FILE, render_compose
from labctl.runtime import project
from labctl.runtime.guard import instance_lock
from labctl.spec.instance import check_instance
from labctl.spec.loader import LabSpecError, load_lab


EXAMPLES = (
    'labctl render --out configs --compose',
)


def command(
    lab: str = LabArg,
    exercise: Optional[str] = ExerciseOpt,
    instance: Optional[str] = InstanceOpt,
    subnet: Optional[str] = SubnetOpt,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder to write into (default: 'render' in the lab's state folder)."),
    compose: bool = typer.Option(False, "--compose", help="Also write a docker-compose.yml that runs the same containers."),
) -> None:
    """Render every configuration file of the lab without starting anything."""
    with user_errors():
        if instance is not None:
            check_instance(instance)
        if out is not None and out.exists() and not out.is_dir():
            raise LabSpecError(f"--out {out}: is a file; expected a folder to write the configuration into")
        spec = load_lab(lab, exercise, subnet)
        name = instance_name(lab, instance)
        # Never the live config folder of a running instance: that is up's.
        with instance_lock(name):  # the lab CA and keys it may make are shared with up
            plan = project.prepare(spec, name, exercise, target=out or lab_state_dir(name) / "render")
        # Paths and commands are copied from here: never broken over lines.
        console.print(f"rendered {spec.name} into {plan.config_dir}", markup=False, highlight=False, soft_wrap=True)
        if compose:
            path = plan.config_dir / COMPOSE_FILE
            path.write_text(render_compose(plan), encoding="utf-8")
            console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
