"""Write rendered files into a folder, and prune only what labctl wrote there before."""
from __future__ import annotations

from pathlib import Path

from labctl.render.configs import RenderedFile

# The files a previous render wrote, so a re-render removes its own stale files
# and never anything else that lives in the folder.
MANIFEST = ".labctl-rendered"


def write_configs(files: list[RenderedFile], config_dir: Path) -> list[Path]:
    """Write each file whose content changed, in place, and remove the ones an
    earlier render wrote that are no longer wanted.

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
