"""labctl class status."""
from __future__ import annotations

import json
from typing import Optional

import typer

from labctl.classroom.report import grade_class
from labctl.cli.class_options import NameOpt, ParallelOpt, chosen_class
from labctl.cli.output import cells, console, table as new_table, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client

def command(
    name: Optional[str] = NameOpt,
    parallel: int = ParallelOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One line per student: up or not, exercise, checks passed."""
    with user_errors():
        record = chosen_class(name)
        engine = client()
        grades = grade_class(record, parallel=parallel)
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
