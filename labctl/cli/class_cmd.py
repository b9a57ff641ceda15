"""labctl class: a whole class at once — a roster in, one isolated lab per student."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from labctl.checks.base import Status
from labctl.classroom import lifecycle
from labctl.classroom import record as records
from labctl.classroom.lifecycle import Outcome
from labctl.classroom.pool import DEFAULT_POOL, DEFAULT_SSH_PORT, check_bind, default_bind
from labctl.classroom.record import ClassRecord
from labctl.classroom.report import GRADE_TIMEOUT, grade_class, write_reports
from labctl.classroom.roster import name_form, read_roster, students_only
from labctl.cli.lab_cmds import DEFAULT_LAB
from labctl.cli.output import cells, console, print_error, table as new_table, user_errors
from labctl.render.plan import CLIENT_CAPTURES
from labctl.render.templating import render as render_template
from labctl.runtime import project
from labctl.runtime.engine import LabError, client
from labctl.spec.loader import LabSpecError, lab_file, load_lab

app = typer.Typer(no_args_is_help=True, help="A whole class: one isolated lab per student of a roster.")

NameOpt = typer.Option(None, "--name", "-n", help="The class (default: the only class recorded here).")
ParallelOpt = typer.Option(lifecycle.DEFAULT_PARALLEL, "--parallel", "-j", min=1, help="Labs handled at the same time.")


def _class(name: str | None) -> ClassRecord:
    if name:
        return records.load(name)
    known = records.all_names()
    if len(known) != 1:
        raise LabError(f"say which class with --name ({'classes: ' + ', '.join(known) if known else 'no class is recorded here'})")
    return records.load(known[0])


def _with_progress(title: str, count: int, work) -> list[Outcome]:
    """Run `work(progress_callback)` under a progress bar; failures are printed as they come."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(title, total=count)

        def done(student_id: str, error: str | None) -> None:
            if error:
                bar.console.print(Text.assemble((f"✘ {student_id}", "red"), f": {error}"), highlight=False, soft_wrap=True)
            bar.advance(task)

        return work(done)


def _who(students) -> str:
    return ", ".join(f"{s.id} ({s.name})" if s.name else s.id for s in students)


def _roster_changes(record: ClassRecord) -> str:
    """What the class's roster file says now that the class does not (it was edited after
    'class up'): a note for the instructor, who may expect the file to be the class."""
    path = Path(record.roster)
    try:
        roster, _ = students_only(read_roster(path))
    except LabSpecError:
        return ""  # moved or broken since: the class record is what is graded
    gone = lifecycle.not_in_roster(record, roster)
    enrolled = {name_form(s.id).lower() for s in record.students}
    new = [s for s in roster if name_form(s.id).lower() not in enrolled]
    again = f"'labctl class up {path} --exercise {record.exercise} --name {record.name}"
    notes = ([f"not in it any more: {_who(gone)} (graded still; {again} --drop-missing' takes them out)"] if gone else []) + \
            ([f"new in it: {_who(new)} ({again}' brings their labs up)"] if new else [])
    return f"{path} changed since the class came up; " + "; ".join(notes) if notes else ""


def _exit_on_failures(outcomes: list[Outcome], what: str) -> None:
    failed = [o for o in outcomes if o.error]
    if failed:
        print_error(f"{len(failed)} of {len(outcomes)} lab(s) failed to {what}: {', '.join(o.student for o in failed)}")
        raise typer.Exit(1)


@app.command()
def up(
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
        outcomes = _with_progress(f"class {class_name} up", len(wanted),
                                  lambda done: lifecycle.bring_up(engine, record, wanted, parallel, done))
        ready = sum(o.error is None for o in outcomes)
        console.print(f"[green]{ready}/{len(wanted)} labs up[/] (exercise {exercise}); "
                      f"'labctl class status --name {class_name}' and 'labctl class access --name {class_name}'", highlight=False, soft_wrap=True)
        missing = lifecycle.not_in_roster(record, students)
        dropped = []
        if missing and drop_missing:
            dropped = _with_progress(f"class {class_name}: out of the roster", len(missing),
                                     lambda done: lifecycle.drop(engine, record, missing, parallel, done))
            console.print(f"out of class {class_name}, not in {roster}: {_who(missing)} (labs and state removed)",
                          markup=False, highlight=False, soft_wrap=True)
        elif missing:
            console.print(f"[yellow]not in {escape(str(roster))} but in class {class_name}: {escape(_who(missing))}; their labs stay "
                          f"and are graded (--drop-missing takes them out of the class)[/]", highlight=False, soft_wrap=True)
        _exit_on_failures(outcomes, "come up")
        _exit_on_failures(dropped, "go")


@app.command()
def status(
    name: Optional[str] = NameOpt,
    parallel: int = ParallelOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One line per student: up or not, exercise, checks passed."""
    with user_errors():
        record = _class(name)
        engine = client()
        grades = grade_class(engine, record, parallel=parallel)
        rows = []
        for g in grades.students:
            running = project.running(engine, g.student.instance)
            rows.append({
                "id": g.student.id, "name": g.student.name, "instance": g.student.instance, "subnet": g.student.subnet,
                "containers": len(running.containers),
                "running": sum(c.status == "running" for c in running.containers.values()),
                "exercise": running.exercise, "passed": None if g.error else g.report.passed, "checks": g.total,
            })
        if as_json:
            print(json.dumps({"class": record.name, "exercise": record.exercise, "students": rows}, indent=2, ensure_ascii=False))
            return
        table = new_table(f"class {record.name} — exercise {record.exercise}", "student", "name", "instance", "subnet", "up", "exercise", "checks")
        for r in rows:
            healthy = r["containers"] and r["running"] == r["containers"]
            up_cell = f"[{'green' if healthy else 'red'}]{r['running']}/{r['containers']}[/]" if r["containers"] else "[red]down[/]"
            checks = "-" if r["passed"] is None else f"{r['passed']}/{r['checks']}"
            table.add_row(*cells(r["id"], r["name"], r["instance"], r["subnet"]), up_cell, *cells(r["exercise"] or "-", checks))
        console.print(table)


@app.command()
def grade(
    name: Optional[str] = NameOpt,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the reports (default: the class's reports folder)."),
    parallel: int = ParallelOpt,
    timeout: float = typer.Option(GRADE_TIMEOUT, "--timeout", min=1, help="Seconds one lab's checks may take; past them it is reported as not graded."),
) -> None:
    """Check every student's lab: JSON + JUnit per student, gradebook.csv and index.html."""
    with user_errors():
        record = _class(name)
        engine = client()
        folder = (out or records.reports_dir(record.name)).resolve()
        if out is not None and str(folder) not in record.report_dirs:
            record.report_dirs.append(str(folder))
            records.save(record)
        grades = grade_class(engine, record, parallel=parallel, timeout=timeout)
        write_reports(grades, folder)
        table = new_table(f"class {record.name} — exercise {record.exercise}", "student", "grade", "passed", "failed", "errors", "note")
        for g in grades.students:
            errors = sum(r.status is Status.ERROR for r in g.report.results)
            table.add_row(*cells(g.student.id, f"{g.grade:g}", g.report.passed, g.report.failed - errors, errors, g.error or ""))
        console.print(table)
        console.print(f"reports in {folder} (gradebook.csv, index.html, <id>.json, <id>.xml)", markup=False, highlight=False, soft_wrap=True)
        if changes := _roster_changes(record):
            console.print(f"[yellow]{escape(changes)}[/]", highlight=False, soft_wrap=True)


@app.command()
def reset(
    students: Optional[list[str]] = typer.Argument(None, help="Ids of the students whose lab starts over."),
    all_: bool = typer.Option(False, "--all", help="Every student of the class."),
    name: Optional[str] = NameOpt,
    parallel: int = ParallelOpt,
) -> None:
    """Fresh lab, same subnet and passwords; no capture, log or report of the previous attempt."""
    with user_errors():
        if bool(students) == all_:
            raise LabSpecError("labctl class reset: expected student ids or --all (one of them)")
        record = _class(name)
        chosen = record.students if all_ else [record.student(s) for s in students]
        engine = client()
        outcomes = _with_progress(f"class {record.name} reset", len(chosen),
                                  lambda done: lifecycle.reset(engine, record, chosen, parallel, done))
        console.print(f"[green]{sum(o.error is None for o in outcomes)}/{len(chosen)} labs reset[/]", highlight=False)
        _exit_on_failures(outcomes, "reset")


@app.command()
def down(
    name: Optional[str] = NameOpt,
    purge: bool = typer.Option(False, "--purge", help="Also remove the students' state (captures, keys), the reports and the class record."),
    parallel: int = ParallelOpt,
) -> None:
    """Take every student's lab down; the class stays recorded unless --purge."""
    with user_errors():
        record = _class(name)
        engine = client()
        outcomes = _with_progress(f"class {record.name} down", len(record.students),
                                  lambda done: lifecycle.take_down(engine, record, purge, parallel, done))
        what = "purged" if purge else "down (recorded: 'labctl class up' brings it back with the same subnets and passwords)"
        console.print(f"class {record.name} {what}", highlight=False, soft_wrap=True)
        _exit_on_failures(outcomes, "come down")



def _students_way_in(ssh_bind: str) -> str:
    """The host's name when others can resolve it (a dotted name other than localhost's);
    else the address the students' SSH ports listen on ('localhost' on a sheet sends
    each student to their own machine)."""
    name = socket.getfqdn()
    if (name.split(".")[0] == "localhost" or "." not in name) and ssh_bind != "0.0.0.0":
        return ssh_bind
    return name


@app.command()
def access(
    name: Optional[str] = NameOpt,
    host: Optional[str] = typer.Option(None, "--host", help="The server's name as students reach it (default: its full name; the address the SSH ports listen on when that is only 'localhost')."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write one sheet per student here (<id>.txt)."),
) -> None:
    """How each student reaches their own lab without Docker rights: the table, and one sheet per student."""
    with user_errors():
        record = _class(name)
        host = host or _students_way_in(record.ssh_bind)
        table = new_table(f"class {record.name}: SSH access to each student's client ({host})", "student", "name", "port", "user", "password", "lab subnet")
        sheets = {}
        for student in record.students:
            origin = lifecycle.student_origin(record, student)
            table.add_row(*cells(student.id, student.name, student.ssh_port or "-", lifecycle.SSH_USER, student.ssh_password or "-", student.subnet))
            sheets[student.id] = render_template("class/sheet.txt.j2", record=record, student=student, lab=origin.spec(),
                                                 host=host, user=lifecycle.SSH_USER, captures=CLIENT_CAPTURES)
        console.print(table)
        for student_id, sheet in sheets.items():
            console.rule(escape(student_id))
            console.print(sheet, highlight=False, markup=False)
            if out:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{name_form(student_id)}.txt").write_text(sheet, encoding="utf-8")
