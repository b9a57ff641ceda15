"""`labctl capture ...` on real capture files."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ElementTree

import pytest
from typer.testing import CliRunner

from labctl.capture import load_capture
from labctl.cli import app
from labctl.cli.commands.capture.export import parse_time
from labctl.paths import captures_dir

runner = CliRunner()


@pytest.fixture
def lab_args(lab_capture):
    """--file and --port options for the captured traffic (its servers use random ports)."""
    args = ["--file", str(lab_capture.files["ethernet"])]
    for port, proto in lab_capture.ports.protocols().items():
        args += ["--port", f"{port}={proto}"]
    return args


def invoke(*args):
    result = runner.invoke(app, ["capture", *(str(arg) for arg in args)])
    return result


def test_follow_prints_every_dialogue_with_client_and_server_marked(lab_args):
    result = invoke("follow", *lab_args)
    assert result.exit_code == 0, result.output
    assert result.output.count("=== tcp stream") == 5
    assert "S: 220 " in result.output and "C: ehlo [172.28.0.1]" in result.output
    assert "C: RETR 1" in result.output and "S: +OK Logging out." in result.output
    assert "=== dns" in result.output and "NXDOMAIN" in result.output


def test_follow_json_has_streams_exchanges_and_dns(lab_args):
    result = invoke("follow", *lab_args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    smtp = next(s for s in data["streams"] if s["proto"] == "smtp")
    assert smtp["exchanges"][0] == {"command": None, "reply": smtp["messages"][0]["text"]}
    assert [m["direction"] for m in smtp["messages"][:2]] == ["server", "client"]
    assert {m["rcode"] for m in data["dns"]} == {"NOERROR", "NXDOMAIN"}
    assert data["dns"][1]["answers"][0]["value"] == "172.28.0.50"


def test_follow_one_stream_or_one_protocol(lab_args):
    pop = json.loads(invoke("follow", *lab_args, "--proto", "pop", "--json").output)
    assert [s["proto"] for s in pop["streams"]] == ["pop"] and pop["dns"] == []
    index = pop["streams"][0]["index"]
    single = json.loads(invoke("follow", *lab_args, "--stream", index, "--json").output)
    assert single["streams"] == pop["streams"]
    dns_only = invoke("follow", *lab_args, "--proto", "dns")
    assert "=== tcp stream" not in dns_only.output and dns_only.output.count("query id=") == 3
    assert invoke("follow", *lab_args, "--stream", 99).exit_code == 1
    assert invoke("follow", *lab_args, "--proto", "ftp").exit_code == 1


def test_follow_reads_the_lab_capture_directory(lab_capture, monkeypatch, tmp_path):
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    directory = captures_dir("practica4")
    directory.mkdir(parents=True)
    shutil.copy(lab_capture.files["sll2"], directory / "lab.pcap")
    assert invoke("path").output.strip() == str(directory)
    listing = invoke("list")
    assert listing.exit_code == 0 and "lab.pcap" in listing.output and "SLL2" in listing.output
    result = invoke("follow", "--port", f"{lab_capture.ports.smtp}=smtp")
    assert result.exit_code == 0 and "C: QUIT" in result.output
    missing = invoke("follow", "--lab", "nolab")
    assert missing.exit_code == 1 and "no capture files" in missing.output


def test_export_keeps_only_the_time_window(lab_capture, lab_args, tmp_path):
    capture = load_capture([lab_capture.files["ethernet"]], ports=lab_capture.ports.protocols())
    (pop,) = capture.tcp_streams("pop")
    out = tmp_path / "window.pcap"
    result = invoke("export", out, "--file", lab_capture.files["ethernet"],
                    "--since", repr(pop.start_ts), "--until", repr(pop.end_ts))
    assert result.exit_code == 0, result.output
    written = int(result.output.split()[0])
    assert pop.packets <= written < capture.packets
    exported = load_capture([out], ports=lab_capture.ports.protocols())
    (exported_pop,) = exported.tcp_streams("pop")
    assert exported_pop.server_bytes() == pop.server_bytes()
    # Only the edges of the neighbouring connections (their FIN, the next SYN) fall inside.
    assert all(not s.messages for s in exported.streams if s.proto != "pop")
    assert exported.dns_messages() == []


def test_export_merges_rotated_files(lab_capture, tmp_path):
    source = lab_capture.files["ethernet"]
    merged = tmp_path / "merged.pcap"
    result = invoke("export", merged, "--file", source, "--file", source)
    assert result.exit_code == 0
    assert load_capture([merged]).packets == 2 * load_capture([source]).packets


def test_ladder_text_and_svg(lab_args, tmp_path):
    svg = tmp_path / "ladder.svg"
    result = invoke("ladder", *lab_args, "--proto", "smtp", "--svg", svg)
    assert result.exit_code == 0, result.output
    arrows = [line for line in result.output.splitlines() if line.rstrip().endswith(("|", ">|")) and "--" in line]
    assert len(arrows) == 13  # greeting, 6 commands (incl. the message) and their replies
    assert "ehlo [172.28.0.1]" in result.output and "(+" in result.output
    root = ElementTree.parse(svg).getroot()
    groups = root.findall("{http://www.w3.org/2000/svg}g")
    assert len(groups) == 13
    labels = [g.findall("{http://www.w3.org/2000/svg}text")[1].text for g in groups]
    # (smtplib writes "mail FROM:" up to Python 3.12, "mail from:" since 3.13)
    assert labels[0].startswith("220 ") and any(label.lower().startswith("mail from:<alumnopop@") for label in labels)


def test_wireshark_missing_is_a_clear_error(lab_args, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = invoke("wireshark", *lab_args[:2])
    assert result.exit_code == 1 and "Wireshark is not installed" in result.output


def test_parse_time_accepts_epoch_iso_and_ago():
    assert parse_time("1694548213.5") == 1694548213.5
    assert parse_time("2023-09-12T19:50:13+00:00") == 1694548213.0
    assert parse_time("10m", now=1000.0) == 400.0



def test_a_file_that_cannot_be_written_is_one_line(lab_args, tmp_path):
    """A newcomer's typo in the folder of export FILE or --svg: one line naming the file, no traceback."""
    missing = tmp_path / "no-such-folder"
    for args, target in ((["export", missing / "x.pcap", *lab_args[:2]], missing / "x.pcap"),
                         (["ladder", *lab_args, "--svg", missing / "x.svg"], missing / "x.svg")):
        result = invoke(*args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
        assert result.stderr == f"error: {target}: No such file or directory\n"
        assert not missing.exists()


def test_an_error_longer_than_the_terminal_stays_one_line():
    """Errors are read (and grepped) as one line: the console must not wrap them at 80 columns."""
    result = invoke("list", "--lab", "never-brought-up-here")
    assert result.exit_code == 1
    assert len(result.stderr) > 80 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: no capture files") and "'never-brought-up-here'" in result.stderr


@pytest.mark.parametrize("command", ["list", "path", "follow", "ladder"])
def test_a_lab_name_docker_cannot_use_is_one_line(command):
    result = invoke(command, "--lab", "mi lab")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: --instance 'mi lab': expected 1 to 32 characters") and result.stderr.count("\n") == 1
