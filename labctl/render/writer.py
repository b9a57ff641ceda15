"""Write rendered files into a lab's config folder."""
from __future__ import annotations

from pathlib import Path

from labctl.render.configs import RenderedFile


def write_configs(files: list[RenderedFile], config_dir: Path) -> list[Path]:
    """Write each file whose content changed, in place, and remove stale ones.

    In place (not rename-over) because running containers bind-mount these
    paths: a rename would leave them on the old inode.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    wanted = {config_dir / f.path: f.content for f in files}
    changed = []
    for path, content in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            with open(path, "w", encoding="utf-8") as out:
                out.write(content)
            changed.append(path)
    for path in sorted(config_dir.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return changed
