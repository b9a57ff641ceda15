"""Shared fixtures: a real Docker engine and the practica4 lab, up once per session."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Every test run keeps its lab state apart from the user's own labs.
os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-test-state-"))
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# Labels by which test-only containers are found and removed (Ryuk is off).
TEST_LABEL = "labctl.test"


@pytest.fixture(scope="session")
def test_label() -> str:
    """Label for containers and networks a test makes itself; removed at session end."""
    return TEST_LABEL


@pytest.fixture(scope="session")
def engine():
    """The Docker engine. No engine is a failure, never a skip: CI has one."""
    from labctl.runtime.engine import client

    return client()


@pytest.fixture(scope="session", autouse=True)
def _remove_test_containers():
    yield
    from labctl.runtime.engine import LabError, client

    try:
        engine = client()
    except LabError:
        return
    for container in engine.containers.list(all=True, filters={"label": TEST_LABEL}):
        container.remove(force=True)


@pytest.fixture(scope="session")
def practica4(engine):
    """The reference lab, up for the whole session and removed at the end."""
    from labctl.runtime import project
    from labctl.spec.loader import load_lab

    lab = load_lab("practica4")
    project.down(engine, "practica4")  # a previous run killed half-way
    project.up(engine, lab, "practica4")
    yield project.prepare(lab, "practica4")
    project.down(engine, "practica4")


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    return tmp_path
