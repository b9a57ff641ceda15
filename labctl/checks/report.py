"""A run's results as text for the student, JSON for graders and JUnit XML for CI."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from labctl.checks.base import CheckResult, Status

INDENT = 8  # the detail and the hint sit under the check's title
MARKS = {Status.PASS: "[green]✔ pass[/]", Status.FAIL: "[red]✘ fail[/]", Status.ERROR: "[yellow]! error[/]"}


@dataclass
class Report:
    lab: str
    exercise: str
    student: str | None
    results: list[CheckResult]
    seconds: float

    @property
    def passed(self) -> int:
        return sum(r.status is Status.PASS for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def as_dict(self) -> dict:
        return {
            "lab": self.lab,
            "exercise": self.exercise,
            "student": self.student,
            # The hint too: a grader or an LMS shows the student what the text report says.
            "checks": [{"id": r.id, "title": r.title, "status": r.status.value, "detail": r.detail, "hint": r.hint}
                       for r in self.results],
            "passed": self.passed,
            "failed": self.failed,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def write_junit(self, path: Path) -> None:
        suite = ET.Element("testsuite", name=f"{self.lab}.ejercicio-{self.exercise}", tests=str(len(self.results)),
                           failures=str(sum(r.status is Status.FAIL for r in self.results)),
                           errors=str(sum(r.status is Status.ERROR for r in self.results)), time=f"{self.seconds:.3f}")
        if self.student:
            ET.SubElement(ET.SubElement(suite, "properties"), "property", name="student", value=self.student)
        for r in self.results:
            case = ET.SubElement(suite, "testcase", classname=f"{self.lab}.ejercicio-{self.exercise}", name=f"{r.id}: {r.title}")
            if r.status is not Status.PASS:
                tag = "failure" if r.status is Status.FAIL else "error"
                ET.SubElement(case, tag, message=r.detail).text = r.hint or r.detail
        tree = ET.ElementTree(suite)
        ET.indent(tree)
        tree.write(path, encoding="utf-8", xml_declaration=True)

    def print(self, console: Console) -> None:
        who = f" — {self.student}" if self.student else ""
        console.print(f"{self.lab}, ejercicio {self.exercise}{who}", style="bold", markup=False)
        for r in self.results:
            console.print(f"{MARKS[r.status]}  {escape(r.title)}  [dim]({r.id})[/]", highlight=False)
            # Indented as a block: a detail or hint wrapped by the terminal stays under its check.
            console.print(Padding(Text(r.detail, style="dim"), (0, 0, 0, INDENT), expand=False), highlight=False)
            if r.status is not Status.PASS and r.hint:
                console.print(Padding(Text(f"pista: {r.hint}", style="cyan"), (0, 0, 0, INDENT), expand=False), highlight=False)
        colour = "green" if not self.failed else "red"
        console.print(f"[{colour}]{self.passed}/{len(self.results)} checks pass[/] in {self.seconds:.2f} s")
