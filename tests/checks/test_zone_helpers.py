"""The zone checks' pure helpers: BIND's log lines as BIND 9.18 writes them, and names a
zone file completed with its origin."""
from __future__ import annotations

from labctl.checks.domain import log_events, relative_hint, soa_advice

# Lines of a real ns1 (BIND 9.18) whose named.conf says zone "REDES2024.com.ar.".
NS1_LOG = """\
29-Nov-2026 08:04:46.068 zone REDES2024.com.ar/IN: loaded serial 2024112901
29-Nov-2026 08:04:46.068 all zones loaded
29-Nov-2026 08:05:02.112 zone REDES2024.com.ar/IN: loaded serial 2024112902
"""


def test_loaded_serials_are_found_whatever_case_named_conf_spells_the_zone_in():
    events = log_events(NS1_LOG, r".*zone redes2024\.com\.ar/IN: loaded serial (\d+)")
    assert [e.serial for e in events] == [2024112901, 2024112902]
    assert log_events(NS1_LOG, r".*zone redes2023\.com\.ar/IN: loaded serial (\d+)") == []


def test_a_whole_name_before_the_zones_own_was_written_without_its_final_dot():
    zone = "redes2024.com.ar."
    assert "did you mean mx.nube.com.ar.?" in relative_hint("mx.nube.com.ar.redes2024.com.ar.", zone)
    assert "did you mean mail.redes2024.com.ar.?" in relative_hint("mail.redes2024.com.ar.redes2024.com.ar.", zone)
    assert relative_hint("mail.redes2024.com.ar.", zone) == ""
    assert relative_hint("mx.nube.com.ar.", zone) == ""


def soa(timers: str, serial: str = "2024112901") -> list[str]:
    return f"ns1.redes2024.com.ar. root.redes2024.com.ar. {serial} {timers}".split()


def test_soa_timers_rfc_1912_advises_against_are_named():
    assert soa_advice(soa("604800 86400 2419200 604800")) == []  # Debian's db.local, the course's practica zone
    assert soa_advice(soa("604800 86400 2419200 86400")) == []  # the course's redes zone
    assert soa_advice(soa("3600 600 604800 0", serial="0")) == []  # legal: serial 0, no negative caching
    assert soa_advice(soa("3600 600 1800 3600")) == ["expire (1800) is usually much longer than refresh (3600)"]
    assert soa_advice(soa("600 3600 604800 3600")) == ["retry (3600) is usually shorter than refresh (600)"]
