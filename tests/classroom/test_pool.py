"""Subnets for a class: free /24s of the pool, never one that overlaps a taken network."""
from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from labctl.classroom.pool import allocate, host_routes
from labctl.runtime.engine import LabError


def test_taken_subnets_are_skipped():
    taken = [IPv4Network("10.128.0.0/24"), IPv4Network("10.128.2.0/23")]
    assert [str(n) for n in allocate(3, "10.128.0.0/16", taken)] == ["10.128.1.0/24", "10.128.4.0/24", "10.128.5.0/24"]


def test_a_larger_network_over_the_pool_takes_all_it_covers():
    with pytest.raises(LabError, match="only 0 free /24"):
        allocate(1, "10.128.0.0/22", [IPv4Network("10.0.0.0/8")])


def test_bad_pool_is_one_line():
    with pytest.raises(LabError, match=r"--pool 10.128.0.0/25: smaller than one lab's /24"):
        allocate(1, "10.128.0.0/25", [])
    with pytest.raises(LabError, match="--pool nonsense"):
        allocate(1, "nonsense", [])


def test_host_routes_are_read():
    # Docker's own bridge (and any lab network up now) is a route of this host.
    assert all(isinstance(n, IPv4Network) and n.prefixlen > 0 for n in host_routes())


def test_two_classes_never_share_a_subnet_or_a_port(engine):
    """Enrolling records subnets and ports (nothing starts): a second class gets others."""
    from labctl.classroom import record as records
    from labctl.classroom.lifecycle import enrol
    from labctl.classroom.record import ClassRecord
    from labctl.classroom.roster import Student
    from labctl.spec.loader import lab_file

    lab = str(lab_file("practica4").resolve())
    roster = [Student("ana", "", "", 2), Student("beto", "", "", 3)]
    first = enrol(engine, ClassRecord.new("poolone", lab, "4", "10.132.0.0/23", "r.csv", "0.0.0.0"), roster, 22500)
    try:
        second = enrol(engine, ClassRecord.new("pooltwo", lab, "4", "10.132.0.0/22", "r.csv", "0.0.0.0"), roster, 22500)
        try:
            assert [s.subnet for s in first.students] == ["10.132.0.0/24", "10.132.1.0/24"]
            assert [s.subnet for s in second.students] == ["10.132.2.0/24", "10.132.3.0/24"]
            assert not set(first.ssh_ports()) & set(second.ssh_ports())
            assert first.student("ana").params != second.student("ana").params  # each class its own secret
            again = enrol(engine, records.load("poolone"), roster, 22500)  # a second `class up` changes nothing
            assert again.students == first.students
            assert (records.class_dir("poolone") / records.RECORD_FILE).stat().st_mode & 0o777 == 0o600
        finally:
            records.remove("pooltwo")
    finally:
        records.remove("poolone")


def test_ssh_ports_bind_to_the_hosts_own_outside_address():
    import socket

    from labctl.classroom.pool import default_bind

    address = default_bind()
    assert address not in ("0.0.0.0", "127.0.0.1")  # this machine has a default route
    with socket.socket() as probe:
        probe.bind((address, 0))  # an address of this host
