"""Ctrl-C during `labctl class up`: no student's lab starts after it. The labs under way
finish whole; `class up` again carries on, `class down --purge` removes them."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from labctl.classroom import record as records
from labctl.cli import app

CLASS = "t-int"
POOL = "10.135.0.0/21"
STUDENTS = ("uno", "dos", "tres", "cuatro", "cinco")


def labs_started(engine) -> set[str]:
    labs = (c.attrs["Labels"]["labctl.lab"] for c in engine.containers.list(all=True, sparse=True, filters={"label": "labctl.lab"}))
    return {lab.removeprefix(f"{CLASS}-") for lab in labs if lab.startswith(f"{CLASS}-")}


def test_ctrl_c_starts_no_further_lab(engine, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id\n" + "\n".join(STUDENTS) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "labctl.cli", "class", "up", str(roster), "--exercise", "4", "--name", CLASS,
               "--pool", POOL, "--ssh-port", "22960", "--parallel", "1"]
    # As from a terminal: SIGINT reaches the command even when the suite runs with it ignored.
    up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not labs_started(engine):
            assert time.monotonic() < deadline and up.poll() is None, up.stdout.read().decode()
            time.sleep(0.05)
        up.send_signal(signal.SIGINT)
        output = up.communicate(timeout=60)[0].decode()
        assert up.returncode == 130, output
        assert output.endswith(f"error: interrupted: no further lab was started, the ones under way finished; 'labctl class status "
                               f"--name {CLASS}' shows them, 'labctl class up {roster}' again carries on, 'labctl class down "
                               f"--name {CLASS} --purge' removes the class\n"), output
        time.sleep(1)  # nothing may start late either
        # The signal comes as the first lab's containers appear; on a loaded host that lab may
        # be done by then and the next one under way: it finishes, and nothing after it starts.
        started = labs_started(engine)
        assert started in ({"uno"}, {"uno", "dos"}), output
    finally:
        up.kill()
        CliRunner().invoke(app, ["class", "down", "--name", CLASS, "--purge"])
    assert CLASS not in records.all_names() and not labs_started(engine)
