"""labctl up."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import ExerciseOpt, InstanceOpt, LabArg, SubnetOpt, instance_name
from labctl.cli.lab_view import print_lab
from labctl.cli.output import EXIT_INTERRUPTED, console, print_error, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client
from labctl.spec.instance import check_instance
from labctl.spec.loader import lab_file, load_lab


EXAMPLES = (
    'labctl up  # the course network, as the VM has it',
    'labctl up --exercise 7  # the lab variant exercise 7 needs',
    'labctl up practica4 --instance ana --subnet 172.29.1.0/24  # one instance per student',
)


def command(
    lab: str = LabArg,
    exercise: Optional[str] = ExerciseOpt,
    instance: Optional[str] = InstanceOpt,
    subnet: Optional[str] = SubnetOpt,
    timeout: float = typer.Option(project.READY_TIMEOUT, min=1, help="Seconds to wait for every service to answer."),
) -> None:
    """Create the lab's network and containers and wait until every service answers."""
    with user_errors():
        if instance is not None:
            check_instance(instance)
        spec = load_lab(lab, exercise, subnet)
        name = instance_name(lab, instance)
        origin = project.Origin(str(lab_file(lab).resolve()), exercise, subnet)
        try:
            with console.status(f"bringing up {name}…"):
                result = project.up(client(), spec, name, exercise, timeout=timeout, origin=origin)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: up has rolled back; say so rather than end in silence.
            print_error(f"interrupted: lab {name} is as it was before this up (what it had made is removed)")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if result.changed:
            reconnected = f", reconnected {len(result.reconnected)}" if result.reconnected else ""
            console.print(f"[green]lab {name} is up[/] in {result.seconds:.1f} s (created {len(result.created)}, started {len(result.started)}{reconnected}, unchanged {len(result.unchanged)})")
        else:
            console.print(f"lab {name} is already up; nothing changed")
        if not result.isolated:
            console.print("[yellow]note:[/] without root, labctl cannot limit the lab's containers to the host's gateway address (iptables)", highlight=False)
        print_lab(result.plan)
