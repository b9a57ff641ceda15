"""up/down of small labs on their own subnets: cleanup by label, clear failures, nothing left behind."""
from __future__ import annotations

import json
import time

import pytest
import yaml
from typer.testing import CliRunner

from labctl.cli import app
from labctl.render.plan import image_name
from labctl.runtime import project
from labctl.runtime.engine import LabError
from labctl.spec.loader import load_lab

SUBNET = "172.31.213.0/24"  # the mini lab's (see conftest)


def leftovers(engine, instance: str) -> dict[str, list[str]]:
    label = {"label": f"labctl.lab={instance}"}
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters=label)],
        "networks": [n.name for n in engine.networks.list(filters=label)],
        "volumes": [v.name for v in engine.volumes.list(filters=label)],
    }


NOTHING = {"containers": [], "networks": [], "volumes": []}


@pytest.fixture
def clean(engine):
    instances = []
    yield instances
    for instance in instances:
        project.down(engine, instance)


def test_up_then_down_leaves_nothing(engine, tmp_path, clean, make_mini_lab):
    clean.append("mini")
    path = make_mini_lab(tmp_path)
    result = project.up(engine, load_lab(path), "mini")
    assert sorted(result.created) == ["capture", "dns", "mail", "web"]
    found = leftovers(engine, "mini")
    assert len(found["containers"]) == 4 and found["networks"] == ["mini-mininet"] and found["volumes"] == ["mini-mail-data"]
    down = CliRunner().invoke(app, ["down", str(path)])  # the instance is the lab file's name
    assert down.exit_code == 0, down.output
    assert leftovers(engine, "mini") == NOTHING


def test_down_keep_data_keeps_the_mailboxes(engine, tmp_path, clean, make_mini_lab):
    clean.append("mini")
    lab = load_lab(make_mini_lab(tmp_path))
    project.up(engine, lab, "mini")
    result = project.down(engine, "mini", keep_data=True)
    assert result.kept_volumes == ["mini-mail-data"]
    assert leftovers(engine, "mini") == {"containers": [], "networks": [], "volumes": ["mini-mail-data"]}
    # Up again reuses the kept volume; a plain down then removes it.
    project.up(engine, lab, "mini")
    project.down(engine, "mini")
    assert leftovers(engine, "mini") == NOTHING


def test_two_instances_are_isolated(engine, tmp_path, clean, make_mini_lab):
    clean.extend(["mini-a", "mini-b"])
    first = load_lab(make_mini_lab(tmp_path))
    other_dir = tmp_path / "b"
    other_dir.mkdir()
    text = make_mini_lab(other_dir).read_text().replace("172.31.213.", "172.31.214.")
    (other_dir / "lab.yaml").write_text(text)
    project.up(engine, first, "mini-a")
    project.up(engine, load_lab(other_dir / "lab.yaml"), "mini-b")
    project.down(engine, "mini-a")
    assert leftovers(engine, "mini-a") == NOTHING
    assert len(leftovers(engine, "mini-b")["containers"]) == 4


def test_subnet_clash_is_named_and_nothing_is_left(engine, test_label, tmp_path, clean, make_mini_lab):
    clean.append("mini")
    blocker = engine.networks.create(
        "labctl-test-blocker",
        ipam={"Driver": "default", "Config": [{"Subnet": SUBNET}]},
        labels={test_label: "clash"},
        internal=True,
    )
    try:
        result = CliRunner().invoke(app, ["up", str(make_mini_lab(tmp_path))])
        assert result.exit_code == 1
        assert "network 'labctl-test-blocker' already uses subnet 172.31.213.0/24" in result.output
        assert leftovers(engine, "mini") == NOTHING
    finally:
        blocker.remove()


def test_missing_image_is_named_and_nothing_is_started(engine, tmp_path, clean, monkeypatch, make_mini_lab):
    clean.append("mini")
    from labctl.render import plan

    monkeypatch.setattr(plan, "IMAGE_PREFIX", "labctl-absent")
    tag = plan.IMAGE_TAG
    with pytest.raises(LabError, match=rf"missing image\(s\) labctl-absent/capture:{tag}, labctl-absent/dns:{tag}.*: run 'labctl images build'"):
        project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
    assert leftovers(engine, "mini") == NOTHING


def test_out_of_date_image_is_named_and_nothing_is_started(engine, tmp_path, clean, monkeypatch, make_mini_lab):
    """After an update of labctl, an image built from the old sources (here: one carrying no
    digest) is named before anything starts: its container could not read the new configuration."""
    clean.append("mini")
    from labctl.render import plan
    from labctl.runtime import images

    tag = plan.IMAGE_TAG
    specs = images.image_specs()
    built = {spec.role: engine.images.get(spec.tag) for spec in specs}
    assert all(built[spec.role].labels[images.SOURCE_LABEL] == images.source_digest(spec) for spec in specs)  # as `images build` labels them
    monkeypatch.setattr(plan, "IMAGE_PREFIX", "labctl-stale")
    stale = {f"labctl-stale/{role}:{tag}" for role in built}
    for role, image in built.items():
        # dns: an image with no digest, as an older labctl built them
        (engine.images.get(images.BASE_IMAGE) if role == "dns" else image).tag(f"labctl-stale/{role}:{tag}")
    try:
        assert images.out_of_date(engine, stale) == [f"labctl-stale/dns:{tag}"]
        with pytest.raises(LabError, match=rf"image\(s\) labctl-stale/dns:{tag} built from older sources .*: run 'labctl images build'"):
            project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
        assert leftovers(engine, "mini") == NOTHING
    finally:
        for name in stale:
            engine.images.remove(name, noprune=True)


def test_service_that_never_answers_rolls_back(engine, tmp_path, clean, make_mini_lab):
    """A zone BIND refuses to load (CNAME beside other data) leaves SOA unanswered."""
    clean.append("mini")
    path = make_mini_lab(tmp_path, records=[{"name": "www", "type": "CNAME", "value": "ns"}])
    result = CliRunner().invoke(app, ["up", str(path), "--timeout", "4"])
    assert result.exit_code == 1
    assert "services did not answer within 4 s: dns: SOA mini.test answered SERVFAIL" in result.output
    assert leftovers(engine, "mini") == NOTHING


def test_other_exercise_running_is_refused(engine, tmp_path, clean, make_mini_lab):
    clean.append("mini")
    lab = load_lab(make_mini_lab(tmp_path))
    project.up(engine, lab, "mini")
    with pytest.raises(LabError, match="lab 'mini' is running the reference network; run 'labctl down' first"):
        project.up(engine, lab, "mini", exercise="7")


def test_other_exercise_running_in_a_named_instance_says_how_to_take_that_one_down(engine, tmp_path, clean, make_mini_lab):
    """A plain 'labctl down' takes down the lab's default instance, not 'mini-named'."""
    clean.append("mini-named")
    lab = load_lab(make_mini_lab(tmp_path))
    project.up(engine, lab, "mini-named")
    with pytest.raises(LabError, match=r"^lab 'mini-named' is running the reference network; run 'labctl down --instance mini-named' first \(or use another --instance\)$"):
        project.up(engine, lab, "mini-named", exercise="7")


def test_reset_empties_mailboxes_and_list_shows_instances(engine, tmp_path, clean, make_mini_lab):
    import smtplib

    clean.append("mini")
    runner = CliRunner()
    path = make_mini_lab(tmp_path)
    assert runner.invoke(app, ["up", str(path)]).exit_code == 0
    with smtplib.SMTP("172.31.213.20", 25, timeout=10) as smtp:
        smtp.sendmail("x@mini.test", ["ana@mini.test"], b"Subject: antes del reset\r\n\r\nhola\r\n")
    mail = engine.containers.list(filters={"label": ["labctl.lab=mini", "labctl.service=mail"]})[0]

    def stored() -> int:
        code, out = mail.exec_run(["sh", "-c", "find /var/lib/labctl-mail/maildirs -path '*/new/*' -type f | wc -l"])
        return int(out)

    import time

    deadline = time.monotonic() + 10
    while stored() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stored() == 1
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "mini" in listing.output and "172.31.213.0/24" in listing.output
    reset = runner.invoke(app, ["reset", "mini"])
    assert reset.exit_code == 0, reset.output
    mail = engine.containers.list(filters={"label": ["labctl.lab=mini", "labctl.service=mail"]})[0]
    assert stored() == 0


def test_reset_of_unknown_instance_is_clear():
    result = CliRunner().invoke(app, ["reset", "never-up"])
    assert result.exit_code == 1
    assert "lab 'never-up' was never brought up here" in result.output


def test_failed_up_keeps_data_kept_by_down(engine, tmp_path, clean, make_mini_lab):
    """A failing up after `down --keep-data` leaves the kept mailboxes alone."""
    clean.append("mini")
    project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
    project.down(engine, "mini", keep_data=True)
    broken = make_mini_lab(tmp_path, records=[{"name": "www", "type": "CNAME", "value": "ns"}])
    with pytest.raises(LabError, match="did not answer"):
        project.up(engine, load_lab(broken), "mini", timeout=3)
    assert leftovers(engine, "mini") == {"containers": [], "networks": [], "volumes": ["mini-mail-data"]}


def test_up_refuses_another_subnet_or_lab_before_touching_anything(engine, tmp_path, clean, make_mini_lab):
    clean.append("mini")
    path = make_mini_lab(tmp_path)
    project.up(engine, load_lab(path), "mini")
    before = {c.id for c in engine.containers.list(filters={"label": "labctl.lab=mini"})}
    moved = load_lab(path, subnet="172.31.216.0/24")
    with pytest.raises(LabError, match=r"lab 'mini' runs on subnet 172\.31\.213\.0/24, not 172\.31\.216\.0/24; run 'labctl down' first"):
        project.up(engine, moved, "mini")
    other = yaml.safe_load(path.read_text())
    other["services"].pop("web")
    other.pop("web")
    other_path = tmp_path / "other.yaml"
    other_path.write_text(yaml.safe_dump(other))
    with pytest.raises(LabError, match=r"lab 'mini' runs service\(s\) web that mini does not have"):
        project.up(engine, load_lab(other_path), "mini")
    assert {c.id for c in engine.containers.list(filters={"label": "labctl.lab=mini"})} == before


def test_render_never_touches_a_running_lab(engine, tmp_path, clean, make_mini_lab):
    from labctl.runtime.project import config_dir

    clean.append("mini")
    path = make_mini_lab(tmp_path)
    project.up(engine, load_lab(path), "mini")
    live = {p: p.read_bytes() for p in config_dir("mini").rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, ["render", str(path), "--subnet", "172.31.216.0/24", "--compose"])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in config_dir("mini").rglob("*") if p.is_file()} == live


BAD_INSTANCES = ["../../x", "a/b", ".hidden", "-x", "x y", "é", "a" * 33, ""]


@pytest.mark.parametrize("command", ["up", "down", "status", "reset", "render"])
@pytest.mark.parametrize("name", BAD_INSTANCES, ids=repr)
def test_bad_instance_name_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, command, name):
    state = tmp_path / "state"
    monkeypatch.setenv("LABCTL_STATE_DIR", str(state))
    result = CliRunner().invoke(app, [command, "--instance", name])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --instance {name!r}: expected 1 to 32 characters")
    assert result.output.count("\n") == 1
    assert not state.exists()


def test_instance_check_is_one_function_that_guards_the_state_folder():
    from labctl.paths import lab_state_dir
    from labctl.spec.instance import MAX_INSTANCE, check_instance
    from labctl.spec.loader import LabSpecError

    assert check_instance("alumno-042.B_x") == "alumno-042.B_x"
    assert check_instance("a" * MAX_INSTANCE)
    with pytest.raises(LabSpecError, match=r"^--instance '\.\.': expected"):
        lab_state_dir("..")


def test_down_purge_removes_the_state_folder(engine, tmp_path, clean, make_mini_lab):
    from labctl.paths import lab_state_dir

    clean.append("mini")
    path = make_mini_lab(tmp_path)
    project.up(engine, load_lab(path), "mini")
    assert (lab_state_dir("mini") / "tls" / "mail.key").is_file()
    kept = CliRunner().invoke(app, ["down", str(path)])
    assert kept.exit_code == 0 and lab_state_dir("mini").is_dir()  # plain down keeps captures and keys
    purged = CliRunner().invoke(app, ["down", str(path), "--purge"])
    assert purged.exit_code == 0, purged.output
    assert not lab_state_dir("mini").exists()
    assert leftovers(engine, "mini") == NOTHING


def test_down_of_a_lab_that_never_existed_says_so_and_leaves_nothing(engine, tmp_path, monkeypatch):
    """`down` is safe to run first (scripts do): exit 0, one line saying there is no such
    lab, and no state folder made by asking (the instance lock's folder goes with it)."""
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    for options in ([], ["--purge"], ["--keep-data"]):
        result = CliRunner().invoke(app, ["down", "--instance", "never-made", *options])
        assert result.exit_code == 0, result.output
        assert result.output == ("there is no lab never-made on this host (nothing of it on the engine, no state folder); "
                                 "nothing to remove\n")
        assert not (tmp_path / "labs" / "never-made").exists()
    # A lab that was up and went down keeps its state folder: that one is only not up.
    (tmp_path / "labs" / "was-up" / "captures").mkdir(parents=True)
    result = CliRunner().invoke(app, ["down", "--instance", "was-up"])
    assert (result.exit_code, result.output) == (0, "lab was-up is not up; nothing to remove\n")
    assert (tmp_path / "labs" / "was-up" / "captures").is_dir()


def test_the_instance_lock_leaves_no_empty_folder_and_a_waiter_locks_anew(tmp_path, monkeypatch):
    """The folder made for the lock goes when the change is done; a process that waited for
    the lock meanwhile holds the lock of the folder's new lock file, not of the removed one."""
    import fcntl
    import threading

    from labctl.paths import lab_state_dir
    from labctl.runtime.guard import LOCK_FILE, instance_lock

    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    folder = lab_state_dir("x")
    with instance_lock("x") as new:
        assert new and (folder / LOCK_FILE).is_file()
    assert not folder.exists()
    (folder / "tls").mkdir(parents=True)
    with instance_lock("x") as new:
        assert not new
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE, "tls"]  # state stays
    (folder / "tls").rmdir()

    waiter_in = threading.Event()
    seen = {}

    def waiter() -> None:
        with instance_lock("x"):
            with open(folder / LOCK_FILE, "a") as other:  # a third process finds it taken
                try:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen["taken"] = False
                except BlockingIOError:
                    seen["taken"] = True
            waiter_in.set()

    with instance_lock("x"):
        thread = threading.Thread(target=waiter)
        thread.start()
        assert not waiter_in.wait(0.3)  # it waits for the first holder
    thread.join(10)
    assert waiter_in.is_set() and seen == {"taken": True}
    assert not folder.exists()


def test_reset_leaves_no_evidence_of_the_previous_attempt(engine, tmp_path, clean, make_mini_lab):
    """Captures of the attempt before a reset (current ring and archived rings) are gone."""
    from labctl.capture import lab_capture_files
    from labctl.capture.files import describe
    from labctl.paths import captures_dir

    clean.append("mini")
    path = make_mini_lab(tmp_path)
    assert CliRunner().invoke(app, ["up", str(path)]).exit_code == 0
    first = lab_capture_files("mini")
    assert first
    began = time.time()
    result = CliRunner().invoke(app, ["reset", "mini"])
    assert result.exit_code == 0, result.output
    assert not (captures_dir("mini") / "previous").exists()
    # Only the new ring: every packet it holds was captured after the reset began (a size
    # bound on its startup traffic failed on a loaded machine, where probes retry more).
    assert all(describe(f).first_ts is None or describe(f).first_ts >= began for f in lab_capture_files("mini"))


def _dns_answers(ip: str) -> bool:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    try:
        return bool(dns.query.udp(dns.message.make_query("mini.test", dns.rdatatype.SOA), ip, timeout=2).answer)
    except (OSError, dns.exception.DNSException):
        return False


def test_up_converges_a_stopped_or_disconnected_service_and_status_says_so(engine, tmp_path, clean, make_mini_lab):
    import urllib.request

    clean.append("mini")
    path = make_mini_lab(tmp_path)
    lab = load_lab(path)
    project.up(engine, lab, "mini")
    engine.containers.get("mini-web").stop(timeout=1)
    engine.networks.get("mini-mininet").disconnect("mini-dns")
    assert not _dns_answers("172.31.213.10")
    status = CliRunner().invoke(app, ["status", str(path), "--json"])
    assert status.exit_code == 1, status.output
    rows = {row["service"]: row for row in json.loads(status.output)["services"]}
    assert (rows["dns"]["state"], rows["dns"]["attached"]) == ("running", False)
    assert rows["web"]["state"] == "exited" and rows["mail"]["attached"]
    result = project.up(engine, lab, "mini")
    assert result.changed and result.reconnected == ["dns"] and result.started == ["web"]
    assert _dns_answers("172.31.213.10")
    with urllib.request.urlopen("http://172.31.213.30/", timeout=5) as page:
        assert page.status == 200
    assert CliRunner().invoke(app, ["status", str(path)]).exit_code == 0


def test_a_changed_service_is_replaced_and_the_old_one_kept_until_the_new_answers(engine, tmp_path, clean, make_mini_lab):
    """Compose v1's recreate: a replacement that never answers brings the old container back."""
    clean.append("mini")
    project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
    old_dns = engine.containers.get("mini-dns").id
    broken = make_mini_lab(tmp_path, records=[{"name": "www", "type": "CNAME", "value": "ns"}])
    with pytest.raises(LabError, match="did not answer"):
        project.up(engine, load_lab(broken), "mini", timeout=3)
    back = engine.containers.get("mini-dns")
    assert back.id == old_dns and back.status == "running"
    _wait_until(lambda: _dns_answers("172.31.213.10"), timeout=20)
    assert sorted(c.name for c in engine.containers.list(all=True, filters={"label": "labctl.lab=mini"})) == ["mini-capture", "mini-dns", "mini-mail", "mini-web"]
    changed = make_mini_lab(tmp_path, records=[{"name": "extra", "type": "A", "value": "172.31.213.99"}])
    result = project.up(engine, load_lab(changed), "mini")
    assert result.created == ["dns"]
    assert engine.containers.get("mini-dns").id != old_dns and _dns_answers("172.31.213.10")
    assert len(engine.containers.list(all=True, filters={"label": "labctl.lab=mini"})) == 4


ROLE_CAPS = {
    "capture": ["NET_RAW", "SETUID", "SETGID"],
    "dns": ["NET_BIND_SERVICE", "SETUID", "SETGID"],
    "mail": ["CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "SYS_CHROOT", "KILL"],
    "web": ["NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID"],
}


def test_containers_drop_capabilities_have_limits_and_the_key_is_private(engine, tmp_path, clean, make_mini_lab):
    from labctl.runtime.project import config_dir

    clean.append("mini")
    project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
    for service, caps in ROLE_CAPS.items():
        host = engine.containers.get(f"mini-{service}").attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == sorted(caps), service
        assert 0 < host["Memory"] <= 256 * 2**20 and host["MemorySwap"] == host["Memory"] and 0 < host["PidsLimit"] <= 256, service
    key = config_dir("mini") / "mail" / "tls" / "key.pem"
    assert (key.stat().st_mode & 0o777, key.stat().st_uid, key.stat().st_gid) == (0o640, 0, 5000)
    code, out = engine.containers.get("mini-mail").exec_run(["stat", "-c", "%a %U %G", "/etc/labctl/mail/tls/key.pem"])
    assert out.decode().split() == ["640", "root", "vmail"]
    # The services still work with no more than that: STARTTLS with the key as the MTA's user.
    import smtplib
    import ssl

    from labctl.paths import tls_dir

    context = ssl.create_default_context(cafile=str(tls_dir("mini") / "ca.pem"))
    context.check_hostname = False  # reached by address; the chain is still verified
    with smtplib.SMTP("172.31.213.20", 587, timeout=10) as smtp:
        assert smtp.starttls(context=context)[0] == 220
        assert smtp.ehlo()[0] == 250


def _cli(*args: str, env: dict) -> "subprocess.Popen":
    import signal
    import subprocess
    import sys

    # As a terminal's Ctrl-C finds it: a shell that runs the suite in the background
    # (`.ci/run &`) leaves SIGINT ignored in its children, and Python keeps it so.
    return subprocess.Popen([sys.executable, "-m", "labctl.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_until(condition, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the awaited state never came"
        time.sleep(0.02)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["network created", "containers created"])
def test_interrupted_up_leaves_nothing(engine, tmp_path, clean, make_mini_lab, signal_name, moment):
    """Ctrl-C (or a kill) while `up` works: the network and containers it made go, and the
    state folder it made for a lab that was not there (configs, lab CA, captures)."""
    import os
    import signal

    clean.append("mini")
    # The dns zone never loads, so `up` waits for it until interrupted.
    path = make_mini_lab(tmp_path, records=[{"name": "www", "type": "CNAME", "value": "ns"}])
    state = tmp_path / "state"
    process = _cli("up", str(path), "--timeout", "60", env=dict(os.environ, LABCTL_STATE_DIR=str(state)))
    label = {"label": "labctl.lab=mini"}
    if moment == "network created":
        _wait_until(lambda: engine.networks.list(filters=label))
    else:
        _wait_until(lambda: len(engine.containers.list(filters=label)) == 4)
    process.send_signal(getattr(signal, signal_name))
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130, output
    assert "error: interrupted: lab mini is as it was before this up (what it had made is removed)" in output
    assert leftovers(engine, "mini") == NOTHING, output
    assert not (state / "labs" / "mini").exists(), sorted(p.name for p in state.rglob("*"))


def test_failed_up_of_a_new_lab_leaves_no_state(engine, tmp_path, clean, make_mini_lab, monkeypatch):
    """A service that never answers: nothing of the lab stays, its state folder neither (a
    second try finds no half-made lab CA or captures of a lab that never was)."""
    clean.append("mini")
    path = make_mini_lab(tmp_path, records=[{"name": "www", "type": "CNAME", "value": "ns"}])
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(app, ["up", str(path), "--timeout", "1"])
    assert result.exit_code == 1 and result.stderr.startswith("error: "), result.output
    assert leftovers(engine, "mini") == NOTHING
    assert not (tmp_path / "state" / "labs" / "mini").exists()


def test_two_concurrent_ups_converge_to_one_healthy_lab(engine, tmp_path, clean, make_mini_lab):
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from labctl.runtime.project import config_dir

    clean.append("mini")
    path = make_mini_lab(tmp_path)
    first, second = (_cli("up", str(path), env=dict(os.environ)) for _ in range(2))
    outputs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert any("nothing changed" in out for out in outputs), outputs
    assert CliRunner().invoke(app, ["status", str(path)]).exit_code == 0
    assert len(leftovers(engine, "mini")["containers"]) == 4
    tls = config_dir("mini") / "mail" / "tls"
    cert = x509.load_pem_x509_certificate((tls / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((tls / "key.pem").read_bytes(), password=None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


@pytest.fixture
def other_network(engine, test_label):
    """An internal network beside the mini lab, as another lab's (172.31.217.0/24); it and
    the containers a test labels {test_label: "firewall"} go after the test."""
    other = engine.networks.create("labctl-test-other", ipam={"Driver": "default", "Config": [{"Subnet": "172.31.217.0/24", "Gateway": "172.31.217.1"}]},
                                   labels={test_label: "firewall"}, internal=True)
    yield other
    for c in engine.containers.list(all=True, filters={"label": f"{test_label}=firewall"}):
        c.remove(force=True)
    other.remove()


def test_lab_reaches_the_host_only_at_its_gateway(engine, test_label, tmp_path, clean, make_mini_lab, other_network):
    """A lab container (whose default route is its gateway) reaches a host service at
    the gateway address, not at the host's address on another bridge; the rule goes with the lab."""
    import socket

    from labctl.runtime import firewall

    clean.append("mini")
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
        assert len(firewall.rules("mini")) == 2  # IPv4 and IPv6
        probe = engine.containers.run(
            image_name("client"),
            ["-c", f"nc -z -w 2 172.31.213.1 {port}; echo gateway=$?; nc -z -w 2 172.31.217.1 {port}; echo other=$?"],
            entrypoint=["sh"],  # only the probe: the image's entrypoint would install the lab CA first
            network="mini-mininet", cap_drop=["ALL"], labels={test_label: "firewall"}, detach=True,
        )
        assert probe.wait(timeout=30)["StatusCode"] == 0
        assert probe.logs().decode().split() == ["gateway=0", "other=1"]
        # The host, as the student's client, still reaches the lab (mail greets).
        with socket.create_connection(("172.31.213.20", 25), timeout=5) as smtp:
            assert smtp.recv(64).startswith(b"220")
        project.down(engine, "mini")
        assert firewall.rules("mini") == []


def _link_local(interface: str) -> str:
    """The host's IPv6 link-local address on one of its interfaces (from /proc/net/if_inet6)."""
    import ipaddress
    from pathlib import Path

    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        address, _, _, scope, _, name = line.split()
        if name == interface and scope == "20":  # 0x20: link scope
            return str(ipaddress.IPv6Address(bytes.fromhex(address)))
    raise AssertionError(f"{interface} has no IPv6 link-local address")


def test_lab_takes_no_ipv6_to_the_host_and_reaches_no_other_lab_over_it(engine, test_label, tmp_path, clean, make_mini_lab,
                                                                         other_network):
    """Lab networks are made without IPv6: Docker turns IPv6 off in each container, but the
    host keeps an IPv6 link-local address on the lab's bridge and answers there. A container
    that turns it back on (or, with NET_RAW, as the students' client has, writes the frames
    itself) reached a host service over IPv6, past the IPv4 rule that keeps labs to their
    gateway: the ip6tables rule drops it. Another lab's containers were never reachable over
    IPv6: link-local addresses are not routed, and each lab is a segment of its own."""
    import socket
    import subprocess

    from labctl.render.plan import bridge_name
    from labctl.runtime import containers as ctr
    from labctl.runtime import firewall

    clean.append("mini")
    ipv6_on = {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.eth0.disable_ipv6": "0"}

    def run(network: str, script: str):
        return engine.containers.run(image_name("client"), ["-c", f"sleep 2; {script}"], entrypoint=["sh"], network=network,
                                     sysctls=ipv6_on, cap_drop=["ALL"], labels={test_label: "firewall"}, detach=True)

    def output(container) -> list[str]:
        assert container.wait(timeout=30)["StatusCode"] == 0
        return container.logs().decode().split()

    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv6 only: the IPv4 rule is not what stops it
        listener.bind(("::", 0))
        listener.listen()
        port = listener.getsockname()[1]
        project.up(engine, load_lab(make_mini_lab(tmp_path)), "mini")
        assert [rule[0] for rule in firewall.rules("mini")] == ["iptables", "ip6tables"]
        code, off = ctr.find_containers(engine, "mini")["mail"].exec_run(["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"])
        assert (code, off.strip()) == (0, b"1")  # as labctl starts them, lab containers have no IPv6
        neighbour = run(other_network.name, "ip -6 -o addr show dev eth0 scope link; nc -6 -l -k -p 7000")
        deadline = time.monotonic() + 20
        while "inet6 fe80::" not in (logs := neighbour.logs().decode()):
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
        neighbour_address = logs.split("inet6 ")[1].split("/")[0]
        assert output(run(other_network.name, f"nc -6 -z -w 2 {neighbour_address}%eth0 7000; echo same=$?")) == ["same=0"]
        host = _link_local(bridge_name("mini"))
        script = (f"ip -6 -o addr show scope global | grep -c inet6; "
                  f"nc -6 -z -w 2 {host}%eth0 {port}; echo host=$?; nc -6 -z -w 2 {neighbour_address}%eth0 7000; echo other=$?")
        assert output(run("mini-mininet", script)) == ["0", "host=1", "other=1"]  # link-local only; the host takes none
        [v6] = [rule for rule in firewall.rules("mini") if rule[0] == "ip6tables"]
        subprocess.run(["ip6tables", "-w", "-D", *v6[2:]], check=True)
        assert output(run("mini-mininet", script)) == ["0", "host=0", "other=1"]  # what the rule stops
        project.down(engine, "mini")
        assert firewall.rules("mini") == []


def test_engine_tests_carry_the_docker_marker():
    """`-m "not docker"` leaves exactly the tests that need no engine."""
    import subprocess
    import sys

    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not docker", __file__],
                            capture_output=True, text=True).stdout
    assert "test_bad_instance_name_is_one_line_exit_2_and_nothing_written" in listed
    assert "test_engine_tests_carry_the_docker_marker" in listed
    assert "test_up_then_down_leaves_nothing" not in listed and "test_interrupted_up_leaves_nothing" not in listed


def test_rendered_secrets_are_tightened_even_when_they_existed(tmp_path):
    from pathlib import PurePosixPath

    from labctl.render.configs import MAIL_GID, ROOT_GID, RenderedFile
    from labctl.render.writer import write_configs

    (tmp_path / "mail" / "tls").mkdir(parents=True)
    (tmp_path / "mail" / "tls" / "key.pem").write_text("old key")  # 0644, as labctl once wrote it
    write_configs([RenderedFile(PurePosixPath("mail/tls/key.pem"), "KEY", secret_group=MAIL_GID),
                   RenderedFile(PurePosixPath("webmail/tls/key.pem"), "KEY", secret_group=ROOT_GID),
                   RenderedFile(PurePosixPath("mail/dovecot.conf"), "conf")], tmp_path)

    def owner_mode(relative: str) -> tuple[int, int, int]:
        info = (tmp_path / relative).stat()
        return info.st_mode & 0o777, info.st_uid, info.st_gid

    assert owner_mode("mail/tls/key.pem") == (0o640, 0, MAIL_GID)
    assert owner_mode("webmail/tls/key.pem") == (0o640, 0, 0)
    assert owner_mode("mail/dovecot.conf")[0] == 0o644
