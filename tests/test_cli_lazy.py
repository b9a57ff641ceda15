"""The root command imports a command's module only to run it: every command is
still reachable, and `labctl up` does not load the checks, the capture reader or
the class tools. A mistyped command or option is one line, as labctl's other errors."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from labctl import cli


def _modules(package) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__)}


def test_every_command_module_is_listed_and_every_listed_command_has_its_module():
    """One command per module, one registration style: a module under labctl.cli.commands
    that the root does not list would be dead code, a listed name without a module a crash."""
    from labctl.cli import commands

    listed = {cli.module_name(name).rsplit(".", 1)[1] for name in [*cli.COMMANDS, *cli.GROUPS]}
    assert _modules(commands) == listed
    for group, names in cli.GROUPS.items():
        package = importlib.import_module(cli.module_name(group))
        assert _modules(package) == set(names), group
        assert package.__doc__  # the group's help
    for names in [(name,) for name in cli.COMMANDS] + [(g, n) for g, names in cli.GROUPS.items() for n in names]:
        module = importlib.import_module(cli.module_name(*names))
        assert callable(module.command) and module.command.__doc__, names
    root = get_command(cli.app)
    assert root.list_commands(None) == [*cli.COMMANDS, *cli.GROUPS]
    for name in root.list_commands(None):
        assert root.get_command(None, name).name == name
    assert root.get_command(None, "class").get_command(None, "up").name == "up"
    assert root.get_command(None, "no-such-command") is None
    assert root.get_command(None, "capture").get_command(None, "no-such-command") is None


def test_up_loads_only_what_up_runs():
    probe = (
        "import json, sys\n"
        "from typer.main import get_command\n"
        "from labctl.cli import _without_ssh_transport, app\n"
        "_without_ssh_transport()  # as main() does: paramiko would bring cryptography\n"
        "get_command(app).get_command(None, 'up')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout))
    assert "labctl.runtime.project" in loaded  # what up runs
    for unneeded in ("labctl.checks", "labctl.capture.capture", "labctl.capture.reader", "dpkt", "labctl.classroom",
                     "labctl.cli.commands.capture", "cryptography", "labctl.render.certificates"):
        assert unneeded not in loaded, unneeded


def imported_by_the_command(*args: str, **env: str) -> set[str]:
    """The modules `python3 -m labctl.cli ARGS` imports (as -X importtime lists them)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "labctl.cli", *args], check=True,
                          capture_output=True, text=True, env={**os.environ, **env})
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_the_command_leaves_the_ssh_transport_out_unless_the_engine_is_at_ssh():
    """The docker SDK imports paramiko whenever it is installed (here: the test extras), though
    only an ssh:// engine uses it; the commands do not, unless DOCKER_HOST is ssh://."""
    # paramiko itself is listed either way (an import refused is timed too): its modules are not.
    local = imported_by_the_command("up", "--help", DOCKER_HOST="unix:///var/run/docker.sock")
    assert "docker.api.client" in local and "paramiko.transport" not in local
    assert "paramiko.transport" in imported_by_the_command("up", "--help", DOCKER_HOST="ssh://student@lab-server")


def test_every_command_summary_is_one_paragraph_line():
    """The command lists of --help show the first paragraph of each docstring: a line break
    in it came out as a sentence cut in the middle ('fresh containers, empty mailboxes,')."""
    def summaries(group, prefix=""):
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            yield prefix + name, (command.help or "").strip().split("\n\n")[0]
            if hasattr(command, "list_commands"):
                yield from summaries(command, f"{prefix}{name} ")

    found = dict(summaries(get_command(cli.app)))
    assert {"reset", "apply", "capture list", "class up"} <= set(found)
    assert {name: text for name, text in found.items() if "\n" in text or not text} == {}


@pytest.mark.parametrize(("typed", "said"), [
    (["up", "--bogus"], "error: No such option: --bogus (see 'labctl up --help')"),
    (["check", "--exercise"], "error: Option '--exercise' requires an argument. (see 'labctl check --help')"),
    (["up", "--timeout", "abc"], "error: Invalid value for '--timeout': "),
    (["bogus"], "error: No such command 'bogus'. (see 'labctl --help')"),
    (["class", "up", "--roster"], "error: No such option: --roster (see 'labctl class up --help')"),
])
def test_a_mistyped_command_or_option_is_one_line(typed, said):
    result = CliRunner().invoke(cli.app, typed, prog_name="labctl")
    assert result.exit_code == 2
    assert result.output.startswith(said) and result.output.count("\n") == 1, result.output


def test_a_group_typed_alone_still_shows_its_help():
    result = CliRunner().invoke(cli.app, ["class"], prog_name="labctl")
    assert "Usage: labctl class" in result.output and "roster" in result.output


def test_every_example_in_a_commands_help_is_a_command_line_it_takes(tmp_path, monkeypatch):
    """An example is run as written by whoever reads --help: each names the command it is
    under, and its options and values parse (a wrong one is a usage error at once)."""
    import re

    from labctl.cli.commands.capture.export import parse_time

    monkeypatch.chdir(tmp_path)  # the files the examples read (a roster, a capture) are there
    root = get_command(cli.app)
    shown = 0
    for names in [(name,) for name in cli.COMMANDS] + [(g, n) for g, names in cli.GROUPS.items() for n in names]:
        for example in getattr(importlib.import_module(cli.module_name(*names)), "EXAMPLES", ()):
            words = example.partition("  #")[0].split()
            assert words[: len(names) + 1] == ["labctl", *names], example
            for word in words:
                if re.fullmatch(r"[\w.-]+\.(csv|pcapng)", word):
                    (tmp_path / word).touch()
            command = root
            for name in names:
                command = command.get_command(None, name)
            command.make_context(" ".join(names), words[len(names) + 1:])
            for option, value in zip(words, words[1:]):
                if option in ("--since", "--until"):  # read when the command runs
                    parse_time(value)
            shown += 1
    assert shown >= 20
    help_text = CliRunner().invoke(cli.app, ["class", "up", "--help"]).output
    assert "Examples:" in help_text and "labctl class up alumnos.csv --exercise 4" in help_text
