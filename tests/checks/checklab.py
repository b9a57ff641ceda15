"""Labs for the check tests: each module brings up one exercise on its own instance and
subnet (other tests share the engine), and a simulated student in `client`."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

from labctl.capture import lab_capture_files, load_capture
from labctl.checks import CheckContext, build_checks
from labctl.checks.base import CheckResult, Status
from labctl.render.configs import MAIL_DATA_DIR, MAILDIR_ROOT
from labctl.runtime import containers as ctr
from labctl.runtime import project
from labctl.spec.loader import load_lab
from labctl.spec.models import Lab, Role

CAPTURE_DEADLINE = 10.0


@dataclass
class ExerciseLab:
    engine: object
    lab: Lab
    instance: str
    exercise: str

    @property
    def client(self):
        return ctr.find_containers(self.engine, self.instance)["client"]

    def ip(self, service: str) -> str:
        return str(self.lab.services[service].ip)

    def student(self, *command: str) -> str:
        """Run a command in the client container, as the student would in the VM."""
        code, output = self.client.exec_run(list(command))
        text = output.decode(errors="replace")
        assert code == 0, f"{command[:2]} failed ({code}): {text[-800:]}"
        return text

    def python(self, script: str) -> str:
        return self.student("python3", "-c", script)

    def forget_mail(self) -> None:
        """Empty every mailbox and the MTA's log, as a reset leaves them, without restarting
        the lab: each legitimate way of doing the work is then proven on its own."""
        containers = ctr.find_containers(self.engine, self.instance)
        for name, service in self.lab.services.items():
            if service.role is Role.mail:
                code, output = containers[name].exec_run(
                    ["sh", "-c", f"rm -rf {MAILDIR_ROOT}/*/*/Maildir && : > {MAIL_DATA_DIR}/log/mta.jsonl"])
                assert code == 0, output

    def captured(self) -> None:
        """Wait until what the student just did is in the capture: a near miss must be
        there when the check is asserted to fail, or the assertion proves nothing.
        tcpdump writes packets in order, so once a marker query sent after the
        student's action is in the file, the action is too."""
        marker = f"sync-{uuid.uuid4().hex[:12]}.redes.unlp.edu.ar"
        self.client.exec_run(["dig", f"@{self.ip(self.lab.resolver)}", "+tries=1", "+time=1", marker, "A"])
        deadline = time.monotonic() + CAPTURE_DEADLINE
        while not any(m.qname == f"{marker}." for m in load_capture(lab_capture_files(self.instance)).dns_messages()):
            assert time.monotonic() < deadline, f"the marker query {marker} never reached the capture"
            time.sleep(0.1)

    def context(self, handin=None) -> CheckContext:
        """What a check run sees of the lab (read afresh)."""
        return CheckContext(self.engine, self.lab, self.instance, handin)

    def check(self, check_id: str, handin=None) -> CheckResult:
        checks = {c.spec.id: c for c in build_checks(self.lab, self.exercise)}
        return checks[check_id].execute(self.context(handin))

    def eventually(self, check_id: str, handin=None, timeout: float = 20.0,
                   until: Callable[[CheckResult], bool] = lambda result: result.status is Status.PASS) -> CheckResult:
        """The check's result once it passes (or once `until` holds: a failure's detail that
        needs the MTA's delivery log), or its last result after `timeout` (mail is delivered
        and relayed asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.check(check_id, handin)
            if until(result) or time.monotonic() > deadline:
                return result
            time.sleep(0.3)

    def reset(self) -> None:
        """As `labctl reset` leaves the lab (fresh containers, empty mailboxes, MTA log and
        capture), so that one more legitimate way of doing the work is proven on its own."""
        project.down(self.engine, self.instance)
        project.clear_evidence(self.instance)
        project.up(self.engine, self.lab, self.instance, self.exercise)


def exercise_lab(engine, exercise: str, second: bool = False):
    """Bring the exercise's lab up on 172.29.<N>.0/24 as chk-ex<N>; down at the end.
    `second`: another lab of the exercise beside it (chk-ex<N>-2 on 172.29.<100+N>.0/24),
    for a student whose capture must hold nothing of the others'."""
    instance = f"chk-ex{exercise}" + ("-2" if second else "")
    subnet = f"172.29.{int(exercise) + (100 if second else 0)}.0/24"
    lab = load_lab("practica4", exercise=exercise, subnet=subnet)
    project.down(engine, instance)  # a previous run killed half-way
    project.up(engine, lab, instance, exercise)
    try:
        yield ExerciseLab(engine, lab, instance, exercise)
    finally:
        project.down(engine, instance)


def assert_fails(result: CheckResult) -> None:
    assert result.status is Status.FAIL, f"{result.id} should fail: {result.status} {result.detail}"


def assert_passes(result: CheckResult) -> None:
    assert result.status is Status.PASS, f"{result.id} should pass: {result.status} {result.detail}"
