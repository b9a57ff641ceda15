"""labctl class access."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labctl.classroom import lifecycle
from labctl.classroom.roster import name_form
from labctl.cli.class_options import NameOpt, chosen_class
from labctl.cli.output import cells, console, table as new_table, user_errors
from labctl.render.plan import CLIENT_CAPTURES
from labctl.render.templating import render as render_template

def _students_way_in(ssh_bind: str) -> str:
    """The host's name when others can resolve it (a dotted name other than localhost's);
    else the address the students' SSH ports listen on ('localhost' on a sheet sends
    each student to their own machine)."""
    name = socket.getfqdn()
    if (name.split(".")[0] == "localhost" or "." not in name) and ssh_bind != "0.0.0.0":
        return ssh_bind
    return name


def command(
    name: Optional[str] = NameOpt,
    host: Optional[str] = typer.Option(None, "--host", help="The server's name as students reach it (default: its full name; the address the SSH ports listen on when that is only 'localhost')."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write one sheet per student here (<id>.txt)."),
) -> None:
    """How each student reaches their own lab without Docker rights: the table, and one sheet per student."""
    with user_errors():
        record = chosen_class(name)
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
