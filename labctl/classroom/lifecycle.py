"""A class on the engine: enrol a roster (subnets, parameters, the record), bring
the students' labs up in parallel, reset some, take them all down."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from docker import DockerClient
from docker.errors import DockerException

from labctl.classroom import record as records
from labctl.classroom.gradebook import mark_reset, timestamp
from labctl.classroom.params import derived_password, student_params
from labctl.classroom.pool import DEFAULT_SSH_PORT, allocate, docker_subnets, free_ports, host_routes
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.roster import Student, name_form
from labctl.runtime import project
from labctl.runtime.engine import LabError
from labctl.spec.instance import check_instance
from labctl.spec.loader import LabSpecError, load_lab
from labctl.spec.models import PASSWORD_RULE

DEFAULT_PARALLEL = 4
SSH_PURPOSE = "ssh"  # the derivation label of a student's SSH password
# Called once per student when their part is done: (student id, error or None).
Progress = Callable[[str, str | None], None]


def instance_name(class_name: str, student_id: str) -> str:
    return f"{class_name}-{name_form(student_id)}"


def check_class_name(name: str) -> None:
    check_instance(name, option="--name")


def student_id_rule(class_name: str, lab: str | None = None, exercise: str | None = None) -> Callable[[str], None]:
    """Raises ValueError when a student id cannot name the student's lab, or (given the
    lab) cannot make the values it takes from the id ("{id}.com.ar", exercise 10's domain)."""
    spec = load_lab(lab, exercise) if lab is not None else None
    from_id = [name for name, p in spec.parameters.items() if p.per_student and p.per_student != PASSWORD_RULE] if spec else []

    def check(student_id: str) -> None:
        try:
            check_instance(instance_name(class_name, student_id), option="instance")
            check_instance(name_form(student_id), option="as a name it is")  # not "" nor "-x": report files
        except LabSpecError as exc:
            raise ValueError(f"cannot name a lab: {exc}") from None
        if not from_id:
            return
        values = student_params(spec, "", student_id)  # passwords are letters and digits: any secret will do
        try:
            load_lab(lab, exercise, None, values)
        except LabSpecError as exc:
            made = ", ".join(f"{name} {values[name]!r}" for name in from_id)
            raise ValueError(f"cannot make this lab's {made}: {str(exc).split(': ', 1)[-1]}") from None
    return check


# The one account of every student's client; the password is the student's own.
SSH_USER = "alumno"


def student_origin(record: ClassRecord, student: StudentRecord) -> project.Origin:
    access = None
    if student.ssh_port:
        access = {"ssh_port": student.ssh_port, "bind": record.ssh_bind, "user": SSH_USER, "password": student.ssh_password}
    return project.Origin(record.lab, record.exercise, student.subnet, student.params, access)


def enrol(engine: DockerClient, record: ClassRecord, roster: list[Student], first_ssh_port: int = DEFAULT_SSH_PORT) -> ClassRecord:
    """The record with every roster student in it: students already enrolled keep
    their subnet, port and values; new ones get a free subnet, a free SSH port
    and their own values."""
    lab = load_lab(record.lab, record.exercise)
    with records.allocation_lock():
        enrolled = {name_form(r.id).lower() for r in record.students}
        new = [s for s in roster if name_form(s.id).lower() not in enrolled]
        others = records.other_classes(record.name)
        taken = docker_subnets(engine) + host_routes() + record.subnets() + [n for o in others for n in o.subnets()]
        subnets = allocate(len(new), record.pool, taken, prefix=lab.network.subnet.prefixlen)
        ports = free_ports(len(new), first_ssh_port, record.ssh_ports() + [p for o in others for p in o.ssh_ports()])
        for student, subnet, port in zip(new, subnets, ports):
            record.students.append(StudentRecord(
                id=student.id, name=student.name, email=student.email,
                instance=instance_name(record.name, student.id), subnet=str(subnet),
                params=student_params(lab, record.secret, student.id),
                ssh_port=port, ssh_password=derived_password(record.secret, student.id, SSH_PURPOSE),
            ))
        records.save(record)
    return record


def not_in_roster(record: ClassRecord, roster: list[Student]) -> list[StudentRecord]:
    """The class's students whom `roster` no longer lists (by id, as lab names take it)."""
    listed = {name_form(s.id).lower() for s in roster}
    return [s for s in record.students if name_form(s.id).lower() not in listed]


@dataclass
class Outcome:
    student: str
    error: str | None
    seconds: float = 0.0


def _each(students: list[StudentRecord], work: Callable[[StudentRecord], float], parallel: int,
          progress: Progress | None) -> list[Outcome]:
    """`work` for every student, `parallel` at a time; one student's failure is
    their outcome, never the others'."""
    outcomes = []
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = {pool.submit(work, s): s for s in students}
        try:
            for future in as_completed(futures):
                student = futures[future]
                try:
                    outcome = Outcome(student.id, None, future.result())
                except (LabError, LabSpecError, DockerException, OSError) as exc:
                    outcome = Outcome(student.id, str(exc) or exc.__class__.__name__)
                outcomes.append(outcome)
                if progress:
                    progress(student.id, outcome.error)
        except KeyboardInterrupt:
            # Ctrl-C: no student's lab is started after it (the pool would go on through the
            # whole class); the ones under way finish whole, as a thread cannot be cut in half.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    order = {s.id: n for n, s in enumerate(students)}
    return sorted(outcomes, key=lambda o: order[o.student])


def bring_up(engine: DockerClient, record: ClassRecord, students: list[StudentRecord],
             parallel: int = DEFAULT_PARALLEL, progress: Progress | None = None) -> list[Outcome]:
    def up(student: StudentRecord) -> float:
        origin = student_origin(record, student)
        result = project.up(engine, origin.spec(), student.instance, record.exercise, origin=origin)
        return result.seconds

    return _each(students, up, parallel, progress)


def exercise_checks(record: ClassRecord) -> list[tuple[str, str]]:
    """(id, title) of the class's exercise's checks, in its order."""
    return [(c.id, c.title) for c in load_lab(record.lab, record.exercise).exercises[record.exercise].checks]


def report_folders(record: ClassRecord) -> set[Path]:
    return {records.reports_dir(record.name), *map(Path, record.report_dirs)}


def clear_reports(record: ClassRecord, student: StudentRecord) -> None:
    """A reset student's old reports must not be read as the new attempt's."""
    for folder in report_folders(record):
        for suffix in (".json", ".xml"):
            (folder / f"{name_form(student.id)}{suffix}").unlink(missing_ok=True)


# Students reset in parallel share each folder's gradebook: one rewrite at a time.
_gradebooks = threading.Lock()


def reset(engine: DockerClient, record: ClassRecord, students: list[StudentRecord],
          parallel: int = DEFAULT_PARALLEL, progress: Progress | None = None) -> list[Outcome]:
    """Fresh lab, same subnet and values, and no evidence of the previous attempt:
    mailboxes and MTA log (the volume), captures, old reports; the gradebooks and pages
    show the student as reset, not graded since, with no grade."""
    checks = exercise_checks(record)

    def again(student: StudentRecord) -> float:
        student.reset_at = timestamp(datetime.now(timezone.utc))
        clear_reports(record, student)
        with _gradebooks:
            for folder in report_folders(record):
                mark_reset(record, student, checks, folder)
        return project.reset(engine, student.instance).seconds

    try:
        return _each(students, again, parallel, progress)
    finally:
        with records.allocation_lock():
            records.save(record)


def take_down(engine: DockerClient, record: ClassRecord, purge: bool = False,
              parallel: int = DEFAULT_PARALLEL, progress: Progress | None = None) -> list[Outcome]:
    """Every student's lab goes; with `purge`, their state folders and the class record too."""
    def down(student: StudentRecord) -> float:
        project.down(engine, student.instance, purge=purge)
        return 0.0

    outcomes = _each(record.students, down, parallel, progress)
    if purge and not any(o.error for o in outcomes):
        records.remove(record.name)
    return outcomes


def drop(engine: DockerClient, record: ClassRecord, students: list[StudentRecord],
         parallel: int = DEFAULT_PARALLEL, progress: Progress | None = None) -> list[Outcome]:
    """Students out of the class: their lab and state purged, their reports gone, and
    the record without them (a student whose lab would not go stays in it)."""
    def out(student: StudentRecord) -> float:
        project.down(engine, student.instance, purge=True)
        clear_reports(record, student)
        return 0.0

    outcomes = _each(students, out, parallel, progress)
    gone = {o.student for o in outcomes if o.error is None}
    with records.allocation_lock():
        record.students = [s for s in record.students if s.id not in gone]
        records.save(record)
    return outcomes
