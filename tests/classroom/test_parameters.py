"""Lab parameters: declared once, used as {{ name }}, defaults for one student,
each student's own values in a class."""
from __future__ import annotations

import copy

import pytest
import yaml

from labctl.classroom.params import student_params
from labctl.spec.loader import LabSpecError, lab_file, load_lab

REFERENCE = yaml.safe_load(lab_file("practica4").read_text(encoding="utf-8"))


def _accounts(lab):
    return {a.user: a.password for a in lab.mail_domains["redes.unlp.edu.ar"].accounts}


def test_defaults_run_the_lab_as_written():
    lab = load_lab("practica4", "4")
    assert _accounts(lab)["alumnopop"] == "alumnopoppass" and _accounts(lab)["alumnoimap"] == "alumnoimappass"
    assert "contraseña alumnopoppass" in lab.exercises["4"].checks[1].hint


def test_each_student_gets_their_own_values_everywhere_they_are_used():
    base = load_lab("practica4")
    ana, beto = (student_params(base, "secret", sid) for sid in ("ana", "beto"))
    assert ana != beto and set(ana) == {"alumnopop_password", "alumnoimap_password"}
    assert student_params(base, "secret", "ana") == ana  # a reset gives the same
    assert student_params(base, "another class", "ana") != ana
    lab = load_lab("practica4", "4", params=ana)
    assert _accounts(lab)["alumnopop"] == ana["alumnopop_password"]
    assert f"contraseña {ana['alumnopop_password']}" in lab.exercises["4"].checks[1].hint


def test_id_template_parameters(tmp_path):
    data = copy.deepcopy(REFERENCE)
    data["parameters"]["domain"] = {"default": "redes2024.com.ar", "per_student": "{id}.com.ar"}
    data["web"]["title"] = "{{ domain }}"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_lab(path).web.title == "redes2024.com.ar"
    values = student_params(load_lab(path), "s", "Ana")
    assert values["domain"] == "ana.com.ar" and load_lab(path, params=values).web.title == "ana.com.ar"


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["web"].update(title="{{ nope }}"), "web.title: {{ nope }} names no parameter under 'parameters'"),
    (lambda d: d["parameters"].update(x={"per_student": "password"}), "parameters.x.default: expected a text value"),
    (lambda d: d["parameters"].update(x={"default": "a", "per_student": "random"}), "parameters.x.per_student: expected 'password' or a text with {id}"),
    (lambda d: d["parameters"].update({"bad-name": {"default": "a"}}), "parameter name 'bad-name' must be letters, digits and '_'"),
])
def test_bad_parameters_are_one_line(tmp_path, change, expected):
    data = copy.deepcopy(REFERENCE)
    change(data)
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(LabSpecError) as err:
        load_lab(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), str(err.value)


def test_a_value_for_an_undeclared_parameter_is_refused():
    with pytest.raises(LabSpecError, match="no parameter 'colour' is declared"):
        load_lab("practica4", params={"colour": "red"})
