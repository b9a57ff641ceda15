"""Create, start, inspect and remove the lab's containers through the SDK."""
from __future__ import annotations

import time

from docker import DockerClient
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import Mount as DockerMount

from labctl.render.plan import LABEL_LAB, LABEL_SERVICE, ContainerPlan
from labctl.runtime.engine import LabError


def find_containers(engine: DockerClient, instance: str) -> dict[str, Container]:
    found = engine.containers.list(all=True, filters={"label": f"{LABEL_LAB}={instance}"})
    return {c.labels[LABEL_SERVICE]: c for c in found}


def check_images(engine: DockerClient, containers: tuple[ContainerPlan, ...]) -> None:
    missing = []
    for image in sorted({c.image for c in containers}):
        try:
            engine.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if missing:
        raise LabError(f"missing image(s) {', '.join(missing)}: run 'labctl images build'")


def create(engine: DockerClient, plan: ContainerPlan, network: str) -> Container:
    api = engine.api
    mounts = [
        DockerMount(m.target, m.source, type="volume" if m.volume else "bind", read_only=m.read_only)
        for m in plan.mounts
    ]
    host_config = api.create_host_config(
        mounts=mounts,
        network_mode=plan.network_mode or network,
        sysctls=plan.sysctls or None,
        cap_add=list(plan.cap_add) or None,
        init=True,
    )
    networking = None if plan.network_mode else api.create_networking_config({network: api.create_endpoint_config(ipv4_address=plan.ip)})
    try:
        created = api.create_container(
            plan.image,
            command=list(plan.command) if plan.command else None,
            name=plan.name,
            hostname=None if plan.network_mode else plan.hostname,
            labels=plan.labels,
            host_config=host_config,
            networking_config=networking,
        )
    except APIError as exc:
        raise LabError(f"cannot create container {plan.name!r}: {exc.explanation or exc}") from None
    return engine.containers.get(created["Id"])


def start(container: Container) -> None:
    try:
        container.start()
    except APIError as exc:
        raise LabError(f"cannot start container {container.name!r}: {exc.explanation or exc}") from None


def wait_for_log(container: Container, marker: bytes, timeout: float) -> None:
    """Wait until the container has printed `marker` (its own word that it is ready)."""
    deadline = time.monotonic() + timeout
    while marker not in container.logs():
        container.reload()
        if container.status not in ("running", "created"):
            last = container.logs(tail=1).decode(errors="replace").strip()
            raise LabError(f"container {container.name!r} exited before it was ready: {last}")
        if time.monotonic() > deadline:
            raise LabError(f"container {container.name!r} did not say {marker.decode()!r} within {timeout:.0f} s")
        time.sleep(0.05)


def remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except NotFound:
        pass  # already gone: that is what we wanted


def death_reason(engine: DockerClient, container_id: str) -> str | None:
    """Why a container is not running (exit code and last log line), or None while it runs."""
    container = engine.containers.get(container_id)
    if container.status in ("running", "created", "restarting"):
        return None
    state = container.attrs["State"]
    last = container.logs(tail=3).decode(errors="replace").strip().splitlines()
    return f"container exited with code {state.get('ExitCode')}" + (f": {last[-1]}" if last else "")
