"""The jinja2 environment every rendered file comes from."""
from __future__ import annotations

import functools
from typing import Any

import jinja2

from labctl.paths import TEMPLATES_DIR


def zone_txt(value: str) -> str:
    """A TXT value as a zone-file string (quoted, escaped, split at 255 bytes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [escaped[i : i + 255] for i in range(0, len(escaped), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def fqdn(name: str) -> str:
    """A domain name with its final dot ("." stays the root)."""
    return name.rstrip(".") + "."


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        # Markup templates are named *.html.j2 / *.svg.j2: escape what they show
        # (captured text like "<alumnopop@...>" must stay text); configs are raw.
        autoescape=jinja2.select_autoescape(["html", "svg", "html.j2", "svg.j2"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["zone_txt"] = zone_txt
    env.filters["fqdn"] = fqdn
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
