"""labctl stop SERVICE / labctl start SERVICE: one service goes away and comes back
with its data (exercise 10, item l), the rest of the lab untouched."""
from __future__ import annotations

import smtplib
import socket

from typer.testing import CliRunner

from labctl.checks import CheckContext
from labctl.cli import app
from labctl.runtime import containers as ctr
from labctl.runtime import project
from labctl.spec.loader import lab_file, load_lab


def test_stop_keeps_the_mailbox_and_start_waits_until_it_answers(engine, tmp_path, make_mini_lab):
    path = make_mini_lab(tmp_path)
    lab = load_lab(path)
    project.down(engine, "mini")
    project.up(engine, lab, "mini", origin=project.Origin(str(lab_file(path)), None, None))
    try:
        mail = str(lab.services["mail"].ip)
        with smtplib.SMTP(mail, 25, timeout=10) as smtp:
            smtp.sendmail("x@example.org", ["ana@mini.test"], b"Subject: antes\r\n\r\nguardado\r\n")
        runner = CliRunner()
        stopped = runner.invoke(app, ["stop", "mail", "--lab", str(path)])
        assert stopped.exit_code == 0, stopped.output
        found = ctr.find_containers(engine, "mini")
        assert found["mail"].status == "exited" and found["dns"].status == "running"
        try:
            socket.create_connection((mail, 25), timeout=1).close()
            raise AssertionError("port 25 still answers with mail stopped")
        except OSError:
            pass
        started = runner.invoke(app, ["start", "mail", "--lab", str(path)])
        assert started.exit_code == 0 and "started mail" in started.output, started.output
        with smtplib.SMTP(mail, 25, timeout=10) as smtp:  # it answers as soon as start returns
            assert smtp.noop()[0] == 250
        subjects = [m.summary.subject for m in CheckContext(engine, lab, "mini").messages("ana@mini.test")]
        assert subjects == ["antes"]
        unknown = runner.invoke(app, ["start", "nadie", "--lab", str(path)])
        assert unknown.exit_code == 1 and "no service 'nadie'" in unknown.output
    finally:
        project.down(engine, "mini")
