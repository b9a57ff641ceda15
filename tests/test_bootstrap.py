"""scripts/bootstrap.sh, the README's first command: a failed install of labctl stops it
with the reason, instead of going on to build images with whatever `labctl` is on PATH."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_failed_pip_install_stops_bootstrap(tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    # Only `python3 -m pip` fails (as without network or with a broken pyproject); a `labctl`
    # run after it would mark that bootstrap went on.
    (stubs / "python3").write_text("#!/bin/sh\necho 'ERROR: No matching distribution found for typer>=0.12'\nexit 1\n")
    (stubs / "labctl").write_text(f"#!/bin/sh\ntouch {tmp_path / 'labctl-ran'}\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    result = subprocess.run([str(ROOT / "scripts" / "bootstrap.sh")], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"})
    assert result.returncode == 1, result.stderr
    assert "No matching distribution found for typer" in result.stderr
    assert result.stderr.rstrip().endswith("bootstrap: installing labctl failed (pip install -e '.[test]', above); nothing else was done")
    assert not (tmp_path / "labctl-ran").exists()
