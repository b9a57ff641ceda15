"""Config loading errors, and the queue/log inspection CLI."""
from __future__ import annotations

import json
import smtplib
import subprocess
import sys

import pytest
import yaml

from labctl.render.configs import MTA_CONFIG
from labctl.mailserver import __main__ as mta_main
from labctl.mailserver import inspect
from labctl.mailserver.config import ConfigError, load_config

from .conftest import POP, RunningServer, make_config, wait_for

VALID = {
    "hostname": "mail.redes.unlp.edu.ar", "banner": "x ESMTP", "local_domains": ["Redes.UNLP.edu.ar"],
    "accounts": [{"address": POP, "user": "alumnopop", "password": "p"}],
    "listeners": [{"name": "smtp", "host": "0.0.0.0", "port": 25, "kind": "mta"}],
    "spool_dir": "/s", "maildir_root": "/m", "log_file": "/l", "retry": {"initial": 1},
}


def write(tmp_path, data):
    path = tmp_path / "mta.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_config_loads_with_defaults(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.local_domains == ["redes.unlp.edu.ar"]
    assert (config.size_limit, config.relay_port, config.retry.initial, config.retry.give_up_after) == (10240000, 25, 1.0, 432000)


@pytest.mark.parametrize("change, field", [
    ({"listeners": [{"name": "x", "host": "h", "port": 25, "kind": "relay"}]}, "listeners[0].kind"),
    ({"size_limit": "big"}, "size_limit"),
    ({"retry": {"initial": 1, "often": 2}}, "retry.often"),
    ({"accounts": [{"address": POP, "user": "u"}]}, "accounts[0].password"),
    ({"tls_cert": "/c"}, "tls_key"),
])
def test_bad_config_names_file_and_field(tmp_path, change, field):
    path = write(tmp_path, {**VALID, **change})
    with pytest.raises(ConfigError, match=rf"^{path}: {field.replace('[', '.').replace(']', '.')}"):
        load_config(path)


def test_bad_config_exits_2_with_one_line(tmp_path):
    path = write(tmp_path, {**VALID, "max_recipients": -1})
    result = subprocess.run([sys.executable, "-m", "labctl.mailserver", "--config", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == f"labctl-mta: {path}: max_recipients: must be positive\n"


@pytest.mark.parametrize("module, argv", [(mta_main, []), (inspect, ["queue"])])
def test_default_config_is_where_labctl_mounts_it(monkeypatch, capsys, module, argv):
    opened = []

    def refuse(path):
        opened.append(path)
        raise ConfigError(f"{path}: not read in tests")

    monkeypatch.setattr(module, "load_config", refuse)
    assert module.main(argv) == 2
    assert opened == [MTA_CONFIG] == ["/etc/labctl/mail/mta.yaml"]


def test_queue_and_log_inspection(tmp_path, dns_stub, capsys):
    dns_stub.failing = True
    config = make_config(tmp_path, resolver_port=dns_stub.port)
    with RunningServer(config) as server:
        client = smtplib.SMTP("127.0.0.1", server.submission_port)
        client.login("alumnopop", "alumnopoppass")
        client.sendmail(POP, ["far@away.example"], b"Subject: q\r\n\r\nx\r\n")
        client.quit()
        wait_for(lambda: inspect.queue_listing(config.spool_dir)[0]["recipients"][0]["status"] == "deferred")
    assert inspect.main(["queue", "--spool-dir", config.spool_dir, "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["from"] == POP and entry["recipients"][0]["address"] == "far@away.example"
    assert "4.4.3" in entry["recipients"][0]["reason"]
    assert inspect.main(["queue", "--spool-dir", config.spool_dir]) == 0
    text = capsys.readouterr().out
    assert entry["queue_id"] in text and "far@away.example [deferred]" in text
    assert inspect.main(["log", "--log-file", config.log_file, "--json"]) == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = {e["event"] for e in logged}
    assert {"connect", "command", "reply", "queued", "delivery", "disconnect"} <= kinds
    assert not any("alumnopoppass" in json.dumps(e) or "AGFsdW1ub3BvcA" in json.dumps(e) for e in logged)
