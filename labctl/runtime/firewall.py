"""Lab containers reach the host only at their own gateway address.

The lab network is internal (Docker drops what it would forward elsewhere), but
the host itself accepts packets for any of its addresses on any interface: a
container that routes through its gateway (or crafts packets with NET_RAW)
reaches services the host offers on other bridges or on its own interface. One
INPUT rule per lab, on the lab's bridge only, drops everything addressed to the
host but the gateway; the host-as-client model (Thunderbird, dig and Wireshark
on the gateway) is unchanged. Rules carry the instance in a comment: that is
how they are found and removed, never by position.
"""
from __future__ import annotations

import functools
import shlex
import shutil
import subprocess

from labctl.render.plan import NetworkPlan

CHAIN = "INPUT"


def _comment(instance: str) -> str:
    return f"labctl lab {instance}"


def _rule(network: NetworkPlan, instance: str) -> list[str]:
    return ["-i", network.bridge, "!", "-d", network.gateway, "-m", "comment", "--comment", _comment(instance), "-j", "DROP"]


def _iptables(*args: str) -> subprocess.CompletedProcess:
    # -w: wait for the xtables lock that Docker holds while it writes its own rules.
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)


@functools.cache
def available() -> bool:
    """Only root (or CAP_NET_ADMIN) changes the host's firewall. Asked once per process:
    a class brings up and takes down dozens of labs in one, and every iptables run
    waits for the lock that the engine holds while it writes its own rules."""
    return shutil.which("iptables") is not None and _iptables("-S", CHAIN).returncode == 0


def isolate(network: NetworkPlan, instance: str) -> bool:
    """Install the lab's rule (once); False when this host's firewall cannot be changed."""
    if not available():
        return False
    rule = _rule(network, instance)
    if _iptables("-C", CHAIN, *rule).returncode != 0:
        _iptables("-I", CHAIN, "1", *rule).check_returncode()
    return True


def rules(instance: str) -> list[list[str]]:
    """The lab's rules as iptables prints them (-A INPUT ...)."""
    if not available():
        return []
    found = []
    for line in _iptables("-S", CHAIN).stdout.splitlines():
        words = shlex.split(line)
        if "--comment" in words[:-1] and words[words.index("--comment") + 1] == _comment(instance):
            found.append(words)
    return found


def release(instance: str) -> int:
    """Remove the lab's rules; how many there were."""
    found = rules(instance)
    for rule in found:
        _iptables("-D", *rule[1:])
    return len(found)
