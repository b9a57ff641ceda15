"""A bad lab file gets one line naming the file, the field and what was expected."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from labctl.cli import app
from labctl.spec.loader import LabSpecError, lab_file, load_lab

REFERENCE = yaml.safe_load(lab_file("practica4").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _mutated(**changes):
    import copy

    data = copy.deepcopy(REFERENCE)
    for dotted, value in changes.items():
        node = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key] if not isinstance(node, list) else node[int(key)]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return data


BAD_LABS = [
    (_mutated(network__subnet="172.28.0.0/33"), "network.subnet: "),
    (_mutated(network__gateway="10.0.0.1"), "network: gateway 10.0.0.1 is not inside subnet 172.28.0.0/24"),
    (_mutated(services__mail__ip="10.1.1.1"), "services.mail.ip: 10.1.1.1 is not inside 172.28.0.0/24"),
    (_mutated(services__mail__ip="172.28.0.29"), "services.mail.ip: 172.28.0.29 is already used by service 'dns-redes'"),
    (_mutated(services__http__ip="172.28.0.1"), "services.http.ip: 172.28.0.1 is reserved"),
    (_mutated(services__mail__role="smtp"), "services.mail.role: Input should be 'dns', 'mail', 'web', 'client' or 'capture'"),
    (_mutated(services__mail__ports__smtp=70000), "services.mail.ports.smtp: Input should be less than or equal to 65535"),
    (_mutated(services__mail__colour="blue"), "services.mail.colour: extra inputs are not permitted"),
    (_mutated(services__mail__mail_domains=["nowhere.example"]), "services.mail.mail_domains: no domain 'nowhere.example' under 'mail_domains'"),
    (_mutated(**{"services__dns-redes": None}), "services.dns-redes: Input should be a valid dictionary or instance of Service"),
    (_mutated(resolver="http"), "resolver: 'http' is not a dns service of this lab"),
    (_mutated(**{"zones__redes.unlp.edu.ar": None}), "zones.redes.unlp.edu.ar: Input should be a valid dictionary or instance of Zone"),
    (_mutated(network=KeyError), "network: field required"),
]


@pytest.mark.parametrize(("data", "expected"), BAD_LABS, ids=[e for _, e in BAD_LABS])
def test_bad_lab_is_one_clear_line(tmp_path, data, expected):
    path = _write(tmp_path, data)
    with pytest.raises(LabSpecError) as err:
        load_lab(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_bad_record_names_the_record(tmp_path):
    data = _mutated()
    data["zones"]["redes.unlp.edu.ar"]["records"][2] = {"name": "@", "type": "MX", "value": "mail"}
    with pytest.raises(LabSpecError, match=r"zones\.redes\.unlp\.edu\.ar\.records\.2: an MX record needs 'priority'"):
        load_lab(_write(tmp_path, data))


def test_bad_a_record_value(tmp_path):
    data = _mutated()
    data["zones"]["redes.unlp.edu.ar"]["records"][4]["value"] = "not-an-ip"
    with pytest.raises(LabSpecError, match=r"records\.4: .*IPv4"):
        load_lab(_write(tmp_path, data))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(LabSpecError, match=r"lab\.yaml: line 2 not valid YAML"):
        load_lab(_write(tmp_path, "name: x\n  bad: [\n"))


def test_missing_lab_file():
    with pytest.raises(LabSpecError, match="no such lab file"):
        load_lab("no-such-lab")


def test_unknown_exercise():
    with pytest.raises(LabSpecError, match="exercises: no exercise '99'"):
        load_lab("practica4", exercise="99")


def test_cli_bad_lab_exits_2_and_starts_nothing(tmp_path, engine):
    from labctl.runtime.project import instances

    before = instances(engine)
    path = _write(tmp_path, _mutated(services__mail__ip="10.1.1.1"))
    result = CliRunner().invoke(app, ["up", str(path)])
    assert result.exit_code == 2
    assert "services.mail.ip" in result.output
    assert instances(engine) == before


def test_reference_lab_matches_course_network():
    lab = load_lab("practica4")
    assert str(lab.network.subnet) == "172.28.0.0/24" and str(lab.network.gateway) == "172.28.0.1"
    ips = {name: str(s.ip) for name, s in lab.services.items()}
    assert ips["dns-redes"] == "172.28.0.29"
    assert ips["dns-practica-redes"] == "172.28.0.120"
    assert ips["http"] == "172.28.0.50"
    assert ips["mail"] == "172.28.0.90"
    users = {a.user: a.password for a in lab.mail_domains["redes.unlp.edu.ar"].accounts}
    assert users["alumnopop"] == "alumnopoppass" and users["alumnoimap"] == "alumnoimappass"


def test_relocate_moves_every_address_of_the_lab():
    lab = load_lab("practica4", subnet="172.29.7.0/24")
    assert str(lab.network.subnet) == "172.29.7.0/24" and str(lab.network.gateway) == "172.29.7.1"
    assert str(lab.services["mail"].ip) == "172.29.7.90"
    a_records = {r.name: r.value for r in lab.zones["redes.unlp.edu.ar"].records if r.type == "A"}
    assert a_records["mail"] == "172.29.7.90" and a_records["ns1.practica"] == "172.29.7.120"
    assert lab.zones["redes.unlp.edu.ar"].records[-1].value == "172.29.7.121"


def test_relocate_needs_the_same_prefix():
    with pytest.raises(LabSpecError, match=r"network\.subnet: --subnet must be a /24 like the lab's 172\.28\.0\.0/24, got 10\.9\.0\.0/16"):
        load_lab("practica4", subnet="10.9.0.0/16")


def test_variant_can_append_a_record():
    base = load_lab("practica4")
    ex11 = load_lab("practica4", exercise="11")
    records = ex11.zones["redes.unlp.edu.ar"].records
    assert len(records) == len(base.zones["redes.unlp.edu.ar"].records) + 1
    assert records[-1].value == "v=spf1 ip4:172.28.0.90 -all"
    moved = load_lab("practica4", exercise="11", subnet="172.29.9.0/24")
    assert moved.zones["redes.unlp.edu.ar"].records[-1].value == "v=spf1 ip4:172.29.9.90 -all"  # inside text too
    assert moved.zones["redes.unlp.edu.ar"].soa.serial == 2020031700  # numbers are not addresses


def test_a_bad_variant_is_found_when_the_lab_loads(tmp_path):
    data = _mutated()
    data["exercises"]["8"]["variant"]["services"]["mail"]["ports"]["submission"] = "dos mil"
    with pytest.raises(LabSpecError, match=r"lab\.yaml: exercises\.8\.variant makes services\.mail\.ports\.submission: Input should be a valid integer"):
        load_lab(_write(tmp_path, data))  # no exercise asked: the reference lab is refused too


def test_service_names_are_checked(tmp_path):
    data = _mutated()
    data["services"]["Mail_Server"] = data["services"].pop("client")
    with pytest.raises(LabSpecError, match=r"lab\.yaml: services: service name 'Mail_Server' must be lower-case letters, digits and '-'$"):
        load_lab(_write(tmp_path, data))
