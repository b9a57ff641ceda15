"""The class roster: a CSV with a header, one student a row.

Accepted as instructors have it: our own `id,name,email`, a Moodle participants
export (UTF-8 with a BOM, "First name"/"Last name"/"ID number"/"Email address";
without an ID number column the id is the local part of the e-mail), comma, semicolon
or tab separated (Excel's "Unicode Text", UTF-16, too). Anything else is one line
naming the file, the row and the field.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from labctl.spec.loader import LabSpecError

# Header names (lower case, single spaces) by what they hold, in order of preference.
# Argentine lists often identify students by their DNI (national identity number).
ID_HEADERS = ("id", "student id", "student_id", "id number", "idnumber", "legajo", "dni", "documento",
              "nro. documento", "nro documento", "número de documento", "numero de documento", "username")
# SIU Guaraní, the Argentine universities' system, exports "Apellido y Nombres".
NAME_HEADERS = ("name", "full name", "fullname", "nombre completo", "apellido y nombres", "apellido y nombre",
                "apellidos y nombres", "nombre y apellido")
FIRST_NAME_HEADERS = ("first name", "firstname", "nombre")
LAST_NAME_HEADERS = ("last name", "surname", "lastname", "apellido", "apellidos", "apellido(s)")
# C0 and C1 controls, DEL: a name or address goes into sheets, reports and terminals.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# An address as rosters have them; never one a spreadsheet would run as a formula
# (=, +, - or @ first): it goes into gradebook.csv.
EMAIL = re.compile(r"[\w.%'][\w.%'+-]*@[\w-]+(\.[\w-]+)+")
SEPARATOR_LINE = re.compile(r"sep=([,;\t|])", re.IGNORECASE)
# A class list of thousands of students is a few hundred KB.
MAX_BYTES = 1024 * 1024
# The longest names people have fit, with their e-mails; a longer value is no roster's.
MAX_VALUE = 200
ROLE_HEADERS = ("roles", "role", "rol")
# A student's role as Moodle names it, in English or Spanish ("Student", "Estudiante", "Alumno").
STUDENT_ROLE = re.compile(r"student|estudiante|alumn", re.IGNORECASE)
EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "correo", "dirección de correo")


# What Docker names and file names take of an id; anything else becomes "-".
NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.-]")


def name_form(student_id: str) -> str:
    """The student id as lab names and report files carry it: the UNLP's legajo "12345/6"
    is "12345-6", "José" is "Jose". Reports and the gradebook keep the id as written."""
    unaccented = unicodedata.normalize("NFKD", student_id).encode("ascii", "ignore").decode("ascii")
    return NOT_IN_NAMES.sub("-", unaccented)


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str
    row: int  # line of the roster file, for messages
    roles: str = ""  # a Moodle export's Roles ("Student", "Teacher, Student"), else ""


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
    with open(path, "rb") as source:
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LabSpecError(f"{path}: {path.stat().st_size / 1e6:.1f} MB is too big; expected a class list (CSV) of at most "
                           f"{MAX_BYTES // 1024} KiB")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" (tab separated): the one way it saves tabs.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise LabSpecError(f"{path}: starts as UTF-16 but is not; expected a CSV saved as UTF-8 (in a spreadsheet: 'CSV UTF-8')") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabSpecError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; expected a CSV saved as UTF-8 "
            "(in a spreadsheet: 'CSV UTF-8')"
        ) from None


def _rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(line of the file, fields) of every row but blank ones, the header first. The
    separator is sniffed from the header (or given by a "sep=" line before it); quoting is a spreadsheet's ('"' around a
    value with the separator in it, '""' for a quote inside it)."""
    lines = text.splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if line.strip())
    if hint := SEPARATOR_LINE.fullmatch(lines[first].strip()):
        # "sep=;" first, the line people add for Excel to split a CSV: the separator, no header.
        delimiter, skipped = hint[1], first + 1
    else:
        try:
            delimiter = csv.Sniffer().sniff(lines[first], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
        skipped = 0
    reader = csv.reader(io.StringIO("".join(lines[skipped:])), csv.excel, delimiter=delimiter)
    rows = []
    line = skipped + 1
    try:
        for row in reader:
            if any(value.strip() for value in row):  # blank lines, as spreadsheets leave them
                rows.append((line, row))
            line = skipped + reader.line_num + 1
    except csv.Error as exc:  # a value past csv's limit (128 KiB): a quote never closed, or no roster
        raise LabSpecError(f"{path}: line {line}: {exc}; expected one student a line (is a quote left open?)") from None
    return rows


def read_roster(path: Path, check_id=lambda student_id: None) -> list[Student]:
    """The students of the roster at `path`; `check_id(id)` raises ValueError with the
    reason when an id cannot name a lab (Docker's name rule)."""
    if path.is_dir():
        raise LabSpecError(f"{path}: is a folder; expected a roster file (a CSV with a header row and a student id column)")
    if not path.is_file():
        raise LabSpecError(f"{path}: no such roster file (expected a CSV with a header row and a student id column)")
    text = _text(path)
    if not text.strip():
        raise LabSpecError(f"{path}: empty file; expected a header row with a student id column ({', '.join(ID_HEADERS[:4])}) and one row per student")
    rows = _rows(path, text)
    header_line, headers = rows[0]
    id_col = _column(headers, ID_HEADERS)
    email_col = _column(headers, EMAIL_HEADERS)
    if id_col is None and email_col is None:
        raise LabSpecError(
            f"{path}: line {header_line}: no student id column; expected one of {', '.join(repr(h) for h in ID_HEADERS)} "
            f"(or an e-mail column, as in a Moodle participants export), got {', '.join(repr(h) for h in headers)}"
        )
    name_col, first_col, last_col, role_col = (_column(headers, h) for h in (NAME_HEADERS, FIRST_NAME_HEADERS, LAST_NAME_HEADERS, ROLE_HEADERS))
    id_field = headers[id_col] if id_col is not None else headers[email_col]

    def cell(row: list[str], col: int | None) -> str:
        return row[col].strip() if col is not None and col < len(row) else ""

    students: list[Student] = []
    seen: dict[str, tuple[int, str]] = {}
    emails: dict[str, int] = {}
    for number, row in rows[1:]:
        if any(value.strip() for value in row[len(headers):]):
            # An unquoted "Díaz, Ana" would silently lose its second half.
            raise LabSpecError(f"{path}: line {number}: {len(row)} fields, the header has {len(headers)}; "
                               'expected one value per column (quote a value that has the separator in it: "Díaz, Ana")')
        for col in (id_col, name_col, first_col, last_col, email_col):
            if len(cell(row, col)) > MAX_VALUE:
                raise LabSpecError(f"{path}: line {number}: field {headers[col]!r}: {len(cell(row, col))} characters; "
                                   f"expected at most {MAX_VALUE}")
            if CONTROL.search(cell(row, col)):
                raise LabSpecError(f"{path}: line {number}: field {headers[col]!r}: {cell(row, col)!r} has a control character; expected printable text")
        email = cell(row, email_col)
        if email and not EMAIL.fullmatch(email):
            raise LabSpecError(f"{path}: line {number}: field {headers[email_col]!r}: {email!r} is not an e-mail address; expected name@domain")
        student_id = cell(row, id_col) if id_col is not None else email.partition("@")[0]
        where = f"{path}: line {number}: field {id_field!r}"
        if not student_id:
            raise LabSpecError(f"{where}: empty; every student needs an id")
        try:
            check_id(student_id)
        except ValueError as exc:
            raise LabSpecError(f"{where}: {student_id!r} {exc}") from None
        key = name_form(student_id).lower()  # Docker names and folders must not differ only in case
        if key in seen:
            line, other = seen[key]
            same = f"is already the id of line {line}" if other.lower() == student_id.lower() else \
                f"names the same lab as {other!r} of line {line} ({name_form(student_id)!r})"
            raise LabSpecError(f"{where}: {student_id!r} {same}; expected one row per student")
        seen[key] = (number, student_id)
        if email and (twice := emails.get(email.lower())):
            # One person listed twice (two ids, as merged lists have it): two labs, and two
            # gradebook rows that Moodle's import, matching by e-mail, gives one student.
            raise LabSpecError(f"{path}: line {number}: field {headers[email_col]!r}: {email!r} is already the e-mail of line "
                               f"{twice}; expected one row per student")
        emails[email.lower()] = number
        name = cell(row, name_col) or " ".join(part for part in (cell(row, first_col), cell(row, last_col)) if part)
        students.append(Student(student_id, name, email, number, cell(row, role_col)))
    if not students:
        raise LabSpecError(f"{path}: no students: the header is there but no row below it")
    return students


def students_only(roster: list[Student]) -> tuple[list[Student], list[Student]]:
    """(students, the rest): a Moodle participants export lists the course's teachers too,
    by their Roles. Without a student role in any row, every row is a student."""
    if not any(STUDENT_ROLE.search(s.roles) for s in roster):
        return roster, []
    return [s for s in roster if STUDENT_ROLE.search(s.roles)], [s for s in roster if not STUDENT_ROLE.search(s.roles)]
