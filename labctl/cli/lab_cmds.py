"""Bring a lab up and down, and look inside it."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labctl.cli.output import EXIT_INTERRUPTED, cells, console, print_error, table as new_table, user_errors
from labctl.paths import lab_state_dir, tls_dir, workspace_dir
from labctl.render.compose import COMPOSE_FILE, render_compose
from labctl.render.plan import LabPlan
from labctl.render.templating import render as render_template
from labctl.render.tls import CA_CERT
from labctl.runtime import containers as ctr
from labctl.runtime import project
from labctl.runtime.engine import LabError, client
from labctl.runtime.guard import instance_lock
from labctl.runtime.network import find_networks
from labctl.spec.instance import check_instance
from labctl.spec.loader import lab_file, load_lab
from labctl.spec.models import Role

DEFAULT_LAB = "practica4"

LabArg = typer.Argument(DEFAULT_LAB, help="Lab name (labs/<name>) or path to a lab.yaml.")
InstanceOpt = typer.Option(None, "--instance", "-i", help="Name of this lab instance (default: the lab's name).")
ExerciseOpt = typer.Option(None, "--exercise", "-e", help="Bring up the lab variant of this exercise.")
SubnetOpt = typer.Option(None, "--subnet", help="Move the whole lab to this subnet (one instance per student).")


def _instance(lab: str, instance: str | None) -> str:
    """The instance a command is about: --instance, else the lab's own name
    (read from its file when the lab is given as a path)."""
    if instance is not None:
        return check_instance(instance)
    if Path(lab).exists():
        return load_lab(lab).name
    return check_instance(lab, option="lab")


def _hosts_text(plan: LabPlan) -> str:
    from labctl.render.configs import resolver_ip

    return render_template("host/hosts.j2", instance=plan.instance, resolver_ip=resolver_ip(plan.lab), containers=plan.containers)


def _print_lab(plan: LabPlan) -> None:
    table = new_table(f"lab {plan.instance}" + (f" — exercise {plan.exercise}" if plan.exercise else ""), "service", "hostname", "IP", "ports")
    for c in plan.containers:
        ports = ", ".join(f"{name} {port}" for name, port in c.ports.items())
        table.add_row(*cells(c.service, c.hostname if c.ip else "", c.ip or f"host network ({plan.network.bridge})", ports))
    console.print(table)
    for name, svc in plan.lab.by_role(Role.mail).items():
        # Two columns that never wrap: in an 80-column terminal (or a pipe) rich would cut
        # an address or a password with "…"; what is the same for every account is the title.
        accounts = Table(title=f"Thunderbird settings: {svc.hostname}, no SSL, normal password, user name = "
                               f"the address before @; incoming POP3 {svc.ports.pop3} / IMAP {svc.ports.imap}, "
                               f"outgoing SMTP {svc.ports.smtp} (submission {svc.ports.submission})")
        for column in ("address", "password"):
            accounts.add_column(column, no_wrap=True)
        for domain in svc.mail_domains:
            for a in plan.lab.mail_domains[domain].accounts:
                accounts.add_row(*cells(f"{a.user}@{domain}", a.password))
        console.print(accounts)
    if plan.lab.by_role(Role.mail):
        ca = tls_dir(plan.instance) / CA_CERT
        console.print(f"STARTTLS (SMTP, submission, POP3 STLS, IMAP STARTTLS) is signed by the lab CA: import {ca} into Thunderbird to trust it.",
                      markup=False, highlight=False, soft_wrap=True)
    if plan.lab.workspace is not None:
        console.print(f"Your workspace (zone, BIND, registration, answers): {workspace_dir(plan.instance)} — edit, then 'labctl apply'.", markup=False, highlight=False, soft_wrap=True)
    console.print(f"Host gateway: {plan.lab.network.gateway}. Name resolution from the host, either line:")
    # Lines to copy into /etc/hosts: rich must not break them (a broken comment is a bad entry).
    console.print(_hosts_text(plan), highlight=False, markup=False, soft_wrap=True)


def up(
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
        name = _instance(lab, instance)
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
        _print_lab(result.plan)


def down(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
    keep_data: bool = typer.Option(False, "--keep-data", help="Keep the mailboxes and mail queue volumes."),
    purge: bool = typer.Option(False, "--purge", help="Also remove the instance's state folder (captures, keys, lab CA)."),
) -> None:
    """Remove everything the lab created (found by its labels)."""
    with user_errors():
        name = _instance(lab, instance)
        result = project.down(client(), name, keep_data=keep_data, purge=purge)
        purged = f"; removed {lab_state_dir(name)}" if result.purged else ""
        if not result.existed:
            console.print(f"there is no lab {name} on this host (nothing of it on the engine, no state folder); "
                          "nothing to remove", highlight=False, soft_wrap=True)
            return
        if not result.removed_anything:
            console.print(f"lab {name} is not up; nothing to remove{purged}", highlight=False, soft_wrap=True)
            return
        kept = f", kept {len(result.kept_volumes)} volume(s)" if result.kept_volumes else ""
        console.print(f"removed {result.containers} container(s), {result.networks} network(s), {result.volumes} volume(s){kept}{purged}", highlight=False, soft_wrap=True)


def reset(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Put a lab back as it was first brought up, so that nothing stale is graded.

    Fresh containers, empty mailboxes, no capture or log of the previous attempt."""
    with user_errors():
        name = _instance(lab, instance)
        engine = client()
        with console.status(f"resetting {name}…"):
            result = project.reset(engine, name)
        console.print(f"[green]lab {name} reset[/] in {result.seconds:.1f} s")


def list_() -> None:
    """Every lab instance on this engine (one per student, for instructors)."""
    with user_errors():
        engine = client()
        table = new_table("labs", "instance", "exercise", "running", "network")
        for name in project.instances(engine):
            rows = project.status(engine, name)
            running = sum(r.state == "running" for r in rows)
            subnets = [n.attrs["IPAM"]["Config"][0]["Subnet"] for n in find_networks(engine, name)]
            table.add_row(*cells(name, rows[0].exercise or "-", f"{running}/{len(rows)}", ", ".join(subnets)))
        console.print(table)


def status(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The lab's containers and their state."""
    with user_errors():
        name = _instance(lab, instance)
        rows = project.status(client(), name)
        if as_json:
            print(json.dumps({"lab": name, "services": [asdict(r) for r in rows]}, indent=2))
        elif rows:
            table = new_table(f"lab {name}", "service", "container", "state", "IP", "image")
            for r in rows:
                state = r.state if r.attached else f"{r.state}, off the lab network"
                service, container, state, ip, image = cells(r.service, r.name, state, r.ip, r.image)
                table.add_row(service, container, f"[{'green' if r.healthy else 'red'}]{state}[/]", ip, image)
            console.print(table)
        else:
            console.print(f"lab {name} is not up")
        # Scripts can ask "is it all up?" either way: 0 only when every service runs, attached.
        raise typer.Exit(0 if rows and all(r.healthy for r in rows) else 1)


def service_container(lab: str, instance: str | None, service: str, must_run: bool = True):
    """The container of one service of a lab instance (running, unless `must_run` is off)."""
    name = _instance(lab, instance)
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


def logs(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
    tail: int = typer.Option(200, help="Lines from the end."),
) -> None:
    """The service's log (its container's output)."""
    with user_errors():
        container = service_container(lab, instance, service, must_run=False)  # a crashed service's log matters most
        print(container.logs(tail=tail).decode(errors="replace"), end="")


def exec_(
    service: str = typer.Argument(..., help="Service name, e.g. client."),
    command: list[str] = typer.Argument(..., help="Command to run (after --)."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Run a command inside a service's container."""
    with user_errors():
        container = service_container(lab, instance, service)
        code, output = container.exec_run(command, demux=False)
        print(output.decode(errors="replace"), end="")
        raise typer.Exit(code)


def shell(
    service: str = typer.Argument("client", help="Service name (default: the client with the students' tools)."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
) -> None:
    """An interactive shell inside a service's container."""
    with user_errors():
        container = service_container(lab, instance, service)
        if shutil.which("docker") is None:
            raise LabError("labctl shell needs the docker command-line client (Debian package docker.io)")
    # Interactive TTYs are the docker CLI's job; hand over to it.
    os.execvp("docker", ["docker", "exec", "-it", container.name, "/bin/bash"])


def stop(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Stop one service; its data (mailboxes, queue) is kept for 'labctl start'."""
    with user_errors():
        container = service_container(lab, instance, service, must_run=False)
        container.stop(timeout=10)
        console.print(f"stopped {service}", highlight=False)


def start(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
    timeout: float = typer.Option(project.READY_TIMEOUT, min=1, help="Seconds to wait for the service to answer."),
) -> None:
    """Start a stopped service again and wait until it answers."""
    with user_errors():
        name = _instance(lab, instance)
        service_container(lab, instance, service, must_run=False)  # a lab that is not up, a service it lacks: one line
        seconds = project.start_service(client(), name, service, timeout)
        console.print(f"started {service} in {seconds:.1f} s", highlight=False)


def render(
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
        spec = load_lab(lab, exercise, subnet)
        name = _instance(lab, instance)
        # Never the live config folder of a running instance: that is up's.
        with instance_lock(name):  # the lab CA and keys it may make are shared with up
            plan = project.prepare(spec, name, exercise, target=out or lab_state_dir(name) / "render")
        # Paths and commands are copied from here: never broken over lines.
        console.print(f"rendered {spec.name} into {plan.config_dir}", markup=False, highlight=False, soft_wrap=True)
        if compose:
            path = plan.config_dir / COMPOSE_FILE
            path.write_text(render_compose(plan), encoding="utf-8")
            console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


# The root (labctl.cli) lists these commands and imports this module to run one.
app = typer.Typer()
app.command()(up)
app.command()(down)
app.command()(status)
app.command()(reset)
app.command("list")(list_)
app.command()(logs)
app.command("exec")(exec_)
app.command()(shell)
app.command()(stop)
app.command()(start)
app.command()(render)
