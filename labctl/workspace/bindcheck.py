"""BIND's own checks (named-checkconf, named-checkzone) run in the lab's real
dns image, on the student's files mounted where the server would read them."""
from __future__ import annotations

import re
from pathlib import Path

from docker import DockerClient
from docker.types import Mount

from labctl.render.configs import config_mount
from labctl.render.plan import image_name
from labctl.spec.errors import LabSpecError
from labctl.spec.models import Role

# named-checkconf's lines that say only that something failed (or loaded), never what:
# its stdout and stderr come interleaved in any order, so they may come first.
SUMMARY = re.compile(r"loaded serial|not loaded due to errors|^_default/\S+: bad zone$")
# -z repeats a zone's failure under its view ('_default/<zone>/IN: file not found'), in
# any order with the zone's own line, which says more (it names the file).
REPEATED = re.compile(r"^_default/")
LABEL_APPLY = "labctl.apply"  # throwaway checker containers, found by this label
CHECK_TIMEOUT = 30


def run_check(engine: DockerClient, instance: str, command: list[str], mounts: dict[str, Path]) -> str | None:
    """Run `command` in a throwaway dns container (no network) with `mounts`
    (container path -> host folder, read-only); its output when it fails, else None."""
    container = engine.containers.create(
        image_name(Role.dns),
        command=command,
        mounts=[Mount(target, str(source), type="bind", read_only=True) for target, source in mounts.items()],
        network_mode="none",
        labels={LABEL_APPLY: instance},
    )
    try:
        container.start()
        code = container.wait(timeout=CHECK_TIMEOUT)["StatusCode"]
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    return output if code != 0 else None


def first_problem(output: str, shown: dict[str, str]) -> str:
    """The line that says what is wrong, container paths turned into workspace
    names (`shown`: container folder -> what the student calls it): a line that
    starts with a file:line first, else the first that is not a success."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not SUMMARY.search(line)]

    def named(line: str) -> str:
        for container_path, name in shown.items():
            line = line.replace(container_path, name)
        return line

    located = [line for line in lines if line.startswith(tuple(shown))]
    unrepeated = [line for line in lines if not REPEATED.match(line)]
    return named((located or unrepeated or lines or ["BIND refused it without saying why"])[0])


def check_conf(engine: DockerClient, instance: str, config: Path, student_mount: str, workspace: Path, shown: str) -> None:
    """named-checkconf -z of a server's rendered named.conf with the student's files."""
    mounts = {config_mount(Role.dns): config, student_mount: workspace}
    output = run_check(engine, instance, ["named-checkconf", "-z", f"{config_mount(Role.dns)}/named.conf"], mounts)
    if output is None:
        return
    problem = first_problem(output, {student_mount: shown})
    if not problem.startswith(f"{shown}/"):
        # BIND names no file of the workspace (a zone's content, a file it cannot open):
        # say whose files they are, and where the server reads them.
        problem = f"{shown}/: {problem} (the server reads the files of {shown}/ as {student_mount}/<file>)"
    raise LabSpecError(problem)
