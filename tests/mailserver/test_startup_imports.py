"""The MTA listens as soon as it can: `labctl up` waits for its greeting, while the lab's
other containers start beside it on the same CPUs. What only relaying (MX lookups) and
SPF checks need is imported at their first use, not at start."""
from __future__ import annotations

import json
import subprocess
import sys


def test_the_mta_starts_without_dnspython_and_pyspf():
    probe = (
        "import json, sys\n"
        "import labctl.mailserver.__main__, labctl.mailserver.server\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout))
    assert "aiosmtpd.smtp" in loaded and "labctl.mailserver.relay" in loaded  # what the MTA serves with
    for unneeded in ("dns.resolver", "dns.asyncresolver", "spf", "labctl.mailserver.exchangers", "labctl.mailserver.spf_check"):
        assert unneeded not in loaded, unneeded
