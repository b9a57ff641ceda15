"""Write rendered files into a folder, and prune only what labctl wrote there before."""
from __future__ import annotations

import os
from pathlib import Path

from labctl.render.configs import RenderedFile

# The files a previous render wrote, so a re-render removes its own stale files
# and never anything else that lives in the folder.
MANIFEST = ".labctl-rendered"


def _restrict(path: Path, group: int) -> None:
    """root:<group> 0640. Only root may give a file away; run without root, the
    key stays the user's own and readable (0644) so the service still starts."""
    try:
        os.chown(path, 0, group)
        os.chmod(path, 0o640)
    except PermissionError:
        os.chmod(path, 0o644)


def write_configs(files: list[RenderedFile], config_dir: Path) -> list[Path]:
    """Write each file whose content changed, in place, and remove the ones an
    earlier render wrote that are no longer wanted.

    In place (not rename-over) because running containers bind-mount these
    paths: a rename would leave them on the old inode.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    wanted = {config_dir / f.path: f.content for f in files}
    changed = []
    for f in files:
        path, content = config_dir / f.path, f.content
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if f.secret_group is not None else 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(content)
            changed.append(path)
        if f.secret_group is not None:
            _restrict(path, f.secret_group)
    manifest = config_dir / MANIFEST
    previous = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    for relative in previous:
        path = config_dir / relative
        if path not in wanted and path.is_file():
            path.unlink()
            for parent in path.parents:
                if parent == config_dir or any(parent.iterdir()):
                    break
                parent.rmdir()
    manifest.write_text("".join(f"{f.path}\n" for f in files), encoding="utf-8")
    return changed
