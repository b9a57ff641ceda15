"""The class as labctl keeps it in its state folder: which lab and exercise, and each
student's instance, subnet and own parameters, so that every later `labctl class`
command takes just the class name. It holds the students' passwords: mode 0600."""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from datetime import datetime, timezone
from ipaddress import IPv4Network
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ValidationError

from labctl.paths import state_home
from labctl.runtime.engine import LabError

RECORD_FILE = "class.json"
REPORTS_DIR = "reports"


class StudentRecord(BaseModel):
    id: str
    name: str = ""
    email: str = ""
    instance: str
    subnet: str
    params: dict[str, str] = {}
    ssh_port: int | None = None
    ssh_password: str | None = None
    # When `class reset` last started the student's lab over (ISO 8601, UTC).
    reset_at: str | None = None


class ClassRecord(BaseModel):
    name: str
    lab: str  # absolute path of the lab file
    exercise: str
    pool: str
    roster: str
    created: str
    ssh_bind: str = "0.0.0.0"
    # Per-student values are derived from it: a second `class up` gives the same ones.
    secret: str
    students: list[StudentRecord] = []
    # Every folder `class grade --out` wrote to: a reset removes the student's old reports there.
    report_dirs: list[str] = []

    @staticmethod
    def new(name: str, lab: str, exercise: str, pool: str, roster: str, ssh_bind: str) -> "ClassRecord":
        return ClassRecord(name=name, lab=lab, exercise=exercise, pool=pool, roster=roster, ssh_bind=ssh_bind,
                           created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           secret=secrets.token_hex(16))

    def student(self, student_id: str) -> StudentRecord:
        for s in self.students:
            if s.id.lower() == student_id.lower() or s.instance.lower() == f"{self.name}-{student_id}".lower():
                return s
        raise LabError(f"class {self.name} has no student {student_id!r} (students: {', '.join(s.id for s in self.students)})")

    def subnets(self) -> list[IPv4Network]:
        return [IPv4Network(s.subnet) for s in self.students]

    def ssh_ports(self) -> list[int]:
        return [s.ssh_port for s in self.students if s.ssh_port]


def classes_dir() -> Path:
    return state_home() / "classes"


def class_dir(name: str) -> Path:
    return classes_dir() / name


def reports_dir(name: str) -> Path:
    return class_dir(name) / REPORTS_DIR


def save(record: ClassRecord) -> None:
    path = class_dir(record.name) / RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    # Written whole, then renamed: a crash never leaves half a record.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(record.model_dump_json(indent=2))
    temporary.replace(path)


def remove(name: str) -> None:
    """The class record and its reports folder."""
    shutil.rmtree(class_dir(name), ignore_errors=True)


def load(name: str) -> ClassRecord:
    path = class_dir(name) / RECORD_FILE
    if not path.is_file():
        known = ", ".join(all_names()) or "none"
        raise LabError(f"no class {name!r} here (no {path}; classes: {known}); start one with 'labctl class up ROSTER.csv --exercise N'")
    try:
        return ClassRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise LabError(f"{path}: not a class record ({exc.errors()[0]['msg']})") from None


def all_names() -> list[str]:
    root = classes_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []


def other_classes(name: str) -> list[ClassRecord]:
    return [load(other) for other in all_names() if other != name]


@contextlib.contextmanager
def allocation_lock() -> Iterator[None]:
    """Two `class up` at once must not hand out the same subnet or port."""
    classes_dir().mkdir(parents=True, exist_ok=True)
    with open(classes_dir() / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
