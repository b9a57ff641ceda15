"""Build the lab images through the Docker SDK (classic builder, no registry)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Callable

from docker import DockerClient
from docker.errors import APIError, BuildError, ImageNotFound

from labctl.paths import IMAGES_DIR, PROJECT_ROOT
from labctl.render.plan import image_name
from labctl.runtime.engine import LabError

BASE_IMAGE = "labctl/base:bookworm"
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
            labels={"labctl.image": spec.role},
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
