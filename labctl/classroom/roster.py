"""The class roster: a CSV with a header, one student a row.

Accepted as instructors have it: our own `id,name,email`, a Moodle participants
export (UTF-8 with a BOM, "First name"/"Last name"/"ID number"/"Email address";
without an ID number column the id is the local part of the e-mail), comma, semicolon
or tab separated. Anything else is one line naming the file, the row and the field.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from labctl.spec.loader import LabSpecError

# Header names (lower case, single spaces) by what they hold, in order of preference.
ID_HEADERS = ("id", "student id", "student_id", "id number", "idnumber", "legajo", "username")
NAME_HEADERS = ("name", "full name", "fullname", "nombre completo")
FIRST_NAME_HEADERS = ("first name", "firstname", "nombre")
LAST_NAME_HEADERS = ("last name", "surname", "lastname", "apellido", "apellidos", "apellido(s)")
EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "correo", "dirección de correo")


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str
    row: int  # line of the roster file, for messages


def _normal(header: str) -> str:
    return " ".join(header.strip().lower().replace("_", " ").split()) if header else ""


def _column(headers: list[str], wanted: tuple[str, ...]) -> int | None:
    normal = [_normal(h) for h in headers]
    for name in wanted:
        key = _normal(name)
        if key in normal:
            return normal.index(key)
    return None


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabSpecError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; expected a CSV saved as UTF-8 "
            "(in a spreadsheet: 'CSV UTF-8')"
        ) from None


def read_roster(path: Path, check_id=lambda student_id: None) -> list[Student]:
    """The students of the roster at `path`; `check_id(id)` raises ValueError with the
    reason when an id cannot name a lab (Docker's name rule)."""
    if not path.is_file():
        raise LabSpecError(f"{path}: no such roster file (expected a CSV with a header row and a student id column)")
    text = _text(path)
    if not text.strip():
        raise LabSpecError(f"{path}: empty file; expected a header row with a student id column ({', '.join(ID_HEADERS[:4])}) and one row per student")
    first_line = text.splitlines()[0]
    try:
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    headers = rows[0]
    id_col = _column(headers, ID_HEADERS)
    email_col = _column(headers, EMAIL_HEADERS)
    if id_col is None and email_col is None:
        raise LabSpecError(
            f"{path}: line 1: no student id column; expected one of {', '.join(repr(h) for h in ID_HEADERS)} "
            f"(or an e-mail column, as in a Moodle participants export), got {', '.join(repr(h) for h in headers)}"
        )
    name_col, first_col, last_col = (_column(headers, h) for h in (NAME_HEADERS, FIRST_NAME_HEADERS, LAST_NAME_HEADERS))
    id_field = headers[id_col] if id_col is not None else headers[email_col]

    def cell(row: list[str], col: int | None) -> str:
        return row[col].strip() if col is not None and col < len(row) else ""

    students: list[Student] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(value.strip() for value in row):
            continue  # blank lines, as spreadsheets leave at the end
        email = cell(row, email_col)
        student_id = cell(row, id_col) if id_col is not None else email.partition("@")[0]
        where = f"{path}: line {number}: field {id_field!r}"
        if not student_id:
            raise LabSpecError(f"{where}: empty; every student needs an id")
        try:
            check_id(student_id)
        except ValueError as exc:
            raise LabSpecError(f"{where}: {student_id!r} {exc}") from None
        key = student_id.lower()  # Docker names and folders must not differ only in case
        if key in seen:
            raise LabSpecError(f"{where}: {student_id!r} is already the id of line {seen[key]}; expected one row per student")
        seen[key] = number
        name = cell(row, name_col) or " ".join(part for part in (cell(row, first_col), cell(row, last_col)) if part)
        students.append(Student(student_id, name, email, number))
    if not students:
        raise LabSpecError(f"{path}: no students: the header is there but no row below it")
    return students
