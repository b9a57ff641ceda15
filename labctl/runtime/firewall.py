"""Lab containers reach the host only at their own gateway address, and never over IPv6.

The lab network is internal (Docker drops what it would forward elsewhere), but
the host itself accepts packets for any of its addresses on any interface: a
container that routes through its gateway (or crafts packets with NET_RAW)
reaches services the host offers on other bridges or on its own interface. One
INPUT rule per lab, on the lab's bridge only, drops everything addressed to the
host but the gateway; the host-as-client model (Thunderbird, dig and Wireshark
on the gateway) is unchanged.

Lab networks are made without IPv6 (no enable_ipv6), yet the kernel gives the
lab's bridge and every container an IPv6 link-local address, and the host
answers IPv6 there (any service bound to [::]): a second rule, with ip6tables,
drops all IPv6 the host gets from the lab's bridge, since a lab has no IPv6 use.
Other labs were never reachable over IPv6: link-local addresses are not routed,
each lab is a segment of its own, and no lab address is an IPv6 one
(tests/test_lab_lifecycle.py shows both). Rules carry the instance in a comment:
that is how they are found and removed, never by position.

In class mode the host is a shared server, not the student's PC: nothing of the lab
may open a connection to it, not even at the gateway, where every service the server
binds to 0.0.0.0 (its sshd, an instructor's tools) answers. A third rule drops what
the lab sends the host but replies to the host's own connections (readiness probes,
the checks, the SSH forwarder's to the client).
"""
from __future__ import annotations

import functools
import shlex
import shutil
import subprocess

from labctl.render.plan import NetworkPlan

CHAIN = "INPUT"
IPV4, IPV6 = "iptables", "ip6tables"


def _comment(instance: str) -> str:
    return f"labctl lab {instance}"


def _rules(command: str, network: NetworkPlan, instance: str) -> list[list[str]]:
    comment = ["-m", "comment", "--comment", _comment(instance), "-j", "DROP"]
    if command == IPV6:  # the lab has no IPv6 gateway, nor any use for one
        return [["-i", network.bridge, *comment]]
    # IPv4: the host answers the lab at its gateway...
    rules = [["-i", network.bridge, "!", "-d", network.gateway, *comment]]
    if network.host_closed:  # ... only its own connections' replies, in class mode
        rules.append(["-i", network.bridge, "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED", *comment])
    return rules


def _run(command: str, *args: str) -> subprocess.CompletedProcess:
    # -w: wait for the xtables lock that Docker holds while it writes its own rules.
    return subprocess.run([command, "-w", *args], capture_output=True, text=True)


@functools.cache
def available(command: str = IPV4) -> bool:
    """Only root (or CAP_NET_ADMIN) changes the host's firewall; ip6tables fails where the
    kernel has no IPv6 (nothing to drop then). Asked once per process: a class brings up
    and takes down dozens of labs in one, and every run waits for the lock that the
    engine holds while it writes its own rules."""
    return shutil.which(command) is not None and _run(command, "-S", CHAIN).returncode == 0


def isolate(network: NetworkPlan, instance: str) -> bool:
    """Install the lab's rules (once); False when this host's firewall cannot be changed."""
    if not available(IPV4):
        return False
    for command in (IPV4, IPV6):
        if not available(command):
            continue
        for rule in _rules(command, network, instance):
            if _run(command, "-C", CHAIN, *rule).returncode != 0:
                _run(command, "-I", CHAIN, "1", *rule).check_returncode()
    return True


def rules(instance: str) -> list[list[str]]:
    """The lab's rules, each as the command that prints it and its words (iptables -A INPUT ...)."""
    found = []
    for command in (IPV4, IPV6):
        if not available(command):
            continue
        for line in _run(command, "-S", CHAIN).stdout.splitlines():
            words = shlex.split(line)
            if "--comment" in words[:-1] and words[words.index("--comment") + 1] == _comment(instance):
                found.append([command, *words])
    return found


def release(instance: str) -> int:
    """Remove the lab's rules; how many there were."""
    found = rules(instance)
    for command, _append, *rule in found:
        _run(command, "-D", *rule)
    return len(found)
