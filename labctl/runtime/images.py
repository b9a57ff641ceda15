"""Build the lab images through the Docker SDK (classic builder, no registry).

Each image is labelled with a digest of what it is built from (its Dockerfile and every
file it copies from the project): after an update of labctl, an image built by the old one
is found out of date before `up` starts a container that cannot read the new configuration.
"""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from docker import DockerClient
from docker.errors import APIError, BuildError, ImageNotFound

from labctl.paths import IMAGES_DIR, PROJECT_ROOT
from labctl.render.plan import image_name
from labctl.runtime.engine import LabError

BASE_IMAGE = "labctl/base:bookworm"
SOURCE_LABEL = "labctl.source"
BASE_SCRIPT = PROJECT_ROOT / "scripts" / "make-base-image.sh"


@dataclass(frozen=True)
class ImageSpec:
    role: str
    tag: str
    dockerfile: str  # relative to the build context, the project root


def image_specs() -> list[ImageSpec]:
    """One image per folder of images/ that holds a Dockerfile."""
    return [
        ImageSpec(d.name, image_name(d.name), str((d / "Dockerfile").relative_to(PROJECT_ROOT)))
        for d in sorted(IMAGES_DIR.iterdir())
        if (d / "Dockerfile").is_file()
    ]


def source_digest(spec: ImageSpec) -> str:
    """What `spec` is built from: its Dockerfile and every project file it COPYs or ADDs."""
    dockerfile = (PROJECT_ROOT / spec.dockerfile).read_text(encoding="utf-8")
    digest = hashlib.sha256(dockerfile.encode())
    for source in _copied_sources(dockerfile):
        for path in _files_under(PROJECT_ROOT / source):
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _copied_sources(dockerfile: str) -> list[str]:
    sources = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            paths = [word for word in words[1:] if not word.startswith("--")]
            sources += paths[:-1]  # the last one is the destination
    return sources


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # Compiled files are made in the image (compileall), not copied from here.
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def present(engine: DockerClient, tags: set[str]) -> dict[str, dict[str, str]]:
    """Those of `tags` the engine has, with their labels: one request for all of them."""
    found = {}
    for image in engine.api.images(filters={"reference": sorted(tags)}):
        for tag in image.get("RepoTags") or []:
            if tag in tags:
                found[tag] = image.get("Labels") or {}
    return found


def stale(found: dict[str, dict[str, str]]) -> list[str]:
    """Those of the lab images `found` (tag -> labels) whose build sources changed since they
    were built (or that were built before images carried their digest)."""
    return [spec.tag for spec in image_specs()
            if spec.tag in found and found[spec.tag].get(SOURCE_LABEL) != source_digest(spec)]


def out_of_date(engine: DockerClient, tags: set[str]) -> list[str]:
    return stale(present(engine, tags))


def ensure_base(engine: DockerClient, log: Callable[[str], None]) -> None:
    """Make the base image offline (debootstrap + docker import) when it is missing."""
    try:
        engine.images.get(BASE_IMAGE)
        return
    except ImageNotFound:
        pass
    log(f"{BASE_IMAGE} missing: building it with {BASE_SCRIPT.name} (debootstrap, takes a minute)")
    done = subprocess.run(["bash", str(BASE_SCRIPT), BASE_IMAGE], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"{BASE_SCRIPT.name} failed (exit {done.returncode}): {last}")


def build(engine: DockerClient, spec: ImageSpec, log: Callable[[str], None]) -> str:
    """Build one image; returns its id. Build output lines go to `log`."""
    try:
        stream = engine.api.build(
            path=str(PROJECT_ROOT),
            dockerfile=spec.dockerfile,
            tag=spec.tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels={"labctl.image": spec.role, SOURCE_LABEL: source_digest(spec)},
        )
        image_id = None
        for chunk in stream:
            if "error" in chunk:
                raise BuildError(chunk["error"].strip(), [])
            line = chunk.get("stream", "").strip()
            if line:
                log(line)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except (BuildError, APIError) as exc:
        raise LabError(f"building {spec.tag} from {spec.dockerfile} failed: {exc}") from None
    if image_id is None:
        raise LabError(f"building {spec.tag} from {spec.dockerfile} produced no image")
    return image_id
