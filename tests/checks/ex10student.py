"""Exercise 10's lab for the check tests, and a simulated student who writes the
workspace files (zone, BIND fragments, registration, answers) and runs
`labctl apply`, as a student would from the host."""
from __future__ import annotations

import time
from dataclasses import dataclass

from typer.testing import CliRunner

from checklab import ExerciseLab
from labctl.cli import app
from labctl.runtime import project
from labctl.spec.loader import lab_file, load_lab
from labctl.workspace.layout import Layout

INSTANCE = "chk-ex10"
SUBNET = "172.29.10.0/24"


def ex10_lab(engine, instance: str = INSTANCE, subnet: str = SUBNET):
    """Exercise 10 on its own subnet and instance (172.29.10.0/24 as chk-ex10 unless told),
    with its origin saved (apply finds it)."""
    lab = load_lab("practica4", exercise="10", subnet=subnet)
    origin = project.Origin(str(lab_file("practica4").resolve()), "10", subnet)
    project.down(engine, instance, purge=True)  # a previous run killed half-way
    project.up(engine, lab, instance, "10", origin=origin)
    try:
        yield ExerciseLab(engine, lab, instance, "10")
    finally:
        project.down(engine, instance, purge=True)


@dataclass
class Applied:
    code: int
    output: str


class Student:
    def __init__(self, ex: ExerciseLab) -> None:
        self.ex = ex
        self.layout = Layout.of(ex.lab, ex.instance)
        self.domain = self.layout.domain

    def ip(self, service: str) -> str:
        return self.ex.ip(service)

    def write(self, relative: str, text: str) -> None:
        self.layout.workspace(relative).write_text(text, encoding="utf-8")

    def read(self, relative: str) -> str:
        return self.layout.workspace(relative).read_text(encoding="utf-8")

    def apply(self) -> Applied:
        result = CliRunner().invoke(app, ["apply", "--instance", self.ex.instance])
        return Applied(result.exit_code, result.output)

    def applied(self) -> None:
        result = self.apply()
        assert result.code == 0, result.output

    # --- what a right answer looks like -------------------------------------------

    def primary_zone_conf(self, notify: str = "also-notify {{ {ns2}; }};", transfer: bool = True) -> str:
        # BIND 9.18 transfers to anyone unless told: a primary that refuses says so.
        allow = f"allow-transfer {{ {self.ip('ns2')}; }};" if transfer else "allow-transfer { none; };"
        return (f'zone "{self.domain}" {{\n    type primary;\n    file "/etc/bind/alumno/db.{self.domain}";\n'
                f"    {allow}\n    {notify.format(ns2=self.ip('ns2'))}\n}};\n")

    def secondary_zone_conf(self) -> str:
        return (f'zone "{self.domain}" {{\n    type secondary;\n    primaries {{ {self.ip("ns1")}; }};\n'
                f'    file "/var/cache/bind/db.{self.domain}";\n}};\n')

    def zone(self, serial: int, *, webmail: str = "webmail IN CNAME correo", mx: str = "@ IN MX 10 mail",
             soa_times: str = "3600 600 604800 3600", extra: str = "") -> str:
        return (f"$TTL 86400\n@ IN SOA ns1.{self.domain}. root.{self.domain}. ( {serial} {soa_times} )\n"
                f"@ IN NS ns1.{self.domain}.\n@ IN NS ns2\n{mx}\n"
                f"ns1 IN A {self.ip('ns1')}\nns2 IN A {self.ip('ns2')}\nmail IN A {self.ip('mail')}\n"
                f"correo IN A {self.ip('correo')}\n{webmail}\n{extra}")

    def serve_zone(self, serial: int, **zone) -> None:
        """ns1 primary with transfer and notify to ns2, ns2 secondary: applied."""
        self.write(f"ns1/db.{self.domain}", self.zone(serial, **zone))
        self.write("ns1/named.conf.local", self.primary_zone_conf())
        self.write("ns2/named.conf.local", self.secondary_zone_conf())
        self.applied()

    def register(self, *names: str) -> None:
        servers = "".join(f"  - {{nombre: {n}.{self.domain}, ip: {self.ip(n)}}}\n" for n in names)
        self.write("registro.yaml", f"dominio: {self.domain}\nservidores:\n{servers}")
        self.applied()

    def until(self, check_id: str, timeout: float = 10.0):
        """The check's result once it passes, or its last one (transfers take a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.ex.check(check_id)
            if result.status.value == "pass" or time.monotonic() > deadline:
                return result
            time.sleep(0.3)
