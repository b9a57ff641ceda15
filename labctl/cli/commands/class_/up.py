"""labctl class up."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labctl.classroom import lifecycle
from labctl.classroom import record as records
from labctl.classroom.pool import DEFAULT_POOL, DEFAULT_SSH_PORT, check_bind, default_bind
from labctl.classroom.record import ClassRecord
from labctl.classroom.roster import read_roster, students_only
from labctl.cli.class_options import ParallelOpt
from labctl.cli.class_progress import exit_on_failures, with_progress
from labctl.cli.lab_options import DEFAULT_LAB
from labctl.cli.output import EXIT_INTERRUPTED, console, print_error, user_errors
from labctl.cli.roster_notes import who
from labctl.runtime.engine import LabError, client
from labctl.spec.loader import LabSpecError, lab_file, load_lab


EXAMPLES = (
    'labctl class up alumnos.csv --exercise 4',
    'labctl class up participantes.csv --exercise 10 --name redes --parallel 8',
)


def command(
    roster: Path = typer.Argument(..., help="CSV with a header and a student id column (a Moodle participants export works)."),
    exercise: str = typer.Option(..., "--exercise", "-e", help="The exercise every student's lab runs."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab", help="Lab name or path to a lab.yaml."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Name of the class (default: the roster's file name)."),
    pool: str = typer.Option(DEFAULT_POOL, "--pool", help="Addresses the students' subnets are taken from."),
    ssh_port: int = typer.Option(DEFAULT_SSH_PORT, "--ssh-port", min=1024, max=65535, help="First host port for the students' SSH access."),
    ssh_bind: Optional[str] = typer.Option(None, "--ssh-bind", help="Host address the SSH ports listen on (default: the host's address on its default route, out of the labs' reach)."),
    drop_missing: bool = typer.Option(False, "--drop-missing", help="Take the class's students this roster no longer lists out of the class (their lab and state go)."),
    parallel: int = ParallelOpt,
) -> None:
    """Bring up one lab per student of the roster, in parallel; the class is recorded."""
    with user_errors():
        class_name = name or roster.stem
        try:
            lifecycle.check_class_name(class_name)
        except LabSpecError:
            if name:
                raise
            # The user gave no --name: the roster's file name is what is wrong.
            raise LabSpecError(f"{roster}: the class is named after this file, {class_name!r}, which Docker cannot use as a name; "
                               "give --name NAME (1 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit)") from None
        bind = check_bind(ssh_bind) if ssh_bind else default_bind()
        path = str(lab_file(lab).resolve())
        load_lab(path, exercise)  # a wrong lab or exercise stops here, before anything starts
        students, staff = students_only(read_roster(roster, lifecycle.student_id_rule(class_name, path, exercise)))
        if staff:
            console.print(f"left out of the class, not students by their role in {roster}: "
                          + ", ".join(f"line {s.row} {s.name or s.id} ({s.roles})" for s in staff), markup=False, highlight=False, soft_wrap=True)
        engine = client()
        try:
            record = records.load(class_name)
        except LabError:
            record = ClassRecord.new(class_name, path, exercise, pool, str(roster.resolve()), bind)
        if (record.lab, record.exercise) != (path, exercise):
            raise LabSpecError(f"class {class_name} runs {record.lab} exercise {record.exercise}; "
                               f"run 'labctl class down --name {class_name} --purge' first or give another --name")
        record.roster = str(roster.resolve())  # the roster the class now follows
        record = lifecycle.enrol(engine, record, students, ssh_port)
        wanted = [record.student(s.id) for s in students]
        try:
            outcomes = with_progress(f"class {class_name} up", len(wanted),
                                      lambda done: lifecycle.bring_up(engine, record, wanted, parallel, done))
        except KeyboardInterrupt:
            # Not a bare exit: the class is recorded and the labs under way came up whole.
            print_error(f"interrupted: no further lab was started, the ones under way finished; 'labctl class status --name "
                        f"{class_name}' shows them, 'labctl class up {roster}' again carries on, "
                        f"'labctl class down --name {class_name} --purge' removes the class")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        ready = sum(o.error is None for o in outcomes)
        console.print(f"[green]{ready}/{len(wanted)} labs up[/] (exercise {exercise}); "
                      f"'labctl class status --name {class_name}' and 'labctl class access --name {class_name}'", highlight=False, soft_wrap=True)
        missing = lifecycle.not_in_roster(record, students)
        dropped = []
        if missing and drop_missing:
            dropped = with_progress(f"class {class_name}: out of the roster", len(missing),
                                     lambda done: lifecycle.drop(engine, record, missing, parallel, done))
            console.print(f"out of class {class_name}, not in {roster}: {who(missing)} (labs and state removed)",
                          markup=False, highlight=False, soft_wrap=True)
        elif missing:
            console.print(f"[yellow]not in {escape(str(roster))} but in class {class_name}: {escape(who(missing))}; their labs stay "
                          f"and are graded (--drop-missing takes them out of the class)[/]", highlight=False, soft_wrap=True)
        exit_on_failures(outcomes, "come up")
        exit_on_failures(dropped, "go")
