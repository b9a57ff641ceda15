"""The workspace as the student first finds it: skeleton files with Spanish
comments, never overwriting what the student wrote; and the installed copy the
servers start from (the skeleton is valid BIND, so a fresh lab starts)."""
from __future__ import annotations

from pathlib import Path

from labctl.render.configs import DELEGATIONS_FILE, STUDENT_MOUNT, STUDENT_OPTIONS, STUDENT_ZONES
from labctl.render.templating import render
from labctl.workspace.layout import ANSWERS, BACKUP_MX, REGISTRATION, Layout, zone_name


def skeleton(layout: Layout) -> dict[Path, str]:
    """Every skeleton file, by its path relative to the workspace."""
    lab, spec = layout.lab, layout.spec
    common = dict(domain=spec.domain, registry_zone=spec.registry_zone, student_mount=STUDENT_MOUNT)
    files: dict[Path, str] = {}
    for name, primary in layout.dns_servers().items():
        svc = lab.services[name]
        kind = "primary" if primary else "secondary"
        context = dict(common, hostname=svc.hostname, ip=str(svc.ip))
        files[Path(name, STUDENT_OPTIONS)] = render(f"workspace/{kind}.named.conf.options.j2", **context)
        files[Path(name, STUDENT_ZONES)] = render(f"workspace/{kind}.named.conf.local.j2", **context)
        if primary:
            files[Path(name, zone_name(spec.domain))] = render("workspace/zone.db.j2", **context)
    files[Path(REGISTRATION)] = render("workspace/registro.yaml.j2", **common)
    files[Path(BACKUP_MX)] = render("workspace/respaldo-mx.yaml.j2", **common)
    files[Path(ANSWERS)] = render("workspace/respuestas.yaml.j2", **common, servers=spec.answers_for)
    return files


def ensure_workspace(layout: Layout) -> None:
    """Write the skeleton files that are missing (the student's are kept), and an
    installed copy for every server that has none yet."""
    for relative, content in skeleton(layout).items():
        path = layout.workspace(*relative.parts)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        installed = layout.installed(*relative.parts)
        if not installed.exists():
            installed.parent.mkdir(parents=True, exist_ok=True)
            installed.write_text(content, encoding="utf-8")
    delegations = layout.installed(layout.spec.registry, DELEGATIONS_FILE)
    if not delegations.exists():
        delegations.parent.mkdir(parents=True, exist_ok=True)
        delegations.write_text("; Nothing registered yet (labctl apply installs registro.yaml here).\n", encoding="utf-8")

