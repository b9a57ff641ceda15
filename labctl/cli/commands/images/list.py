"""labctl images list."""
from __future__ import annotations

from labctl.cli.output import console, user_errors
from labctl.runtime import images
from labctl.runtime.engine import client


def command() -> None:
    """The lab images and their base image: present, out of date (older sources) or missing.

    An image is out of date when its Dockerfile, or a project file it copies, changed since it
    was built: `labctl up` refuses it until `labctl images build`."""
    with user_errors():
        engine = client()
        tags = [images.BASE_IMAGE, *(spec.tag for spec in images.image_specs())]
        stale = set(images.out_of_date(engine, set(tags)))
        for tag in tags:
            if not engine.images.list(name=tag):
                state = "[red]missing[/]"
            else:
                state = "[yellow]out of date[/] (labctl images build)" if tag in stale else "[green]present[/]"
            console.print(f"{tag:28} {state}")
