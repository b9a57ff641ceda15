"""Rendering: every config file comes from templates; zones pass named-checkzone."""
from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

import dns.zone
import pytest
import yaml
from testcontainers.core.container import DockerContainer
from typer.testing import CliRunner

from labctl.cli import app
from labctl.render.compose import render_compose
from labctl.mailserver.config import Retry
from labctl.render.configs import mta_retry, render_configs
from labctl.runtime.project import prepare
from labctl.spec.loader import load_lab


@pytest.fixture(scope="module")
def lab():
    return load_lab("practica4")


@pytest.fixture(scope="module")
def files(lab):
    return {str(f.path): f.content for f in render_configs(lab)}


def test_every_service_gets_its_files(files):
    expected = {
        "resolv.conf",
        "dns-redes/named.conf",
        "dns-redes/root.hints",
        "dns-redes/db.redes.unlp.edu.ar",
        "dns-practica-redes/named.conf",
        "dns-practica-redes/db.practica.redes.unlp.edu.ar",
        "http/nginx.conf",
        "http/site/index.html",
        "mail/dovecot.conf",
        "mail/users",
        "mail/mta.yaml",
    }
    assert set(files) == expected


def test_zone_parses_with_every_course_record(files):
    zone = dns.zone.from_text(files["dns-redes/db.redes.unlp.edu.ar"], origin="redes.unlp.edu.ar.")
    mx = sorted((r.preference, r.exchange.to_text()) for r in zone.find_rdataset("@", "MX"))
    assert mx == [(5, "mail"), (10, "mail2")]
    assert zone.find_rdataset("saludo", "TXT")[0].strings == (b"HOLA",)
    assert zone.find_rdataset("ftp", "CNAME")[0].target.to_text() == "www"
    assert zone.find_rdataset("www", "A").ttl == 300
    assert zone.find_rdataset("ns-sv-a", "A").ttl == 604800
    soa = zone.find_rdataset("@", "SOA")[0]
    assert (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum) == (2020031700, 604800, 86400, 2419200, 86400)
    assert sorted(r.target.to_text() for r in zone.find_rdataset("practica", "NS")) == ["ns1.practica", "ns2.practica"]


def test_recursion_and_transfer_follow_the_lab(files):
    assert "recursion yes;" in files["dns-redes/named.conf"]
    assert "allow-transfer { any; };" in files["dns-redes/named.conf"]
    assert "recursion no;" in files["dns-practica-redes/named.conf"]
    # recursion never leaves the lab: the only root hint is the lab resolver
    assert "172.28.0.29" in files["dns-redes/root.hints"]


def test_mail_configs_share_accounts_and_maildirs(files):
    mta = yaml.safe_load(files["mail/mta.yaml"])
    assert mta["banner"] == "mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)"
    assert mta["size_limit"] == 10240000
    assert {a["user"] for a in mta["accounts"]} >= {"alumnopop", "alumnoimap"}
    assert f"mail_location = maildir:{mta['maildir_root']}/%d/%n/Maildir" in files["mail/dovecot.conf"]
    assert "alumnopop@redes.unlp.edu.ar:{PLAIN}alumnopoppass:" in files["mail/users"]


def test_deferred_mail_stays_queued_five_days_as_postfix_keeps_it(files):
    # Exercise 9 reads the deferral of mail that can never arrive: it must not bounce in an hour.
    assert yaml.safe_load(files["mail/mta.yaml"])["retry"]["give_up_after"] == 5 * 24 * 3600


def test_resolv_conf_points_at_lab_dns(files):
    assert "nameserver 172.28.0.29" in files["resolv.conf"]
    assert "127.0.0.11" not in files["resolv.conf"]


def test_txt_values_are_escaped(tmp_path):
    from labctl.render.templating import zone_txt

    assert zone_txt('v=spf1 "x"') == '"v=spf1 \\"x\\""'
    assert zone_txt("a" * 300).count('"') == 4


def test_compose_file_runs_the_same_plan(lab, tmp_path):
    plan = prepare(lab, "practica4", target=tmp_path)
    compose = yaml.safe_load(render_compose(plan))
    assert compose["version"] == "2.4"
    assert set(compose["services"]) == {c.service for c in plan.containers}
    mail = compose["services"]["mail"]
    assert mail["networks"]["simunet"]["ipv4_address"] == "172.28.0.90"
    assert mail["sysctls"]["net.ipv4.ip_unprivileged_port_start"] == "0"
    assert compose["networks"]["simunet"]["ipam"]["config"][0] == {"subnet": "172.28.0.0/24", "gateway": "172.28.0.1"}
    capture = compose["services"]["capture"]
    assert capture["network_mode"] == "host" and capture["cap_add"] == ["NET_RAW", "SETUID", "SETGID"]
    assert "privileged" not in capture
    for name, service in compose["services"].items():  # as `labctl up` makes them
        c = plan.container(name)
        assert (service["cap_drop"], service.get("cap_add", []), service["mem_limit"], service["pids_limit"]) == (["ALL"], list(c.cap_add), c.mem_limit, c.pids_limit)
    captures = str(plan.container("capture").mounts[0].source)
    for service in compose["services"].values():
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert source.startswith(str(tmp_path)) or source in plan.volumes or source == captures


def test_render_cli_writes_files_and_starts_nothing(tmp_path, engine):
    from labctl.runtime.project import instances

    before = instances(engine)
    result = CliRunner().invoke(app, ["render", "practica4", "--out", str(tmp_path), "--compose"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dns-redes" / "named.conf").is_file()
    assert (tmp_path / "docker-compose.yml").is_file()
    assert instances(engine) == before


def test_rerender_rewrites_only_changes_and_drops_its_own_stale_files(tmp_path, lab):
    from labctl.render.configs import RenderedFile
    from labctl.render.writer import write_configs

    files = render_configs(lab)
    (tmp_path / "notes.txt").write_text("the user's own file")
    (tmp_path / ".git").mkdir()
    assert len(write_configs(files + [RenderedFile(PurePosixPath("old/stale.conf"), "x")], tmp_path)) == len(files) + 1
    assert write_configs(files, tmp_path) == []
    assert not (tmp_path / "old").exists()  # what labctl wrote earlier and no longer renders
    assert (tmp_path / "notes.txt").read_text() == "the user's own file"  # never touched
    assert (tmp_path / ".git").is_dir()


def test_zones_pass_named_checkzone(lab, tmp_path, engine, test_label):
    """The real BIND tool in the real dns image checks every rendered zone."""
    prepare(lab, "practica4", target=tmp_path)
    zones = [(zone, f"{name}/db.{zone}") for name, svc in lab.services.items() for zone in svc.zones]
    container = (
        DockerContainer("labctl/dns:latest")
        .with_command("sleep infinity")
        .with_volume_mapping(str(tmp_path), "/zones", "ro")
        .with_kwargs(labels={test_label: "render"})
    )
    with container:
        wrapped = container.get_wrapped_container()
        for zone, path in zones:
            code, output = wrapped.exec_run(["named-checkzone", zone, f"/zones/{path}"])
            assert code == 0, output.decode()
            assert b"OK" in output
        code, output = wrapped.exec_run(["named-checkconf", "/zones/dns-redes/named.conf"])
        assert code == 0, output.decode()


def test_the_mta_retries_as_the_checks_expect():
    """The rendered retry schedule is mta_retry's, which the outage checks (items l, m) read."""
    lab = load_lab("practica4-ej10")
    rendered = {str(f.path): f.content for f in render_configs(lab)}
    for name in ("mail", "mail-proveedor", "mail-nube"):
        schedule = yaml.safe_load(rendered[f"{name}/mta.yaml"])["retry"]
        assert schedule == dataclasses.asdict(mta_retry(lab.services[name].mta)), name
    assert mta_retry(lab.services["mail-proveedor"].mta).max_interval == 30
    assert mta_retry(lab.services["mail"].mta) == Retry()
