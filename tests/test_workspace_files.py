"""The student's YAML files and BIND's messages, without an engine: one line that
names the workspace file, the field and what was expected."""
from __future__ import annotations

import pytest

from labctl.spec.errors import LabSpecError
from labctl.spec.yaml_file import MAX_BYTES
from labctl.workspace.apply import backup_setting_problem
from labctl.workspace.answers import Answers
from labctl.workspace.bindcheck import first_problem
from labctl.workspace.registration import Registration, delegation_text, registration_problem
from labctl.workspace.yamlfile import read_model

DOMAIN = "redes2024.com.ar"
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))


def test_bind_output_names_the_workspace_file_and_line():
    output = ("zone redes2024.com.ar/IN: loaded serial 1\n"
              "/etc/bind/alumno/db.redes2024.com.ar:11: unknown RR type 'AX'\n"
              "zone redes2024.com.ar/IN: loading from master file /etc/bind/alumno/db.redes2024.com.ar failed: unknown class/type\n")
    assert first_problem(output, {"/etc/bind/alumno": "ns1"}) == "ns1/db.redes2024.com.ar:11: unknown RR type 'AX'"
    no_file = "zone redes2024.com.ar/IN: NS 'ns2.redes2024.com.ar' has no address records (A or AAAA)\n"
    assert first_problem(no_file, {"/etc/bind/alumno": "ns1"}) == no_file.strip()
    # named-checkconf's stdout and stderr come interleaved in any order: its summaries say nothing.
    summary_first = "_default/redes2024.com.ar/IN: bad zone\n" + no_file + "zone redes2024.com.ar/IN: not loaded due to errors.\n"
    assert first_problem(summary_first, {"/etc/bind/alumno": "ns1"}) == no_file.strip()
    # A missing zone file: -z repeats the zone's failure under its view, before or after it.
    missing = "zone redes2024.com.ar/IN: loading from master file db.redes2024.com.ar failed: file not found"
    repeated = "_default/redes2024.com.ar/IN: file not found"
    for output in (f"{missing}\n{repeated}\n", f"{repeated}\n{missing}\n"):
        assert first_problem(output, {"/etc/bind/alumno": "ns1"}) == missing


def test_registration_needs_the_domain_and_glue_inside_it():
    right = Registration(dominio=DOMAIN, servidores=[{"nombre": f"ns1.{DOMAIN}", "ip": "203.0.113.65"},
                                                     {"nombre": "ns.proveedor.com.ar"}])
    assert registration_problem(right, DOMAIN) is None
    text = delegation_text(right)
    assert f"{DOMAIN}.\tIN NS\tns1.{DOMAIN}." in text and f"ns1.{DOMAIN}.\tIN A\t203.0.113.65" in text
    assert "ns.proveedor.com.ar.\tIN A" not in text
    no_glue = Registration(dominio=DOMAIN, servidores=[{"nombre": f"ns2.{DOMAIN}"}])
    assert "servidores[0].ip:" in registration_problem(no_glue, DOMAIN)
    other = Registration(dominio="otro.com.ar", servidores=[])
    assert registration_problem(other, DOMAIN) == f"dominio: expected your domain {DOMAIN}, got 'otro.com.ar'"


# How apply reads each of the student's YAML files (respaldo-mx.yaml: then the MTA's rules).
READERS = {"respuestas.yaml": lambda path: read_model(path, Answers, "respuestas.yaml"),
           "respaldo-mx.yaml": backup_setting_problem}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("respuestas.yaml", "ns1: [{servicio: dns, puerto: 53, transporte: udp", "respuestas.yaml: line 1 not valid YAML"),
    # Hostile YAML is refused as in lab files: before it is expanded, and saying why.
    ("respuestas.yaml", BILLION_LAUGHS, "respuestas.yaml: aliases expand to more than 100000 values; expected a workspace file"),
    ("respuestas.yaml", "ns1: []\nns1: []\n", "respuestas.yaml: line 2: key 'ns1' given twice in one mapping (first on line 1)"),
    ("respuestas.yaml", "a: " + "[" * 100 + "]" * 100 + "\n", "respuestas.yaml: line 1: nested more than 32 levels deep; expected a workspace file"),
    ("respuestas.yaml", "ns1: [{servicio: dns, puerto: 70000, transporte: udp}]", "respuestas.yaml: ns1[0].puerto: Input should be less than or equal to 65535 (got 70000)"),
    ("respuestas.yaml", "ns1: [{servicio: ftp, puerto: 21, transporte: tcp}]", "respuestas.yaml: ns1[0].servicio: Input should be"),
    ("respuestas.yaml", "ns1: [{servicio: dns, puerto: 53, transporte: udp, color: rojo}]", "respuestas.yaml: ns1[0].color: Extra inputs are not permitted"),
    ("respaldo-mx.yaml", BILLION_LAUGHS, "respaldo-mx.yaml: aliases expand to more than 100000 values"),
    ("respaldo-mx.yaml", "backup_for: [redes2024.com.ar]\nbackup_for: []\n", "respaldo-mx.yaml: line 2: key 'backup_for' given twice"),
    ("respaldo-mx.yaml", "backup_for: [redes 2024]\n", "respaldo-mx.yaml: backup_for[0]: expected a domain name"),
    ("respaldo-mx.yaml", "otro: 1\n", "respaldo-mx.yaml: otro: unknown field"),
])
def test_bad_files_are_one_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabSpecError) as err:
        READERS[name](path)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value), str(err.value)


def test_missing_file_says_where_it_comes_from(tmp_path):
    with pytest.raises(LabSpecError, match="registro.yaml: no such file"):
        read_model(tmp_path / "registro.yaml", Registration, "registro.yaml")


def test_a_folder_by_the_files_name_is_one_line_naming_it(tmp_path):
    """Not 'error: /…/respuestas.yaml: Is a directory', exit 1: the file as the student knows it."""
    (tmp_path / "respuestas.yaml").mkdir()
    with pytest.raises(LabSpecError, match=r"^respuestas.yaml: is a folder; expected a workspace file \(YAML\) by that name$"):
        read_model(tmp_path / "respuestas.yaml", Answers, "respuestas.yaml")


def test_a_huge_answers_file_is_refused_unread(tmp_path):
    path = tmp_path / "respuestas.yaml"
    path.write_text("#" * (MAX_BYTES + 1), encoding="utf-8")
    with pytest.raises(LabSpecError, match=r"^respuestas.yaml: 1.0 MB is too big; expected a workspace file of at most 1024 KiB$"):
        read_model(path, Answers, "respuestas.yaml")


def test_a_right_backup_setting_passes(tmp_path):
    path = tmp_path / "respaldo-mx.yaml"
    path.write_text(f"backup_for:\n  - {DOMAIN}\n", encoding="utf-8")
    backup_setting_problem(path)
    with pytest.raises(LabSpecError, match="respaldo-mx.yaml: no such file"):
        backup_setting_problem(tmp_path / "nada.yaml")


def test_answers_in_capitals_as_the_course_writes_them_are_the_same_answers(tmp_path):
    path = tmp_path / "respuestas.yaml"
    path.write_text("ns1:\n  - {servicio: DNS, puerto: 53, transporte: UDP}\n  - {servicio: Dns, puerto: 53, transporte: Tcp}\n")
    answers = read_model(path, Answers, "respuestas.yaml")
    assert [(a.servicio, a.puerto, a.transporte) for a in answers.for_server("ns1")] == [("dns", 53, "udp"), ("dns", 53, "tcp")]
    path.write_text("ns1: [{servicio: DNSS, puerto: 53, transporte: UDP}]\n")  # still a wrong name
    with pytest.raises(LabSpecError, match=r"^respuestas.yaml: ns1\[0\].servicio: Input should be 'dns'"):
        read_model(path, Answers, "respuestas.yaml")


def test_answers_in_other_words_are_the_same_answers(tmp_path):
    """/etc/services' names of a service (domain, imap2, www, submissions) and the course's
    (POP, IMAP4); a port written with its transport as /etc/services (25/tcp) or the course
    (TCP 25) writes it. A port and a transport that disagree, or a name for a port, are refused."""
    path = tmp_path / "respuestas.yaml"
    path.write_text("mail:\n  - {servicio: Domain, puerto: 53/udp}\n  - {servicio: IMAP2, puerto: TCP 143}\n"
                    "  - {servicio: POP, puerto: 110 (tcp), transporte: TCP}\n  - {servicio: imap4, puerto: \"993\", transporte: tcp}\n"
                    "  - {servicio: www, puerto: 80, transporte: tcp}\n  - {servicio: submissions, puerto: tcp/465}\n")
    answers = read_model(path, Answers, "respuestas.yaml")
    assert [(a.servicio, a.puerto, a.transporte) for a in answers.for_server("mail")] == [
        ("dns", 53, "udp"), ("imap", 143, "tcp"), ("pop3", 110, "tcp"), ("imap", 993, "tcp"), ("http", 80, "tcp"), ("smtps", 465, "tcp")]
    for text, error in (("{servicio: smtp, puerto: 25/udp, transporte: tcp}",
                         r"^respuestas.yaml: mail\[0\]: puerto '25/udp' says udp, transporte 'tcp': one transport per line"),
                        ("{servicio: smtp, puerto: smtp, transporte: tcp}",
                         r"^respuestas.yaml: mail\[0\].puerto: Input should be a valid integer.* \(got 'smtp'\)"),
                        ("{servicio: smtp, puerto: 25}", r"^respuestas.yaml: mail\[0\].transporte: Field required"),
                        ("{servicio: correo, puerto: 25/tcp}", r"^respuestas.yaml: mail\[0\].servicio: Input should be 'dns'")):
        path.write_text(f"mail: [{text}]\n")
        with pytest.raises(LabSpecError, match=error):
            read_model(path, Answers, "respuestas.yaml")
