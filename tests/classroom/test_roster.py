"""Rosters as instructors have them, and bad ones: one line naming the file, the line
and the field, exit 2, and nothing started (no class recorded, no container)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.classroom import record as records
from labctl.classroom.lifecycle import student_id_rule
from labctl.classroom.roster import read_roster
from labctl.cli import app
from labctl.spec.loader import LabSpecError

# A Moodle participants export: UTF-8 with a BOM, Moodle's own header names.
MOODLE = (
    "\ufeffFirst name,Last name,ID number,Email address\n"
    "Ana,Díaz,ana-01,ana@alumnos.example\n"
    "Beto,Paz,beto-02,beto@alumnos.example\n"
)
# The same export when the site shows no ID number: the e-mail's local part is the id.
MOODLE_NO_ID = "\ufeffFirst name,Last name,Email address,Roles\nAna,Díaz,ana.diaz@alumnos.example,Student\n"


def _roster(tmp_path, content: str | bytes, name: str = "roster.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_our_own_format(tmp_path):
    students = read_roster(_roster(tmp_path, "id,name,email\nana,Ana Díaz,ana@x.example\n\nbeto,,\n"))
    assert [(s.id, s.name, s.email, s.row) for s in students] == [("ana", "Ana Díaz", "ana@x.example", 2), ("beto", "", "", 4)]


def test_moodle_participants_export(tmp_path):
    students = read_roster(_roster(tmp_path, MOODLE))
    assert [(s.id, s.name, s.email) for s in students] == [
        ("ana-01", "Ana Díaz", "ana@alumnos.example"), ("beto-02", "Beto Paz", "beto@alumnos.example")]
    assert [s.id for s in read_roster(_roster(tmp_path, MOODLE_NO_ID))] == ["ana.diaz"]


def test_a_moodle_export_lists_the_teachers_too_and_they_are_left_out(tmp_path):
    """Moodle's participants export has every participant, the course's teachers with them:
    by their Roles they get no lab. A list without any student role is all students."""
    from labctl.classroom.roster import students_only

    export = ("\ufeffFirst name,Last name,ID number,Email address,Roles\n"
              "Juan,Pérez,prof-1,jperez@unlp.example,\"Teacher, Non-editing teacher\"\n"
              "Ana,Díaz,ana-01,ana@alumnos.example,Student\n"
              "Beto,Paz,beto-02,beto@alumnos.example,Estudiante\n")
    students, others = students_only(read_roster(_roster(tmp_path, export)))
    assert [s.id for s in students] == ["ana-01", "beto-02"]
    assert [(s.row, s.name, s.roles) for s in others] == [(2, "Juan Pérez", "Teacher, Non-editing teacher")]
    custom = "id,name,roles\nana,Ana,Cursante\nbeto,Beto,Cursante\n"  # roles named otherwise: nothing is left out
    assert [len(group) for group in students_only(read_roster(_roster(tmp_path, custom)))] == [2, 0]


def test_semicolons_as_a_spanish_spreadsheet_saves_them(tmp_path):
    assert [s.name for s in read_roster(_roster(tmp_path, "Legajo;Apellido;Nombre\n1234;Díaz;Ana\n"))] == ["Ana Díaz"]


def test_one_column_with_surname_and_name(tmp_path):
    roster = "Legajo;Apellido y Nombres;Email\n1234;Díaz, Ana;ana@x.example\n"
    assert [(s.id, s.name, s.email) for s in read_roster(_roster(tmp_path, roster))] == [("1234", "Díaz, Ana", "ana@x.example")]


def test_dni_as_the_id_and_excels_separator_line(tmp_path):
    """Argentine class lists identify students by DNI; "sep=;" before the header is the line
    people add so that Excel splits the file (line numbers stay the file's)."""
    roster = "\ufeffsep=;\r\nDNI;Apellido y Nombres\r\n\r\n30.123.456;Díaz, Ana\r\n31222333;Paz, Beto\r\n"
    students = read_roster(_roster(tmp_path, roster))
    assert [(s.id, s.name, s.row) for s in students] == [("30.123.456", "Díaz, Ana", 4), ("31222333", "Paz, Beto", 5)]
    both = "Legajo,Número de documento,Nombre\n12345/6,30123456,Ana\n"
    assert [s.id for s in read_roster(_roster(tmp_path, both))] == ["12345/6"]  # the legajo first


def test_excel_unicode_text(tmp_path):
    """Excel saves tab-separated text only as 'Unicode Text': UTF-16 with a BOM."""
    roster = "Legajo\tApellido\tNombre\r\n1234\tDíaz\tAna\r\n".encode("utf-16")
    assert [(s.id, s.name) for s in read_roster(_roster(tmp_path, roster))] == [("1234", "Ana Díaz")]


def test_quoted_values_as_a_spreadsheet_writes_them(tmp_path):
    """A quote inside a quoted value is doubled; the separator inside one is kept."""
    roster = 'id,name\nana,"Ana ""la Jefa"" Díaz"\nbeto,"Paz, Beto"\n'
    assert [s.name for s in read_roster(_roster(tmp_path, roster))] == ['Ana "la Jefa" Díaz', "Paz, Beto"]


def test_blank_lines_anywhere_and_line_numbers_of_the_file(tmp_path):
    students = read_roster(_roster(tmp_path, "\r\n\r\nid,name\r\nana,Ana\r\n\r\nbeto,Beto\r\n\r\n"))
    assert [(s.id, s.row) for s in students] == [("ana", 4), ("beto", 6)]
    with pytest.raises(LabSpecError, match="line 5: field 'id': 'ana' is already the id of line 4"):
        read_roster(_roster(tmp_path, "\n\nid\nana\nana\n"))


def test_unlp_legajos_and_accented_ids_name_their_labs(tmp_path):
    """The UNLP's legajo is "12345/6" and Moodle ids can carry accents: the lab, its report
    files and exercise 10's domain take the id as names do ("12345-6"); every report keeps it
    as written."""
    from labctl.classroom.lifecycle import instance_name
    from labctl.classroom.params import student_params
    from labctl.spec.loader import lab_file, load_lab

    roster = _roster(tmp_path, "Legajo;Apellido y Nombres\n12345/6;Díaz, Ana\nJosé.Núñez;Núñez, José\n")
    lab = str(lab_file("practica4"))
    students = read_roster(roster, student_id_rule("t11", lab, "10"))
    assert [s.id for s in students] == ["12345/6", "José.Núñez"]
    assert [instance_name("t11", s.id) for s in students] == ["t11-12345-6", "t11-Jose.Nunez"]
    assert student_params(load_lab(lab, "10"), "secret", "12345/6")["domain"] == "12345-6.com.ar"


BAD = {
    "missing id column": ("name,grupo\nAna,1\n", "line 1: no student id column; expected one of 'id'"),
    "one e-mail, two ids": ("legajo,email\n12345/6,ana@x.example\n23456/7,Ana@x.example\n",
                            "line 3: field 'email': 'Ana@x.example' is already the e-mail of line 2"),
    "duplicate ids": ("id,name\nana,Ana\nbeto,Beto\nANA,Ana otra vez\n", "line 4: field 'id': 'ANA' is already the id of line 2"),
    "id Docker cannot name": ("id\n_ana\n", "line 2: field 'id': '_ana' cannot name a lab"),
    "id too long for a lab name": ("id\n" + "a" * 30 + "\n", "line 2: field 'id': '" + "a" * 30 + "' cannot name a lab: instance '"),
    "id with nothing a name can hold": ("id\n東京\n", "line 2: field 'id': '東京' cannot name a lab: as a name it is ''"),
    "two ids, one lab name": ("legajo\n12345/6\n12345-6\n", "line 3: field 'legajo': '12345-6' names the same lab as '12345/6' of line 2"),
    "empty id": ("id,name\n,Ana\n", "line 2: field 'id': empty"),
    "empty file": ("", "empty file; expected a header row"),
    "header only": ("id,name\n", "no students"),
    "non-UTF-8": ("id,name\nana,Ana D\xedaz\n".encode("latin-1"), "line 2: byte 0xed is not UTF-8"),
    # "Díaz, Ana" unquoted would lose its second half without a word.
    "more values than columns": ("id,name\nana,Díaz, Ana\n", "line 2: 3 fields, the header has 2; expected one value per column"),
    # It goes into gradebook.csv: a spreadsheet would run it.
    "formula as an e-mail": ("id,email\nana,=HYPERLINK(\"http://x.example\")\n", "line 2: field 'email': '=HYPERLINK(\"http://x.example\")' is not an e-mail address; expected name@domain"),
    # Tracebacks before: csv's own limit on a value (128 KiB), and no bound on the file.
    "a value past csv's limit": ("id,name\nana," + "A" * 140_000 + "\n", "line 2: field larger than field limit"),
    "a file no class list is": ("id\n" + "a\n" * 600_000, "1.2 MB is too big; expected a class list (CSV) of at most 1024 KiB"),
    "a name longer than any": ("id,name\nana," + "Ana " * 60 + "\n", "line 2: field 'name': 239 characters; expected at most 200"),
    "control character in a name": ("id,name,email\nana,Ana\x00,ana@x.example\n", "line 2: field 'name': 'Ana\\x00' has a control character"),
}


def test_a_folder_given_as_the_roster_is_named_as_one(tmp_path):
    """Not 'no such roster file': the folder is there (a Moodle download unzipped, say)."""
    with pytest.raises(LabSpecError) as err:
        read_roster(tmp_path, student_id_rule("t11"))
    assert str(err.value) == f"{tmp_path}: is a folder; expected a roster file (a CSV with a header row and a student id column)"


@pytest.mark.parametrize("case", BAD)
def test_bad_roster_is_one_line(tmp_path, case):
    content, expected = BAD[case]
    path = _roster(tmp_path, content)
    with pytest.raises(LabSpecError) as err:
        read_roster(path, student_id_rule("t11"))
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", BAD)
def test_class_up_with_a_bad_roster_starts_nothing(engine, tmp_path, case):
    content, expected = BAD[case]
    path = _roster(tmp_path, content, name="badclass.csv")
    result = CliRunner().invoke(app, ["class", "up", str(path), "--exercise", "4"])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.stderr.split())
    assert "badclass" not in records.all_names()
    assert not [c for c in engine.containers.list(all=True, sparse=True, filters={"label": "labctl.lab"})
                if c.attrs["Labels"]["labctl.lab"].startswith("badclass-")]


def test_class_name_docker_cannot_use(tmp_path):
    path = _roster(tmp_path, "id\nana\n")
    result = CliRunner().invoke(app, ["class", "up", str(path), "--exercise", "4", "--name", "mi clase"])
    assert result.exit_code == 2 and "--name 'mi clase'" in result.stderr
