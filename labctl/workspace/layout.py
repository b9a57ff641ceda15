"""The files of a workspace and where each one goes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labctl.paths import installed_dir, workspace_dir
from labctl.render.configs import BACKUP_MX, STUDENT_OPTIONS, STUDENT_ZONES
from labctl.render.plan import StudentDirs
from labctl.spec.errors import LabSpecError
from labctl.spec.models import Lab, Workspace

REGISTRATION = "registro.yaml"
ANSWERS = "respuestas.yaml"


def zone_name(domain: str) -> str:
    return f"db.{domain}"


@dataclass(frozen=True)
class Layout:
    lab: Lab
    dirs: StudentDirs

    @classmethod
    def of(cls, lab: Lab, instance: str) -> "Layout":
        return cls(lab, StudentDirs(workspace_dir(instance), installed_dir(instance)))

    @property
    def spec(self) -> Workspace:
        if self.lab.workspace is None:
            raise LabSpecError(f"lab {self.lab.name} has no workspace: only exercise 10 has one ('labctl up --exercise 10')")
        return self.lab.workspace

    @property
    def domain(self) -> str:
        return self.spec.domain

    def dns_servers(self) -> dict[str, bool]:
        """The student's dns servers, each with whether it is the primary."""
        return {self.spec.primary: True, **{name: False for name in self.spec.secondaries}}

    def server_files(self, primary: bool) -> list[str]:
        return [STUDENT_OPTIONS, STUDENT_ZONES] + ([zone_name(self.domain)] if primary else [])

    def workspace(self, *parts: str) -> Path:
        return self.dirs.workspace.joinpath(*parts)

    def installed(self, *parts: str) -> Path:
        return self.dirs.installed.joinpath(*parts)
