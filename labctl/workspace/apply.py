"""labctl apply: validate everything the student wrote, then install it and
reload the servers without restarting the lab. Nothing is installed unless
every file passes (a broken file changes nothing, and the message says why)."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from docker import DockerClient

from labctl.mailserver.backup_mx import backup_setting
from labctl.mailserver.config import ConfigError
from labctl.render.configs import DELEGATIONS_FILE, REGISTRY_MOUNT, STUDENT_MOUNT, config_mount, zone_file
from labctl.runtime import containers as ctr
from labctl.runtime.engine import LabError
from labctl.runtime.parallel import all_at_once
from labctl.spec.errors import LabSpecError
from labctl.spec.models import Role
from labctl.workspace.answers import Answers
from labctl.workspace.bindcheck import check_conf, first_problem, run_check
from labctl.workspace.layout import ANSWERS, BACKUP_MX, REGISTRATION, Layout
from labctl.workspace.registration import Registration, delegation_text, registration_problem
from labctl.workspace.yamlfile import read_model, read_yaml
from labctl.workspace.zonesync import APEX_TYPES, behind, stale_copy


def backup_setting_problem(path: Path) -> None:
    """respaldo-mx.yaml is read by the cloud server's MTA: validated by the MTA's own rules."""
    raw = read_yaml(path, BACKUP_MX)
    try:
        backup_setting(raw, BACKUP_MX)
    except ConfigError as error:
        raise LabSpecError(str(error)) from None


@dataclass
class ApplyResult:
    installed: list[str] = field(default_factory=list)  # workspace names, as the student knows them
    reloaded: list[str] = field(default_factory=list)  # services
    behind: dict[str, int] = field(default_factory=dict)  # secondary -> the older serial it still serves
    stale: str | None = None  # what a secondary serves otherwise than the primary with the same serial


def _server_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def _replace_folder(target: Path, files: dict[str, str]) -> None:
    """The installed folder holds exactly `files`. The folder itself is
    bind-mounted, so files inside are replaced by rename (atomic for BIND)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        _write(target / name, content)
    for stale in target.iterdir():
        if stale.is_file() and stale.name not in files:
            stale.unlink()


def _write(path: Path, content: str) -> None:
    temp = path.with_name(f".{path.name}.new")
    temp.write_text(content, encoding="utf-8")
    temp.replace(path)


def _rndc(container, *args: str) -> None:
    # As BIND's own user: the container keeps no capability that would let root
    # read bind's rndc.key (cap_drop ALL).
    code, output = container.exec_run(["rndc", *args], user="bind")
    if code != 0:
        text = output.decode(errors="replace").strip().splitlines()
        raise LabError(f"{container.name}: rndc {' '.join(args)} failed: {text[-1] if text else f'exit {code}'}")


def apply(engine: DockerClient, layout: Layout, instance: str, config_dir: Path) -> ApplyResult:
    """Validate the whole workspace, then install and reload. `config_dir` is
    the running lab's rendered configuration (BIND checks run against it)."""
    spec = layout.spec
    running = ctr.find_containers(engine, instance)
    needed = [*layout.dns_servers(), spec.registry, layout.lab.resolver]
    down = [name for name in needed if name not in running or running[name].status != "running"]
    if down:
        raise LabError(f"lab {instance}: service(s) {', '.join(down)} not running; run 'labctl up' (or 'labctl start {down[0]}') first")

    # --- validate everything, install nothing --------------------------------------
    servers = {name: _server_files(layout.workspace(name)) for name in layout.dns_servers()}
    for name, files in servers.items():
        if not files:
            raise LabSpecError(f"{name}/: no files in the workspace folder {layout.workspace(name)}")

    def check_server(name: str) -> None:
        check_conf(engine, instance, config_dir / name, STUDENT_MOUNT, layout.workspace(name), name)

    registration = read_model(layout.workspace(REGISTRATION), Registration, REGISTRATION)
    problem = registration_problem(registration, spec.domain)
    if problem:
        raise LabSpecError(f"{REGISTRATION}: {problem}")
    delegation = delegation_text(registration)
    answers = read_model(layout.workspace(ANSWERS), Answers, ANSWERS)
    unknown = sorted(set(answers.root) - set(spec.answers_for))
    if unknown:
        raise LabSpecError(f"{ANSWERS}: {unknown[0]}: no such server (expected {', '.join(spec.answers_for)})")
    backup_setting_problem(layout.workspace(BACKUP_MX))

    with tempfile.TemporaryDirectory(prefix="labctl-registro-") as staged:
        Path(staged, DELEGATIONS_FILE).write_text(delegation, encoding="utf-8")
        Path(staged).chmod(0o755)

        def check_registry(_: str) -> None:
            zone = spec.registry_zone
            output = run_check(engine, instance, ["named-checkzone", zone, f"{config_mount(Role.dns)}/{zone_file(zone)}"],
                               {config_mount(Role.dns): config_dir / spec.registry, REGISTRY_MOUNT: Path(staged)})
            if output is not None:
                raise LabSpecError(f"{REGISTRATION}: the registry refuses it: {first_problem(output, {REGISTRY_MOUNT + '/' + DELEGATIONS_FILE: REGISTRATION})}")

        checks = [(check_server, name) for name in servers] + [(check_registry, spec.registry)]
        all_at_once(lambda pair: pair[0](pair[1]), checks)

    # --- install, then reload ------------------------------------------------------
    result = ApplyResult()
    reconfigured = [name for name, files in servers.items() if _server_files(layout.installed(name)) != files]
    for name, files in servers.items():
        _replace_folder(layout.installed(name), files)
        result.installed += [f"{name}/{f}" for f in files]
    _write(layout.installed(spec.registry, DELEGATIONS_FILE), delegation)
    for name in (REGISTRATION, ANSWERS, BACKUP_MX):
        shutil.copyfile(layout.workspace(name), layout.installed(name))
        result.installed.append(name)

    # The primary first, so that the secondaries find the new zone when they ask.
    for name in layout.dns_servers():
        _rndc(running[name], "reload")
        result.reloaded.append(name)
    # A NOTIFY that reached a secondary before its own reload was handled with its old
    # configuration (without the TSIG key both just got, with the primary's address the
    # student just fixed), and BIND would ask again only at the SOA's retry: a secondary
    # whose files changed asks the primary now. The others learn of the new serial by
    # NOTIFY alone, as item b shows. One that has no such zone has nothing to refresh.
    for name in spec.secondaries:
        if name in reconfigured:
            running[name].exec_run(["rndc", "refresh", spec.domain], user="bind")
    _rndc(running[spec.registry], "reload", spec.registry_zone)
    result.reloaded.append(spec.registry)
    # What the resolver cached about the domain before (a "does not exist" from
    # the registry included) would hide the change for a TTL: the lab's clock is short.
    # Flushed once the secondaries serve the new zone, or the resolver may cache theirs.
    ips = {name: str(layout.lab.services[name].ip) for name in layout.dns_servers()}
    secondaries = {name: ips[name] for name in spec.secondaries}
    result.behind = behind(ips[spec.primary], secondaries, spec.domain)
    if not result.behind:
        result.stale = stale_copy((spec.primary, ips[spec.primary]), secondaries,
                                  [(spec.domain.rstrip(".") + ".", rdtype) for rdtype in APEX_TYPES])
    _rndc(running[layout.lab.resolver], "flushtree", spec.domain)
    return result
