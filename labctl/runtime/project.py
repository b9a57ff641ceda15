"""A lab instance on the engine: bring it up, tear it down, report its state.

Everything labctl creates carries the label labctl.lab=<instance>; that label,
never a name pattern, is how a lab's objects are found again.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from docker import DockerClient
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from labctl.capture.files import capture_files, stats_files
from labctl.paths import captures_dir, lab_state_dir, tls_dir
from labctl.render.configs import render_configs
from labctl.render.plan import (
    ACCESS_SERVICE, CAPTURE_SERVICE, LABEL_CONFIG_HASH, LABEL_EXERCISE, LABEL_LAB, SSH_KEYS_DIR, STATELESS_SERVICES, LabPlan, network_plan, plan_lab,
)
from labctl.render.tls import lab_certificates
from labctl.render.writer import write_configs
from labctl.runtime import containers as ctr
from labctl.runtime import firewall
from labctl.runtime.engine import LabError
from labctl.runtime.guard import clear_state, instance_lock, signals_held, terminate_as_interrupt
from labctl.runtime.network import ensure_network, find_networks, subnets_of
from labctl.runtime.parallel import all_at_once
from labctl.runtime.readiness import wait_ready
from labctl.spec.errors import LabSpecError
from labctl.spec.instance import check_instance
from labctl.spec.loader import load_lab
from labctl.spec.models import Lab, Role
from labctl.workspace.layout import Layout
from labctl.workspace.skeleton import ensure_workspace

READY_TIMEOUT = 30.0


@dataclass
class UpResult:
    plan: LabPlan
    created: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reconnected: list[str] = field(default_factory=list)  # back on the lab network at their address
    isolated: bool = False  # the host answers the lab at its gateway address only (firewall)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.started or self.reconnected)


@dataclass
class DownResult:
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    kept_volumes: list[str] = field(default_factory=list)
    purged: bool = False
    existed: bool = True  # False: nothing of the instance on the engine, and no state folder

    @property
    def removed_anything(self) -> bool:
        return bool(self.containers or self.networks or self.volumes or self.kept_volumes)


@dataclass
class ServiceStatus:
    service: str
    name: str
    state: str
    ip: str
    image: str
    exercise: str | None
    attached: bool = True

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.attached


def config_dir(instance: str) -> Path:
    return lab_state_dir(instance) / "config"


@dataclass(frozen=True)
class Origin:
    """What an instance was brought up from, so it can be reset to the same state."""

    lab: str
    exercise: str | None
    subnet: str | None
    # The lab's parameters for this instance (a class student's own passwords...).
    params: dict[str, str] = field(default_factory=dict)
    # SSH access from outside (spec.models.Access as a dict), for a class student.
    access: dict | None = None

    @staticmethod
    def path(instance: str) -> Path:
        return lab_state_dir(instance) / "origin.json"

    def save(self, instance: str) -> None:
        self.path(instance).write_text(json.dumps(asdict(self)), encoding="utf-8")

    def spec(self) -> Lab:
        """The lab definition the instance runs, with its own parameters and access."""
        lab = load_lab(self.lab, self.exercise, self.subnet, self.params)
        return Lab.model_validate({**lab.model_dump(mode="json"), "access": self.access}) if self.access else lab

    @classmethod
    def load(cls, instance: str) -> "Origin":
        check_instance(instance)
        try:
            return cls(**json.loads(cls.path(instance).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise LabError(f"lab {instance!r} was never brought up here (no {cls.path(instance)})") from None


def prepare(lab: Lab, instance: str, exercise: str | None = None, target: Path | None = None) -> LabPlan:
    """Render the lab's configuration (into its state folder unless `target`) and plan its containers."""
    files = render_configs(lab, lab_certificates(tls_dir(instance), lab))
    target = (target or config_dir(instance)).resolve()
    write_configs(files, target)
    captures = captures_dir(instance).resolve()
    captures.mkdir(parents=True, exist_ok=True)
    if lab.access:
        (lab_state_dir(instance) / SSH_KEYS_DIR).mkdir(parents=True, exist_ok=True)
    student = None
    if lab.workspace is not None:
        layout = Layout.of(lab, instance)
        ensure_workspace(layout)
        student = layout.dirs
    return plan_lab(lab, instance, target, files, exercise, captures, student)


@dataclass(frozen=True)
class Running:
    """What a lab instance runs now, read from the engine (its labels and network)."""

    containers: dict
    exercise: str | None
    subnet: str | None


def running(engine: DockerClient, instance: str) -> Running:
    found = ctr.find_containers(engine, instance)
    exercise = next((c.labels.get(LABEL_EXERCISE) for c in found.values()), None)
    subnet = next((s for net in find_networks(engine, instance) for s in subnets_of(net)), None)
    return Running(found, exercise, subnet)


def _refuse_other_lab(now: Running, lab: Lab, instance: str, exercise: str | None) -> None:
    """An instance changes in place only within one lab definition and exercise;
    anything else would tear it down half-way. Checked before touching anything."""
    if not now.containers:
        return
    # The instance named when it is not the lab's own (the default): a plain 'labctl down' would miss it.
    down = "labctl down" if instance == lab.name else f"labctl down --instance {instance}"
    again = f"; run '{down}' first (or use another --instance)"
    if now.exercise != exercise:
        what = f"exercise {now.exercise}" if now.exercise else "the reference network"
        raise LabError(f"lab {instance!r} is running {what}{again}")
    if now.subnet and now.subnet != str(lab.network.subnet):
        raise LabError(f"lab {instance!r} runs on subnet {now.subnet}, not {lab.network.subnet}{again}")
    planned = set(lab.services) | ({CAPTURE_SERVICE} if lab.capture.enabled else set()) | ({ACCESS_SERVICE} if lab.access else set())
    extra = sorted(set(now.containers) - planned)
    if extra:
        raise LabError(f"lab {instance!r} runs service(s) {', '.join(extra)} that {lab.name} does not have{again}")


def up(engine: DockerClient, lab: Lab, instance: str, exercise: str | None = None,
       timeout: float = READY_TIMEOUT, origin: Origin | None = None) -> UpResult:
    """Bring the instance up (or bring it in line with `lab`); `origin`, when
    given, is recorded so that `reset`, `check` and `grade` find the lab again.
    One change per instance at a time: a concurrent `up` waits, then converges."""
    check_instance(instance)
    with instance_lock(instance) as new:
        try:
            return _up(engine, lab, instance, exercise, timeout, origin)
        except BaseException:
            if new:  # a lab that was not there before leaves no state folder (configs, CA, captures)
                with signals_held():
                    clear_state(instance)
            raise


@dataclass
class _Undo:
    """What an `up` must undo if it fails or is interrupted: everything of the
    instance that was not there before (found by label, so an object whose
    creation was interrupted before its id came back goes too), and the
    containers it set aside to replace (renamed back and restarted)."""

    instance: str
    before: set[str]
    configs: dict[Path, bytes]  # the rendered files the running containers were made with
    replaced: list[tuple] = field(default_factory=list)  # (container, name, was running)

    @classmethod
    def snapshot(cls, engine: DockerClient, instance: str) -> "_Undo":
        folder = config_dir(instance)
        configs = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}
        return cls(instance, {obj_id for obj_id, _ in _labelled(engine, instance)}, configs)

    def run(self, engine: DockerClient) -> None:
        # Containers first: a network cannot go while one is attached.
        for obj_id, remove in _labelled(engine, self.instance):
            if obj_id not in self.before:
                _quietly(remove)
        if not find_networks(engine, self.instance):
            firewall.release(self.instance)
        if self.replaced:
            self._restore_configs()
        for old, name, was_running in self.replaced:
            _quietly(functools.partial(old.rename, name))
            if was_running:
                _quietly(old.start)

    def _restore_configs(self) -> None:
        """The containers brought back mount the config folder: give them their own files
        again (in place, as bind mounts need)."""
        for path, content in self.configs.items():
            if not path.is_file() or path.read_bytes() != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
                    out.write(content)
                    out.truncate()


def _labelled(engine: DockerClient, instance: str) -> list[tuple[str, Callable[[], None]]]:
    """(id, remover) of every container, network and volume of the instance, in removal order."""
    label = {"label": f"{LABEL_LAB}={instance}"}
    found: list[tuple[str, Callable[[], None]]] = []
    for c in engine.containers.list(all=True, filters=label):
        found.append((c.id, functools.partial(c.remove, force=True)))
    for n in engine.networks.list(filters=label):
        found.append((n.id, n.remove))
    for v in engine.volumes.list(filters=label):
        found.append((v.name, v.remove))
    return found


def _quietly(action: Callable[[], None]) -> None:
    """Rollback: a failure here must not hide the error that caused the rollback."""
    try:
        action()
    except DockerException:
        pass


def _up(engine: DockerClient, lab: Lab, instance: str, exercise: str | None, timeout: float, origin: Origin | None) -> UpResult:
    began = time.monotonic()
    now = running(engine, instance)
    _refuse_other_lab(now, lab, instance, exercise)
    undo = _Undo.snapshot(engine, instance)
    with terminate_as_interrupt():
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                # The engine makes the network (70 ms) while the configuration is rendered and
                # the images are checked; if either fails, the rollback below removes it again.
                # Ctrl-C is held back from the thread that asks for it (it inherits the mask)...
                with signals_held():
                    network = pool.submit(ensure_network, engine, network_plan(lab, instance, exercise))
                try:
                    plan = prepare(lab, instance, exercise)
                    ctr.check_images(engine, plan.containers)
                finally:
                    # ...and here until the engine has answered: the rollback must see the network.
                    with signals_held():
                        futures_wait([network])
            result = UpResult(plan)
            _converge(engine, plan, network.result()[0], now, result, undo, timeout)
        except BaseException:
            # Leave nothing half-started, and lose nothing: only what this call
            # created goes; volumes kept by `down --keep-data` stay; containers
            # set aside for a replacement come back.
            with signals_held():
                undo.run(engine)
            raise
    # The replaced containers go only now that their replacements answer.
    for old, _, _ in undo.replaced:
        ctr.remove(old)
    if origin is not None:
        origin.save(instance)
    result.seconds = time.monotonic() - began
    return result


def _converge(engine: DockerClient, plan: LabPlan, network: Network, now: Running, result: UpResult, undo: _Undo, timeout: float) -> None:
    """Make the engine hold what the plan says (its network made already): every container
    created with the current configuration, running, and attached to the lab network at its address."""
    for volume, labels in plan.volumes.items():
        try:
            engine.volumes.get(volume)
        except NotFound:
            engine.volumes.create(volume, labels=labels)

    planned = {c.name for c in plan.containers}
    for leftover in ctr.find_all(engine, plan.instance):
        if leftover.name not in planned:
            ctr.remove(leftover)  # set aside by an `up` that was killed outright

    # The engine makes containers concurrently: all are created at once, and the firewall
    # rule (a few iptables runs) is put in place meanwhile; nothing starts before it is.
    with ThreadPoolExecutor(max_workers=len(plan.containers) + 1) as pool:
        isolated = pool.submit(firewall.isolate, plan.network, plan.instance)
        to_start: list[tuple[str, Container | Future]] = []  # (service, container or its creation), plan order
        for c in plan.containers:
            current = now.containers.get(c.service)
            if current is not None and current.name == c.name and current.labels.get(LABEL_CONFIG_HASH) == c.labels[LABEL_CONFIG_HASH]:
                if ctr.attach(network, current, c):
                    result.reconnected.append(c.service)
                if current.status == "running":
                    if c.service not in result.reconnected:
                        result.unchanged.append(c.service)
                    continue
                to_start.append((c.service, current))
                result.started.append(c.service)
                continue
            if current is not None and current.name == c.name:
                # Compose v1's recreate: the old one steps aside (stopped, renamed),
                # and is removed only once the new one answers.
                undo.replaced.append((current, current.name, current.status == "running"))
                ctr.set_aside(current)
            to_start.append((c.service, pool.submit(ctr.create, engine, c, plan.network.name)))
            result.created.append(c.service)
        result.isolated = isolated.result()
        # The capture starts first, so the services' startup traffic is in it; the
        # others are still being created meanwhile.
        capture = [_made(c) for service, c in to_start if service == CAPTURE_SERVICE]
        if CAPTURE_SERVICE in result.created:
            _archive_captures(captures_dir(plan.instance))
        all_at_once(ctr.start, capture)
        _wait_for_logs(plan, capture, timeout)
        rest = _slow_to_answer_first(plan, [_made(c) for service, c in to_start if service != CAPTURE_SERVICE])

    ids = {c.labels[ctr.LABEL_SERVICE]: c.id for c in capture + rest}
    # Each service is probed as soon as its own start returns, while the engine starts the others.
    with ThreadPoolExecutor(max_workers=max(len(rest), 1)) as starter:
        starts = {c.labels[ctr.LABEL_SERVICE]: starter.submit(ctr.start, c) for c in rest}
        wait_ready(
            plan,
            timeout,
            alive=lambda service: ctr.death_reason(engine, ids[service]) if service in ids else None,
            started=starts,
        )
        for start in starts.values():
            start.result()  # those not probed (the SSH forwarder) fail the up too
    _wait_for_logs(plan, rest, timeout)


# Services that take longest to answer once their container runs: the MTA's Python imports
# and Dovecot (0.2-0.3 s; the others answer within milliseconds).
SLOW_TO_ANSWER = {Role.mail}


def _slow_to_answer_first(plan: LabPlan, containers: list[Container]) -> list[Container]:
    """The engine starts containers about in the order they are asked for: a slow one
    asked first answers while the others are still being started."""
    def slow(container: Container) -> bool:
        service = plan.lab.services.get(container.labels[ctr.LABEL_SERVICE])
        return service is not None and service.role in SLOW_TO_ANSWER

    return sorted(containers, key=lambda c: not slow(c))


def _made(container: Container | Future) -> Container:
    return container.result() if isinstance(container, Future) else container


def _wait_for_logs(plan: LabPlan, started: list, timeout: float) -> None:
    """Wait for the containers that say themselves when they are ready (plan.ready_log)."""
    for c in started:
        marker = plan.container(c.labels[ctr.LABEL_SERVICE]).ready_log
        if marker:
            ctr.wait_for_log(c, marker, timeout)


def _archive_captures(directory: Path) -> None:
    """A new capture ring must not mix with an earlier one's files (the checks
    would see old traffic); keep the old files, out of the way, not lose them."""
    old = capture_files(directory) + stats_files(directory)
    if old:
        # Nanoseconds too: two resets within one second must not share a folder.
        archive = directory / "previous" / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.{time.time_ns() % 10**9:09d}"
        archive.mkdir(parents=True, exist_ok=True)
        for path in old:
            path.rename(archive / path.name)


def down(engine: DockerClient, instance: str, keep_data: bool = False, purge: bool = False) -> DownResult:
    """Remove the instance's containers, network and (unless `keep_data`) volumes;
    `purge` also removes its state folder (captures, keys, rendered configuration)."""
    check_instance(instance)
    if purge and keep_data:
        raise LabSpecError("--purge and --keep-data: expected one of them, not both (--purge removes all the lab kept)")
    with instance_lock(instance) as new:
        result = _down(engine, instance, keep_data, purge and not new)
        result.existed = not new or result.removed_anything
        return result


def _down(engine: DockerClient, instance: str, keep_data: bool, purge: bool) -> DownResult:
    result = DownResult()
    found = ctr.find_all(engine, instance)
    all_at_once(ctr.remove, found)
    result.containers = len(found)
    stuck = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        # No container is left that the rules kept from the host: they go (a few iptables
        # runs) while the engine removes the network.
        released = pool.submit(firewall.release, instance)
        for net in find_networks(engine, instance):
            try:
                _remove_network(engine, net, [c.name for c in found])
                result.networks += 1
            except APIError as exc:
                # Everything else still goes: the rule, the volumes, the state folder.
                stuck.append(f"cannot remove network {net.name!r}: {exc.explanation or exc}")
        released.result()
    volumes = _volumes(engine, instance)
    if keep_data:
        result.kept_volumes = [volume.name for volume in volumes]
    else:
        result.volumes = _remove_volumes(volumes)
    if purge and lab_state_dir(instance).exists():
        shutil.rmtree(lab_state_dir(instance))
        result.purged = True
    if stuck:
        # An endpoint that even a forced disconnect did not delete: it goes when
        # dockerd restarts; a later `up` reuses the network.
        raise LabError("; ".join(stuck))
    return result


def _remove_network(engine: DockerClient, net, removed: list[str]) -> None:
    """Remove a lab network. dockerd 20.10 sometimes keeps the endpoint of a container
    already removed ('has active endpoints', moby#42119): a forced disconnect by the
    container's name deletes such an endpoint (the daemon's ForceEndpointDelete), then
    the network goes."""
    try:
        net.remove()
    except APIError as exc:
        if "active endpoints" not in str(exc.explanation or exc):
            raise
        for name in removed:
            try:
                engine.api.disconnect_container_from_network(name, net.id, force=True)
            except APIError:
                pass  # no endpoint of that name on this network
        net.remove()


def _volumes(engine: DockerClient, instance: str) -> list:
    return engine.volumes.list(filters={"label": f"{LABEL_LAB}={instance}"})


def _remove_volumes(volumes: list) -> int:
    for volume in volumes:
        volume.remove(force=True)
    return len(volumes)


def _clear_attempt(engine: DockerClient, instance: str) -> None:
    """What a reset removes on the engine: every container that holds something of the
    attempt (files, logs, processes) and the data volumes. The network, its firewall
    rule and the stateless services stay: `up` would make them again just the same."""
    found = [c for c in ctr.find_all(engine, instance) if c.labels.get(ctr.LABEL_SERVICE) not in STATELESS_SERVICES]
    all_at_once(ctr.remove, found)
    _remove_volumes(_volumes(engine, instance))


# What an attempt leaves in the state folder that a check could grade: the
# captures (current ring and archived ones) and rendered copies. The lab CA
# (tls/) stays: students imported it into Thunderbird once.
EVIDENCE = ("captures", "render")


def clear_evidence(instance: str) -> None:
    for name in EVIDENCE:
        shutil.rmtree(lab_state_dir(instance) / name, ignore_errors=True)


def reset(engine: DockerClient, instance: str, timeout: float = READY_TIMEOUT) -> UpResult:
    """The instance as it was first brought up: fresh containers, empty mailboxes
    and MTA log (the volume goes), and no capture of the previous attempt."""
    origin = Origin.load(instance)
    lab = origin.spec()
    with instance_lock(instance):
        _clear_attempt(engine, instance)
        clear_evidence(instance)
        return _up(engine, lab, instance, origin.exercise, timeout, origin)


def start_service(engine: DockerClient, instance: str, service: str, timeout: float = READY_TIMEOUT) -> float:
    """Start one stopped service of a running lab and wait until it answers; seconds taken."""
    began = time.monotonic()
    found = ctr.find_containers(engine, instance)
    if service not in found:
        raise LabError(f"lab {instance} has no service {service!r} (services: {', '.join(sorted(found)) or 'none'})")
    container = found[service]
    ctr.start(container)
    plan = prepare(Origin.load(instance).spec(), instance, container.labels.get(LABEL_EXERCISE))
    single = replace(plan, containers=tuple(c for c in plan.containers if c.service == service))
    wait_ready(single, timeout, alive=lambda _: ctr.death_reason(engine, container.id))
    return time.monotonic() - began


def status(engine: DockerClient, instance: str) -> list[ServiceStatus]:
    """Each container's state; `attached` is False when a service container is
    off the lab network (unreachable though running)."""
    rows = []
    networks = find_networks(engine, instance)
    for service, c in sorted(ctr.find_containers(engine, instance).items()):
        on_host = c.attrs["HostConfig"].get("NetworkMode") == "host"
        ip = next((address for net in networks if (address := ctr.lab_address(c, net))), "")
        attached = on_host or bool(ip)
        rows.append(ServiceStatus(service, c.name, c.status, ip, c.attrs["Config"]["Image"], c.labels.get(LABEL_EXERCISE), attached))
    return rows


def instances(engine: DockerClient) -> list[str]:
    """Every lab instance that has containers on this engine."""
    found = engine.containers.list(all=True, filters={"label": LABEL_LAB})
    return sorted({c.labels[LABEL_LAB] for c in found})
