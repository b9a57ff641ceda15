"""The student's YAML files and BIND's messages, without an engine: one line that
names the workspace file, the field and what was expected."""
from __future__ import annotations

import pytest

from labctl.spec.errors import LabSpecError
from labctl.workspace.answers import Answers
from labctl.workspace.bindcheck import first_problem
from labctl.workspace.registration import Registration, delegation_text, registration_problem
from labctl.workspace.yamlfile import read_model

DOMAIN = "redes2024.com.ar"


def test_bind_output_names_the_workspace_file_and_line():
    output = ("zone redes2024.com.ar/IN: loaded serial 1\n"
              "/etc/bind/alumno/db.redes2024.com.ar:11: unknown RR type 'AX'\n"
              "zone redes2024.com.ar/IN: loading from master file /etc/bind/alumno/db.redes2024.com.ar failed: unknown class/type\n")
    assert first_problem(output, {"/etc/bind/alumno": "ns1"}) == "ns1/db.redes2024.com.ar:11: unknown RR type 'AX'"
    no_file = "zone redes2024.com.ar/IN: NS 'ns2.redes2024.com.ar' has no address records (A or AAAA)\n"
    assert first_problem(no_file, {"/etc/bind/alumno": "ns1"}) == no_file.strip()


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


@pytest.mark.parametrize(("text", "expected"), [
    ("ns1: [{servicio: dns, puerto: 53, transporte: udp", "respuestas.yaml:1: not valid YAML"),
    ("ns1: [{servicio: dns, puerto: 70000, transporte: udp}]", "respuestas.yaml: ns1[0].puerto: Input should be less than or equal to 65535 (got 70000)"),
    ("ns1: [{servicio: ftp, puerto: 21, transporte: tcp}]", "respuestas.yaml: ns1[0].servicio: Input should be"),
    ("ns1: [{servicio: dns, puerto: 53, transporte: udp, color: rojo}]", "respuestas.yaml: ns1[0].color: Extra inputs are not permitted"),
])
def test_bad_answers_are_one_line(tmp_path, text, expected):
    path = tmp_path / "respuestas.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabSpecError) as err:
        read_model(path, Answers, "respuestas.yaml")
    assert str(err.value).startswith(expected) and "\n" not in str(err.value), str(err.value)


def test_missing_file_says_where_it_comes_from(tmp_path):
    with pytest.raises(LabSpecError, match="registro.yaml: no such file"):
        read_model(tmp_path / "registro.yaml", Registration, "registro.yaml")
