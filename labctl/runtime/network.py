"""The lab's bridge network."""
from __future__ import annotations

from docker import DockerClient
from docker.errors import APIError
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from labctl.render.plan import LABEL_LAB, NetworkPlan
from labctl.runtime.engine import LabError
from labctl.runtime.guard import signals_held


def find_networks(engine: DockerClient, instance: str) -> list[Network]:
    return engine.networks.list(filters={"label": f"{LABEL_LAB}={instance}"})


def subnets_of(net: Network) -> list[str]:
    """The subnets Docker's IPAM gives the network (IPv4 and IPv6), as text."""
    return [cfg["Subnet"] for cfg in (net.attrs.get("IPAM") or {}).get("Config") or [] if cfg.get("Subnet")]


def _clash(engine: DockerClient, plan: NetworkPlan) -> str:
    """Name the existing network that holds the subnet we want, if any."""
    for net in engine.networks.list():
        if plan.subnet in subnets_of(net):
            return f"network {net.name!r} already uses subnet {plan.subnet}"
    return f"subnet {plan.subnet} overlaps an existing network"


def ensure_network(engine: DockerClient, plan: NetworkPlan) -> tuple[Network, bool]:
    """The lab network, created when missing; returns (network, created)."""
    existing = [n for n in engine.networks.list(names=[plan.name]) if n.name == plan.name]
    if existing:
        net = existing[0]
        if net.attrs["Labels"].get(LABEL_LAB) != plan.labels[LABEL_LAB]:
            raise LabError(f"network {plan.name!r} exists but was not created by labctl for this lab; remove it or choose another --instance")
        if plan.subnet not in subnets_of(net):
            # Left by a `down` that the engine refused (runtime.project.up tells why).
            raise LabError(f"network {plan.name!r} exists on subnet {', '.join(subnets_of(net))}, not {plan.subnet}; "
                           f"'labctl down' removes it (if the engine refuses, it goes when dockerd restarts)")
        return net, False
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=plan.subnet, gateway=plan.gateway)])
    try:
        # Ctrl-C held back until the engine answers: cut off mid-request, the engine still made
        # the network, after the rollback had looked for it (an interrupted up left it behind).
        with signals_held():
            net = engine.networks.create(
                plan.name,
                driver="bridge",
                ipam=ipam,
                labels=plan.labels,
                # Internal: lab traffic never leaves this machine; the host, as the
                # gateway, still reaches every container (as the course VM does).
                internal=True,
                options={"com.docker.network.bridge.name": plan.bridge},
            )
    except APIError as exc:
        text = str(exc.explanation or exc)
        if "overlap" in text or "Pool" in text:
            raise LabError(f"cannot create the lab network: {_clash(engine, plan)}; run 'labctl down' for that lab or pick another subnet") from None
        raise LabError(f"cannot create network {plan.name!r}: {text}") from None
    return net, True
