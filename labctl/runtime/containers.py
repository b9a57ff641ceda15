"""Create, start, inspect and remove the lab's containers through the SDK."""
from __future__ import annotations

import threading

from docker import DockerClient
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import LogConfig
from docker.types import Mount as DockerMount

from labctl.render.plan import LABEL_LAB, LABEL_SERVICE, LOG_MAX_FILES, LOG_MAX_SIZE, ContainerPlan
from labctl.runtime import images
from labctl.runtime.engine import LabError


def find_all(engine: DockerClient, instance: str) -> list[Container]:
    return engine.containers.list(all=True, filters={"label": f"{LABEL_LAB}={instance}"})


def find_containers(engine: DockerClient, instance: str) -> dict[str, Container]:
    """The instance's container of each service; one set aside by an interrupted
    recreate (renamed) never hides the service's own."""
    found = sorted(find_all(engine, instance), key=lambda c: c.name != f"{instance}-{c.labels[LABEL_SERVICE]}", reverse=True)
    return {c.labels[LABEL_SERVICE]: c for c in found}


def lab_address(container: Container, network: Network) -> str | None:
    """The address the container has configured on this very network (None: not attached)."""
    endpoint = container.attrs["NetworkSettings"]["Networks"].get(network.name)
    if not endpoint or endpoint.get("NetworkID") != network.id:
        return None
    return (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or endpoint.get("IPAddress") or None


def attach(network: Network, container: Container, plan: ContainerPlan) -> bool:
    """Put the container back on the lab network at its planned address if it
    was disconnected (or its network was recreated); True when it had to."""
    if plan.network_mode or lab_address(container, network) == plan.ip:
        return False
    if network.name in container.attrs["NetworkSettings"]["Networks"]:
        try:
            network.disconnect(container, force=True)  # attached with another address
        except (APIError, NotFound):
            pass  # the endpoint belonged to a network that is gone
    try:
        network.connect(container, ipv4_address=plan.ip)
    except APIError as exc:
        raise LabError(f"cannot reconnect {container.name!r} to {network.name!r} at {plan.ip}: {exc.explanation or exc}") from None
    container.reload()
    return True


def set_aside(container: Container) -> None:
    """Stop and rename a container that a new one replaces; its name and address are free."""
    try:
        container.stop(timeout=5)
        container.rename(f"{container.name}-replaced-{container.id[:8]}")
    except APIError as exc:
        raise LabError(f"cannot set {container.name!r} aside to replace it: {exc.explanation or exc}") from None


def check_images(engine: DockerClient, containers: tuple[ContainerPlan, ...]) -> None:
    needed = {c.image for c in containers}
    found = images.present(engine, needed)
    missing = sorted(needed - found.keys())
    if missing:
        raise LabError(f"missing image(s) {', '.join(missing)}: run 'labctl images build'")
    out_of_date = images.stale(found)
    if out_of_date:
        raise LabError(f"image(s) {', '.join(out_of_date)} built from older sources than this labctl's images/: "
                       "run 'labctl images build' (cached layers make it quick)")


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
        cap_drop=["ALL"],
        cap_add=list(plan.cap_add) or None,
        mem_limit=plan.mem_limit,
        # No swap beyond the limit: a runaway is stopped, not paged out slowly.
        memswap_limit=plan.mem_limit,
        pids_limit=plan.pids_limit,
        nano_cpus=int(plan.cpus * 1e9) or None,
        tmpfs=plan.tmpfs or None,
        log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": LOG_MAX_SIZE, "max-file": str(LOG_MAX_FILES)}),
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
    """Wait until the container has printed `marker` (its own word that it is ready).
    The log is followed: one request that the engine answers line by line as they
    come, and that ends when the container exits; polling it cost a request (and the
    engine a read of the whole log) every few milliseconds, while labs start beside it."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        lines.close()  # ends the iteration below

    lines = container.logs(stream=True, follow=True)
    timer = threading.Timer(timeout, expire)
    timer.start()
    seen = b""
    try:
        for chunk in lines:
            # Kept: enough of the end of the log for a marker split across chunks.
            seen = seen[-len(marker):] + chunk
            if marker in seen:
                return
    finally:
        timer.cancel()
        lines.close()
    if expired.is_set():
        raise LabError(f"container {container.name!r} did not say {marker.decode()!r} within {timeout:.0f} s")
    last = container.logs(tail=1).decode(errors="replace").strip()
    raise LabError(f"container {container.name!r} exited before it was ready: {last}")


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
