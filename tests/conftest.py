"""Shared fixtures: a real Docker engine and the practica4 lab, up once per session."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

# Every test run keeps its lab state apart from the user's own labs.
os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-test-state-"))
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# Labels by which test-only containers are found and removed (Ryuk is off).
TEST_LABEL = "labctl.test"
MINI_SUBNET = "172.31.213.0/24"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the engine (directly or through a lab fixture) is marked
    `docker`: `-m "not docker"` runs the unit tests alone."""
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def test_label() -> str:
    """Label for containers and networks a test makes itself; removed at session end."""
    return TEST_LABEL


@pytest.fixture(scope="session")
def engine(_remove_test_containers):
    """The Docker engine. No engine is a failure, never a skip: CI has one."""
    from labctl.runtime.engine import client

    return client()


@pytest.fixture(scope="session")
def _remove_test_containers():
    """At the end of a session that used the engine. A unit-test run (no lock, beside a
    docker run under it) must not: it removed the docker run's test containers mid-test."""
    yield
    from labctl.runtime.engine import client

    for container in client().containers.list(all=True, filters={"label": TEST_LABEL}):
        container.remove(force=True)


@pytest.fixture(scope="session")
def practica4(engine):
    """The reference lab, up for the whole session and removed at the end."""
    from labctl.runtime import project
    from labctl.spec.loader import load_lab

    lab = load_lab("practica4")
    project.down(engine, "practica4")  # a previous run killed half-way
    yield project.up(engine, lab, "practica4").plan
    project.down(engine, "practica4")


@pytest.fixture(scope="module")
def moved_practica4(engine, request):
    """practica4 moved to the test module's NET (a /24 prefix such as "172.31.231") as its
    INSTANCE: a lab of the module's own, up for the module and removed after it."""
    from labctl.runtime import project
    from labctl.spec.loader import load_lab

    instance, net = request.module.INSTANCE, request.module.NET
    lab = load_lab("practica4", None, f"{net}.0/24")
    project.down(engine, instance)
    yield project.up(engine, lab, instance).plan.lab
    project.down(engine, instance)


def _mini_lab(tmp_path: Path, name: str = "mini", records: list | None = None, capture: dict | None = None) -> Path:
    """A small lab (dns, mail, web) on 172.31.213.0/24, written to tmp_path/lab.yaml."""
    records = [
        {"name": "@", "type": "NS", "value": "ns"},
        {"name": "ns", "type": "A", "value": "172.31.213.10"},
        {"name": "@", "type": "MX", "priority": 10, "value": "mail"},
        {"name": "mail", "type": "A", "value": "172.31.213.20"},
        {"name": "www", "type": "A", "value": "172.31.213.30"},
        *(records or []),
    ]
    data = {
        "name": name,
        "title": "mini lab",
        "network": {"name": "mininet", "subnet": MINI_SUBNET, "gateway": "172.31.213.1"},
        "resolver": "dns",
        "services": {
            "dns": {"role": "dns", "ip": "172.31.213.10", "hostname": "ns.mini.test", "zones": ["mini.test"]},
            "mail": {"role": "mail", "ip": "172.31.213.20", "hostname": "mail.mini.test", "mail_domains": ["mini.test"]},
            "web": {"role": "web", "ip": "172.31.213.30", "hostname": "www.mini.test"},
        },
        "zones": {
            "mini.test": {
                "ttl": 300,
                "soa": {"mname": "ns.mini.test.", "rname": "root.mini.test.", "serial": 1, "refresh": 60, "retry": 60, "expire": 600, "negative": 60},
                "records": records,
            }
        },
        "mail_domains": {"mini.test": {"accounts": [{"user": "ana", "password": "anapass"}]}},
        "web": {"title": "mini", "body": "mini lab"},
    }
    if capture is not None:
        data["capture"] = capture
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def make_mini_lab():
    return _mini_lab
