"""A real browser for the webmail: Debian's chromium-headless-shell driven by Playwright from PyPI
(never `playwright install`), trusting the lab CA through an NSS database of its own."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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


def login(page, host: str, user: str, password: str) -> None:
    """Roundcube's login form (elastic skin), then its message list."""
    page.goto(f"https://{host}/")
    page.fill("#rcmloginuser", user)
    page.fill("#rcmloginpwd", password)
    page.click("#rcmloginsubmit")
    # Attached, not visible: the elastic skin hides the list while the folder is empty.
    page.wait_for_selector("#messagelist", state="attached", timeout=20000)


def open_message(page, subject: str, attempts: int = 4) -> None:
    """Find the message in the list (read over IMAP) and open it. The list is read once per
    page: one listed before the message arrived (a loaded host delivers late) is read again."""
    row = page.locator("#messagelist tbody tr", has_text=subject).first
    for attempt in range(attempts):
        try:
            row.wait_for(timeout=10000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.reload()
    row.dblclick()
    page.wait_for_url("**_action=show**", timeout=20000)


def send(page, host: str, to: str, subject: str, body: str, attachment: Path | None = None) -> None:
    """Compose and send; Roundcube hands it to the MSA with AUTH and returns to the list."""
    page.goto(f"https://{host}/?_task=mail&_action=compose")
    page.locator(".recipient-input input").first.fill(to)
    page.fill("#compose-subject", subject)
    page.fill("#composebody", body)
    if attachment is not None:
        page.set_input_files("input[type=file][name='_attachments[]']", str(attachment))
        page.locator("#attachment-list li", has_text=attachment.name).first.wait_for(timeout=20000)
    page.locator("button.send, #rcmbtn_send, a.send").first.click()
    page.wait_for_url("**_task=mail**", timeout=20000)
    page.wait_for_selector("#messagelist", timeout=20000)
