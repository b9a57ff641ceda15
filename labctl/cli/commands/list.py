"""labctl list."""
from __future__ import annotations

from labctl.cli.output import cells, console, table as new_table, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client
from labctl.runtime.network import find_networks


def command() -> None:
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
