"""The name of a lab instance: checked once, before anything is named or written after it.

An instance name becomes a folder under the state folder, the prefix of every
container, network and volume name, and a Docker label value; one check here
keeps all of them valid, and keeps state inside the state folder (no '/', no '..').
"""
from __future__ import annotations

import re

from labctl.spec.errors import LabSpecError

# Docker's own rule for container, network and volume names.
DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# Derived names add "-<service>" (at most 31 characters) and "-data": with 32
# here they stay under 70 characters, and the lab's own name (at most 31,
# the default instance) always fits.
MAX_INSTANCE = 32


def check_instance(name: str, option: str = "--instance") -> str:
    """`name` when it is a valid instance name; else one line saying what was expected."""
    if not (DOCKER_NAME.fullmatch(name) and len(name) <= MAX_INSTANCE):
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise LabSpecError(
            f"{option} {shown!r}: expected 1 to {MAX_INSTANCE} characters, letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (Docker's name rule)"
        )
    return name
