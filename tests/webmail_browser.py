"""A real browser for the webmail: Debian's chromium-headless-shell driven by Playwright from PyPI
(never `playwright install`), trusting the lab CA through an NSS database of its own."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM_PACKAGE = "chromium-headless-shell"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def chromium_binary() -> str:
    """The headless shell itself, as Debian's package installs it (not the /usr/bin wrapper script)."""
    listed = subprocess.run(["dpkg", "-L", CHROMIUM_PACKAGE], capture_output=True, text=True, check=True).stdout
    binaries = [line for line in listed.splitlines()
                if line.endswith(f"/{CHROMIUM_PACKAGE}") and "/lib/" in line and Path(line).is_file()]
    assert binaries, f"{CHROMIUM_PACKAGE} installs no binary under /usr/lib (dpkg -L)"
    return binaries[0]


def trusting_home(home: Path, ca_file: Path) -> Path:
    """A HOME whose NSS database (~/.pki/nssdb, where Chromium on Linux looks) trusts the lab CA."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "labctl lab CA", "-t", "C,,", "-i", str(ca_file)],
                   check=True, capture_output=True)
    return home


@contextmanager
def browser(home: Path, host_map: dict[str, str]):
    """Chromium that resolves each name of `host_map` to its lab address (no DNS involved)."""
    rules = ", ".join(f"MAP {name} {address}" for name, address in host_map.items())
    with sync_playwright() as playwright:
        launched: Browser = playwright.chromium.launch(
            executable_path=chromium_binary(),
            args=[*LAUNCH_ARGS, f"--host-resolver-rules={rules}"],
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        try:
            yield launched
        finally:
            launched.close()
