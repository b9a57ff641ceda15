"""Exercise 10, items d) and e): the services and ports of each server of the
domain, measured by probing it from another host of the lab, compared with the
student's respuestas.yaml (as installed by `labctl apply`). The ports tried are
those the server listens on (its socket tables) and those the student names."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from pydantic import Field

from labctl.checks.base import Check, Params, Verdict, register
from labctl.checks.context import CheckContext
from labctl.checks.domain import workspace
from labctl.capture.probes import Probe, record_probes
from labctl.checks.listening import READ_TABLES, Listening, parse_tables
from labctl.paths import installed_dir
from labctl.runtime.parallel import all_at_once
from labctl.spec.errors import LabSpecError
from labctl.workspace.answers import Answers, Offered
from labctl.workspace.layout import ANSWERS
from labctl.workspace.yamlfile import read_model

PROBE_SOURCE = Path(__file__).with_name("portprobe.py")
# The names a student may give each protocol the probe hears.
PROTOCOL_OF = {"submission": "smtp"}


class PortsParams(Params):
    probe_from: str = Field("client", alias="from")  # the lab host the probe runs in


Measured = dict[str, dict[str, dict[int, str]]]  # service -> transport -> port -> protocol


def listening(ctx: CheckContext, servers: list[str]) -> dict[str, Listening]:
    for name in servers:
        ctx.container(name)  # looked up once, here: the reads below run in threads
    tables = all_at_once(lambda name: ctx.exec(name, READ_TABLES), servers)
    return {name: parse_tables(text) for name, text in zip(servers, tables)}


def measure(ctx: CheckContext, p: PortsParams) -> Measured:
    """Probe every server the answers are about, from `p.probe_from`, on the ports
    it listens on and the ports the student names."""
    ws = workspace(ctx)
    answers = student_answers(ctx)
    listens = listening(ctx, ws.answers_for)
    request = {}
    for name in ws.answers_for:
        claimed = answers.for_server(name) or []
        request[str(ctx.service(name).ip)] = {
            transport: sorted({a.puerto for a in claimed if a.transporte == transport} | getattr(listens[name], transport))
            for transport in ("tcp", "udp")}
    output = json.loads(ctx.exec(p.probe_from, ["python3", "-c", PROBE_SOURCE.read_text(encoding="utf-8"), json.dumps(request)]))
    # Its connections are in the capture the student reads: known as labctl's, as up's probes are.
    record_probes(ctx.instance, [Probe(*made) for made in output["probes"]])
    seen = output["ports"]
    return {name: {t: {int(port): proto for port, proto in seen[str(ctx.service(name).ip)][t].items()} for t in ("tcp", "udp")}
            for name in ws.answers_for}


def student_answers(ctx: CheckContext) -> Answers:
    path = installed_dir(ctx.instance) / ANSWERS
    try:
        return read_model(path, Answers, ANSWERS)
    except LabSpecError as exc:
        raise Verdict(str(exc)) from None


def _key(p: PortsParams) -> str:
    return f"ports:{p.probe_from}"


def _measured(ctx: CheckContext, p: PortsParams) -> Measured:
    return ctx.measured(_key(p), lambda: measure(ctx, p))


def protocol(answer: Offered) -> str:
    return PROTOCOL_OF.get(answer.servicio, answer.servicio)


def plain_web_beside_https(by_transport: dict[str, dict[int, str]]) -> set[int]:
    """The plain HTTP ports of a server that also answers HTTPS: the webmail is at https://,
    and its port 80 only sends browsers there. Naming them or not are both right answers."""
    tcp = by_transport.get("tcp", {})
    return {port for port, proto in tcp.items() if proto == "http"} if "https" in tcp.values() else set()


def _compare(wanted: set, claimed: set, show, optional: set) -> str | None:
    missing, wrong = sorted(wanted - claimed - optional), sorted(claimed - wanted)
    parts = []
    if missing:
        parts.append(f"missing {', '.join(show(x) for x in missing)}")
    if wrong:
        parts.append(f"not offered: {', '.join(show(x) for x in wrong)}")
    return "; ".join(parts) or None


def _against_answers(truth: Measured, answers: Answers, offered_by: Callable[[dict[str, dict[int, str]]], set],
                     claimed_by: Callable[[Offered], object], show: Callable[[object], str],
                     optional_by: Callable[[dict[str, dict[int, str]]], set]) -> tuple[bool, str]:
    """Each server's measured facts (`offered_by` its ports by transport) against what
    respuestas.yaml claims for it (`claimed_by` each answer); those `optional_by` gives
    may be left out."""
    problems, shown = [], []
    for server, by_transport in truth.items():
        offered = offered_by(by_transport)
        claimed = {claimed_by(a) for a in answers.for_server(server) or []}
        diff = _compare(offered, claimed, show, optional_by(by_transport))
        if diff:
            problems.append(f"{server}: {diff}")
        shown.append(f"{server}: {', '.join(show(x) for x in sorted(offered)) or 'none'}")
    if problems:
        return False, "; ".join(problems)
    return True, "; ".join(shown)


class AgainstProbe(Check):
    """A check of respuestas.yaml against the probe, which starts before the run's other checks."""

    Params = PortsParams

    def prefetch(self, ctx: CheckContext) -> bool:
        ctx.measure_soon(_key(self.params), lambda: measure(ctx, self.params))
        return True


@register("answered-services")
class AnsweredServices(AgainstProbe):
    """d) The services each server really offers, as respuestas.yaml names them."""

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        return _against_answers(
            _measured(ctx, self.params), student_answers(ctx),
            lambda by_transport: {proto for ports in by_transport.values() for proto in ports.values() if proto not in ("udp", "unknown")},
            protocol, str, lambda by_transport: {"http"} if plain_web_beside_https(by_transport) else set())


@register("answered-ports")
class AnsweredPorts(AgainstProbe):
    """e) The ports (number and transport) each server really answers on."""

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        return _against_answers(
            _measured(ctx, self.params), student_answers(ctx),
            lambda by_transport: {(port, transport) for transport, ports in by_transport.items() for port in ports},
            lambda a: (a.puerto, a.transporte), lambda x: f"{x[0]}/{x[1]}",
            lambda by_transport: {(port, "tcp") for port in plain_web_beside_https(by_transport)})
