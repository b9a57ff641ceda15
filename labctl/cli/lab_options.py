"""The options that name a lab and its instance, and the lookups behind them."""
from __future__ import annotations

from pathlib import Path

import typer

from labctl.runtime import containers as ctr
from labctl.runtime.engine import LabError, client
from labctl.spec.instance import check_instance
from labctl.spec.loader import load_lab

DEFAULT_LAB = "practica4"

LabArg = typer.Argument(DEFAULT_LAB, help="Lab name (labs/<name>) or path to a lab.yaml.")
LabOpt = typer.Option(DEFAULT_LAB, "--lab", help="Lab name or path to a lab.yaml.")
InstanceOpt = typer.Option(None, "--instance", "-i", help="Name of this lab instance (default: the lab's name).")
ExerciseOpt = typer.Option(None, "--exercise", "-e", help="Bring up the lab variant of this exercise.")
SubnetOpt = typer.Option(None, "--subnet", help="Move the whole lab to this subnet (one instance per student).")


def instance_name(lab: str, instance: str | None) -> str:
    """The instance a command is about: --instance, else the lab's own name
    (read from its file when the lab is given as a path)."""
    if instance is not None:
        return check_instance(instance)
    if Path(lab).exists():
        return load_lab(lab).name
    return check_instance(lab, option="lab")


def service_container(lab: str, instance: str | None, service: str, must_run: bool = True):
    """The container of one service of a lab instance (running, unless `must_run` is off)."""
    name = instance_name(lab, instance)
    found = ctr.find_containers(client(), name)
    # The commands to suggest name the instance when it is not the default one.
    option = "" if name == DEFAULT_LAB else f" --instance {name}"
    if not found:
        raise LabError(f"lab {name} is not up: " + ("run 'labctl up' first" if not option else "'labctl list' shows the labs that are"))
    if service not in found:
        raise LabError(f"lab {name} has no service {service!r} (services: {', '.join(sorted(found))})")
    if must_run and found[service].status != "running":
        raise LabError(f"service {service!r} of lab {name} is {found[service].status}; "
                       f"start it with 'labctl start {service}{option}' (its log: 'labctl logs {service}{option}')")
    return found[service]
