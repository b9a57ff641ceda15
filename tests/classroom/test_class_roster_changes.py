"""A student taken off the roster after 'class up' (they dropped the course): 'class grade'
says the roster file changed, 'class up' with it names them and keeps their lab, and with
--drop-missing takes them out of the class (lab, state, reports) and no one else."""
from __future__ import annotations

from typer.testing import CliRunner

from classcli import cli
from labctl.classroom import record as records
from labctl.cli import app
from labctl.paths import lab_state_dir
from labctl.runtime import project

CLASS = "t11roster"
POOL = "10.136.0.0/22"
# Roles, as a Moodle export has them: the teacher gets no lab. Brackets in names are text
# (the console would read "[/]" as markup).
HEADER = "Legajo;Apellido y Nombres;Roles\n"
TEACHER, ANA, BETO = "99999/9;Pérez, Juan [/];Profesor\n", "12345/6;Díaz, Ana;Estudiante\n", "23456/7;Núñez, Beto [recursante];Estudiante\n"


def said(output: str) -> str:
    return " ".join(output.split())


def test_a_student_taken_off_the_roster(engine, tmp_path):
    roster, reports = tmp_path / "alumnos.csv", tmp_path / "reports"
    roster.write_text(HEADER + TEACHER + ANA + BETO, encoding="utf-8")
    if CLASS in records.all_names():  # a previous run killed half-way
        CliRunner().invoke(app, ["class", "down", "--name", CLASS, "--purge"])
    up = ["class", "up", str(roster), "--exercise", "4", "--name", CLASS]
    try:
        first = said(cli(*up, "--pool", POOL, "--ssh-port", "22980"))
        assert f"left out of the class, not students by their role in {roster}: line 2 Pérez, Juan [/] (Profesor)" in first, first
        ana, beto = records.load(CLASS).students
        assert "changed since" not in cli("class", "grade", "--name", CLASS, "--out", str(reports))
        roster.write_text(HEADER + TEACHER + ANA + "\n", encoding="utf-8")  # Beto dropped the course
        graded = said(cli("class", "grade", "--name", CLASS, "--out", str(reports)))
        assert f"{roster} changed since the class came up; not in it any more: 23456/7 (Núñez, Beto [recursante]) (graded still;" in graded, graded
        assert (reports / "23456-7.json").is_file()  # what is graded is the class as recorded
        kept = said(cli(*up))
        assert f"not in {roster} but in class {CLASS}: 23456/7 (Núñez, Beto [recursante]); their labs stay and are graded" in kept, kept
        assert project.running(engine, beto.instance).containers
        dropped = said(cli(*up, "--drop-missing"))
        assert f"out of class {CLASS}, not in {roster}: 23456/7 (Núñez, Beto [recursante]) (labs and state removed)" in dropped, dropped
        assert [s.id for s in records.load(CLASS).students] == ["12345/6"]
        assert not project.running(engine, beto.instance).containers and not lab_state_dir(beto.instance).exists()
        assert sorted(p.name for p in reports.glob("*.json")) == ["12345-6.json"]
        running = project.running(engine, ana.instance).containers
        assert running and all(c.status == "running" for c in running.values())  # no one else's lab moved
        assert "changed since" not in cli("class", "grade", "--name", CLASS, "--out", str(reports))
        # Back on the roster (a mistake undone): enrolled again, with the same SSH password.
        roster.write_text(HEADER + ANA + BETO, encoding="utf-8")
        cli(*up)
        assert records.load(CLASS).student("23456/7").ssh_password == beto.ssh_password
    finally:
        CliRunner().invoke(app, ["class", "down", "--name", CLASS, "--purge"])
    assert CLASS not in records.all_names()
