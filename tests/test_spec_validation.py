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
    (_mutated(services__mail__role="smtp"), "services.mail.role: Input should be 'dns', 'mail', 'web', 'client', 'webmail' or 'capture'"),
    (_mutated(services__mail__ports__smtp=70000), "services.mail.ports.smtp: Input should be less than or equal to 65535"),
    (_mutated(services__mail__colour="blue"), "services.mail.colour: extra inputs are not permitted"),
    (_mutated(services__mail__mail_domains=["nowhere.example"]), "services.mail.mail_domains: no domain 'nowhere.example' under 'mail_domains'"),
    (_mutated(**{"services__dns-redes": None}), "services.dns-redes: Input should be a valid dictionary or instance of Service"),
    (_mutated(resolver="http"), "resolver: 'http' is not a dns service of this lab"),
    (_mutated(**{"zones__redes.unlp.edu.ar": None}), "zones.redes.unlp.edu.ar: Input should be a valid dictionary or instance of Zone"),
    (_mutated(network=KeyError), "network: field required"),
    # Networks no lab can use, and YAML numbers read as addresses.
    (_mutated(network__subnet="0.0.0.0/24", network__gateway="0.0.0.1"), "network.subnet: 0.0.0.0/24 is in the this-network (0.0.0.0/8) range; expected a private subnet"),
    (_mutated(network__subnet="127.0.0.0/24", network__gateway="127.0.0.1"), "network.subnet: 127.0.0.0/24 is in the loopback range"),
    (_mutated(network__subnet="224.0.1.0/24", network__gateway="224.0.1.1"), "network.subnet: 224.0.1.0/24 is in the multicast range"),
    (_mutated(network__subnet="169.254.3.0/24", network__gateway="169.254.3.1"), "network.subnet: 169.254.3.0/24 is in the link-local range"),
    (_mutated(network__subnet="255.255.255.0/24", network__gateway="255.255.255.1"), "network.subnet: 255.255.255.0/24 is in the reserved and broadcast (240.0.0.0/4) range"),
    (_mutated(network__subnet="172.28.0.0/31"), "network.subnet: expected a private bridge subnet from /16 to /29, got 172.28.0.0/31"),
    (_mutated(network__subnet=12345), "network.subnet: expected an address written as text such as 172.28.0.0/24 or 172.28.0.1, got 12345"),
    (_mutated(network__gateway=2887516161), "network.gateway: expected an address written as text"),
    (_mutated(network__gateway="172.28.0.255"), "network: gateway 172.28.0.255 is the network or broadcast address of 172.28.0.0/24; expected a host address"),
    (_mutated(services__mail__ip=2887516250), "services.mail.ip: expected an address written as text"),
    # Values that go into configuration files.
    (_mutated(services__mail__hostname="mail.redes.unlp.edu.ar\nevil"), "services.mail.hostname: expected a host name (labels of letters, digits and '-'"),
    (_mutated(services__mail__ports__pop3=25), "services.mail.ports: pop3 and smtp are both port 25; expected a different port for each"),
    (_mutated(services__mail__ports__imap=587), "services.mail.ports: imap and submission are both port 587"),
    (_mutated(**{"zones__redes.unlp.edu.ar__ttl": 2**31}), "zones.redes.unlp.edu.ar.ttl: Input should be less than or equal to 2147483647"),
    (_mutated(**{"zones__redes.unlp.edu.ar__ttl": -1}), "zones.redes.unlp.edu.ar.ttl: Input should be greater than or equal to 0"),
    (_mutated(**{"zones__redes.unlp.edu.ar__soa__expire": 10**12}), "zones.redes.unlp.edu.ar.soa.expire: Input should be less than or equal to 2147483647"),
    (_mutated(**{"zones__redes.unlp.edu.ar__soa__rname": "root.redes.unlp.edu.ar. (\n"}), "zones.redes.unlp.edu.ar.soa.rname: expected a host name"),
    (_mutated(**{"zones__redes.unlp.edu.ar__records__0__ttl": 2**40}), "zones.redes.unlp.edu.ar.records.0.ttl: Input should be less than or equal to 2147483647"),
    (_mutated(**{"zones__redes.unlp.edu.ar__records__0__value": "ns-sv-a\nevil IN A 10.6.6.6"}), "zones.redes.unlp.edu.ar.records.0: an NS record needs a host name as value, got 'ns-sv-a\\nevil IN A 10.6.6.6'"),
    (_mutated(**{"zones__redes.unlp.edu.ar__records__9__value": "www ; comment"}), "records.9: an CNAME record needs a host name as value"),
    (_mutated(**{"zones__redes.unlp.edu.ar__records__10__value": "HOLA\nevil IN A 10.6.6.6"}), "records.10: an TXT record needs text of at most 2048 printable characters (no control characters) as value"),
    (_mutated(**{"zones__redes.unlp.edu.ar__records__10__value": "x" * 3000}), "records.10: an TXT record needs text of at most 2048 printable characters"),
    (_mutated(**{"mail_domains__redes.unlp.edu.ar__accounts__0__password": "x\nevil@redes.unlp.edu.ar:{PLAIN}evil:5000:5000::/tmp::"}),
     "mail_domains.redes.unlp.edu.ar.accounts.0.password: expected 1 to 64 printable ASCII characters without spaces or ':' (Dovecot passwd-file)"),
    (_mutated(**{"mail_domains__redes.unlp.edu.ar__accounts__0__password": "a:b"}), "accounts.0.password: expected 1 to 64 printable ASCII characters without spaces or ':'"),
    (_mutated(**{"mail_domains__redes.unlp.edu.ar__accounts__0__user": "Alumno"}), "accounts.0.user: expected 1 to 64 lower-case letters, digits, '.', '_' or '-'"),
    # Dovecot and the MTA would each take one of the two passwords.
    (_mutated(**{"mail_domains__redes.unlp.edu.ar__accounts__1__user": "alumnopop"}),
     "mail_domains.redes.unlp.edu.ar.accounts: user 'alumnopop' is given twice (accounts 0 and 1); expected one account per user"),
    (_mutated(**{"mail_domains__redes.unlp.edu.ar__banner": "mail ESMTP\r\n250 fake"}), "mail_domains.redes.unlp.edu.ar.banner: expected 1 to 200 printable ASCII characters (the SMTP greeting)"),
    (_mutated(capture={"file_size_mb": 1024, "files": 100}), "capture: a ring of 100 files of 1024 MB is 102400 MB; expected at most 4096 MB in all"),
    (_mutated(capture={"files": 100000}), "capture.files: Input should be less than or equal to 100"),
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


def test_a_typo_in_a_lab_name_lists_the_labs():
    result = CliRunner().invoke(app, ["exercises", "practica5"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {lab_file('practica5')}: no such lab file") and "labs: practica4, practica4-ej10)" in result.stderr


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


def test_zone_and_domain_keys_are_host_names(tmp_path):
    """They become file names (db.<zone>) and Maildir folders: no '/' or '..'."""
    data = _mutated()
    data["zones"]["../../evil"] = data["zones"].pop("practica.redes.unlp.edu.ar")
    with pytest.raises(LabSpecError, match=r"lab\.yaml: zones\.\.\./\.\./evil\.\[key\]: expected a host name"):
        load_lab(_write(tmp_path, data))


REFERENCE_TEXT = lab_file("practica4").read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "expected"), [
    (REFERENCE_TEXT + "\nname: otra\n", r"line \d+: key 'name' given twice in one mapping \(first on line \d+\); expected each key once"),
    (REFERENCE_TEXT.replace("  mail:\n    role: mail\n", "  mail:\n    role: web\n  mail:\n    role: mail\n", 1), r"key 'mail' given twice in one mapping"),
    ("a: " + "[" * 10000 + "]" * 10000 + "\n", r"line 1: nested more than 32 levels deep; expected a lab definition"),
    ("a: &a [*a]\n", r"aliases expand to more than 100000 values"),
    ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
     + "".join(f'{chr(98 + i)}: &{chr(98 + i)} [{",".join(["*" + chr(97 + i)] * 9)}]\n' for i in range(9)),
     r"aliases expand to more than 100000 values; expected a lab definition \(is this a 'billion laughs' file\?\)"),
    ("a: !!python/object/apply:os.system ['true']\n", r"line 1 not valid YAML: could not determine a constructor"),
], ids=["duplicate top-level key", "duplicate service", "deep nesting", "recursive alias", "billion laughs", "python tag"])
def test_hostile_yaml_is_one_line(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(LabSpecError) as err:
        load_lab(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert __import__("re").search(expected, message), message


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_bytes(REFERENCE_TEXT.encode("utf-8").replace("Práctica 4".encode(), "Práctica 4".encode("latin-1"), 1))
    with pytest.raises(LabSpecError, match=r"lab\.yaml: line 1: byte 0xe1 is not UTF-8; expected a UTF-8 text file$"):
        load_lab(path)


def test_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "lab.yaml"
    with open(path, "wb") as out:
        out.write(REFERENCE_TEXT.encode())
        out.write(b"# padding\n" * 5_000_000)  # 50 MB
    with pytest.raises(LabSpecError, match=r"lab\.yaml: 50\.0 MB is too big; expected a lab file of at most 1024 KiB$"):
        load_lab(path)


@pytest.mark.parametrize("text", [
    "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)),
    "a: " + "[" * 100000 + "]" * 100000 + "\n",
    "password: x\xff\n",
], ids=["billion laughs", "deep nesting", "not UTF-8"])
def test_cli_hostile_file_exits_2_in_one_line_without_starting(tmp_path, text):
    path = tmp_path / "lab.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape") if "\xff" not in text else text.encode("latin-1"))
    state = tmp_path / "state"
    result = CliRunner(env={"LABCTL_STATE_DIR": str(state)}).invoke(app, ["up", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}: ") and result.output.count("\n") == 1, result.output
    assert not state.exists()


def test_cli_subnet_option_is_checked(tmp_path):
    for subnet, expected in [("12345", "--subnet '12345': no prefix; expected a network address and prefix such as 172.29.7.0/24"),
                             ("172.29.1.0", "--subnet '172.29.1.0': no prefix; expected a network address and prefix such as 172.29.7.0/24"),
                             ("172.29.1.5/24", "--subnet '172.29.1.5/24': host bits set; expected the network address, 172.29.1.0/24"),
                             ("300.1.1.0/24", "--subnet '300.1.1.0/24': expected a network address and prefix such as 172.29.7.0/24"),
                             ("127.0.0.0/24", "127.0.0.0/24 is in the loopback range")]:
        result = CliRunner().invoke(app, ["render", "--subnet", subnet, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and expected in result.output and result.output.count("\n") == 1, result.output
        assert not (tmp_path / "out").exists()
