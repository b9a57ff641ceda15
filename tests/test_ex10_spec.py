"""Exercise 10's lab definition: its own network reached from practica4, the
student's domain as one parameter, the workspace section, the rendered DNS."""
from __future__ import annotations

import copy

import pytest
import yaml

from labctl.render.configs import render_configs
from labctl.spec.loader import LabSpecError, lab_file, load_lab
from labctl.workspace.layout import Layout
from labctl.workspace.skeleton import skeleton

EX10 = yaml.safe_load(lab_file("practica4-ej10").read_text(encoding="utf-8"))


def test_exercise_10_of_practica4_is_its_own_lab():
    lab = load_lab("practica4", exercise="10")
    assert lab.name == "practica4-ej10"
    assert str(lab.network.subnet) == "203.0.113.0/24" and str(lab.network.gateway) == "203.0.113.1"
    sheet = {name: str(lab.services[name].ip) for name in ("ns1", "ns2", "mail", "correo")}
    assert sheet == {"ns1": "203.0.113.65", "ns2": "203.0.113.66", "mail": "203.0.113.111", "correo": "203.0.113.8"}
    assert [c.id for c in lab.exercises["10"].checks][:6] == ["a-delegacion", "a-resolucion", "b-zona", "b-autoritativos", "b-notify", "c-sin-recursion"]


def test_the_domain_is_one_parameter_moved_everywhere_keys_included():
    lab = load_lab("practica4", exercise="10", subnet="172.30.77.0/24", params={"domain": "ana.com.ar"})
    assert lab.workspace.domain == "ana.com.ar"
    assert lab.services["ns1"].hostname == "ns1.ana.com.ar" and str(lab.services["ns1"].ip) == "172.30.77.65"
    assert "ana.com.ar" in lab.mail_domains and lab.services["mail"].mail_domains == ["ana.com.ar"]
    assert "ana.com.ar" in lab.exercises["10"].checks[0].title
    assert all("redes2024" not in text for text in skeleton(Layout.of(lab, "ana")).values())


def test_rendered_dns_starts_from_the_lab_root():
    lab = load_lab("practica4-ej10")
    files = {str(f.path): f.content for f in render_configs(lab)}
    assert "a.root-servers.net. 3600000  A   203.0.113.200" in files["resolver/root.hints"]
    assert "$ORIGIN .\n" in files["root/db.root"]
    assert "$INCLUDE /etc/bind/registro/delegaciones.db" in files["nic-ar/db.com.ar"]
    assert "$INCLUDE" not in files["nic-ar/db.ar"]
    # ns1/ns2 run the student's options and zones, and nothing of the lab's zones.
    assert 'include "/etc/bind/alumno/named.conf.options";' in files["ns1/named.conf"]
    assert 'include "/etc/bind/alumno/named.conf.local";' in files["ns2/named.conf"]
    assert not any(path.startswith("ns1/db.") for path in files)
    assert files["resolv.conf"].startswith("# Rendered") and "search redes2024.com.ar" in files["resolv.conf"]


def _bad(change) -> dict:
    data = copy.deepcopy(EX10)
    change(data)
    return data


BAD = [
    (lambda d: d["workspace"].update(registry="root"), "workspace.registry: 'root' is not a dns service serving 'com.ar'"),
    (lambda d: d["workspace"].update(primary="mail"), "workspace: 'mail' is not a dns service with student_config"),
    (lambda d: d["workspace"].update(answers_for=["ns1", "nadie"]), "workspace.answers_for: no service 'nadie'"),
    (lambda d: d.update(root="resolver"), "root: 'resolver' is not a dns service serving the zone '.'"),
    (lambda d: d["services"]["mail"].update(student_config=True), "'student_config' is only for dns services, not mail"),
    (lambda d: d["zones"]["info.unlp.edu.ar"]["records"].append({"name": "_x._tcp", "type": "SRV", "value": "0 1 port mail"}), "an SRV record needs 'priority weight port target'"),
]


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_exercise_10_lab_is_one_line(tmp_path, change, expected):
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(_bad(change), allow_unicode=True), encoding="utf-8")
    with pytest.raises(LabSpecError) as err:
        load_lab(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_unknown_parameter_is_refused():
    with pytest.raises(LabSpecError, match="no parameter 'dominio'"):
        load_lab("practica4-ej10", params={"dominio": "x.com.ar"})
