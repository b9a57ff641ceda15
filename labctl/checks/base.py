"""The Check base class, the registry of kinds and building an exercise's checks."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from docker.errors import DockerException
from pydantic import BaseModel, ConfigDict, ValidationError

from labctl.spec.loader import LabSpecError
from labctl.spec.models import Check as CheckSpec
from labctl.spec.models import Lab

if TYPE_CHECKING:
    from labctl.checks.context import CheckContext


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the check could not look (a container is down, a command failed)


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    detail: str
    hint: str


class Verdict(Exception):
    """Raised by a check that cannot look at what it needs (not the student's fault)."""


class Params(BaseModel):
    # A typo in lab.yaml must not silently turn a check off.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


REGISTRY: dict[str, type["Check"]] = {}


def register(kind: str):
    def add(cls: type["Check"]) -> type["Check"]:
        cls.kind = kind
        REGISTRY[kind] = cls
        return cls

    return add


class Check:
    """One check: `run` looks at the lab and says pass (True) or fail (False), with a detail."""

    kind: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    reads_handin: ClassVar[bool] = False  # looks at the file given with `labctl check --file`

    def __init__(self, exercise: str, spec: CheckSpec) -> None:
        self.exercise = exercise
        self.spec = spec
        try:
            self.params = self.Params.model_validate(spec.params)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "params"
            raise LabSpecError(
                f"exercise {exercise}: check {spec.id!r} ({self.kind}): param {where}: {error['msg'].removeprefix('Value error, ')}"
            ) from None

    def run(self, ctx: "CheckContext") -> tuple[bool, str]:
        raise NotImplementedError

    def prefetch(self, ctx: "CheckContext") -> bool:
        """Start, before the run's checks, what this one will wait long for (ctx.measure_soon);
        True when it did, and the run then runs it after the others, which overlap the wait."""
        return False

    def execute(self, ctx: "CheckContext") -> CheckResult:
        try:
            passed, detail = self.run(ctx)
            status = Status.PASS if passed else Status.FAIL
        except Verdict as exc:
            status, detail = Status.ERROR, str(exc)
        except (DockerException, OSError, ValueError) as exc:
            # The engine or a file failed under the check (a container stopped
            # mid-run, a truncated capture): this check errs, the run goes on.
            status, detail = Status.ERROR, f"{exc.__class__.__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001
            # A bug, or input nobody foresaw (mail anyone can send): this check errs,
            # the others and the students graded after this one still run.
            status, detail = Status.ERROR, f"the check itself failed ({exc.__class__.__name__}: {str(exc)[:200]})"
        return CheckResult(self.spec.id, self.spec.title, status, detail, self.spec.hint)


def build_checks(lab: Lab, exercise: str) -> list[Check]:
    """The exercise's checks with their params validated; a bad one raises LabSpecError."""
    if exercise not in lab.exercises:
        known = ", ".join(lab.exercises) or "none"
        raise LabSpecError(f"lab {lab.name}: no exercise {exercise!r} (known: {known})")
    checks = []
    for spec in lab.exercises[exercise].checks:
        cls = REGISTRY.get(spec.kind)
        if cls is None:
            raise LabSpecError(f"exercise {exercise}: check {spec.id!r}: unknown kind {spec.kind!r} (known: {', '.join(sorted(REGISTRY))})")
        checks.append(cls(exercise, spec))
    return checks
