"""The Docker engine connection, with an error a student can act on."""
from __future__ import annotations

import functools

import docker
from docker.errors import DockerException


class LabError(Exception):
    """A lab operation failed; the message names the cause in one line."""


@functools.cache
def client() -> docker.DockerClient:
    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except DockerException as exc:
        raise LabError(f"no Docker engine answers ({exc.__class__.__name__}); start one with scripts/ensure-docker.sh") from None
    return engine
