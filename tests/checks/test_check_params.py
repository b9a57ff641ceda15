"""Every exercise of lab.yaml builds its checks; a bad param is one clear error."""
from __future__ import annotations

import pytest

from labctl.checks import build_checks
from labctl.spec.loader import LabSpecError, load_lab
from labctl.spec.models import Check as CheckSpec
from labctl.spec.models import Exercise


@pytest.mark.parametrize("exercise", ["3", "4", "5", "6", "7", "8", "9", "11"])
def test_every_exercise_builds(exercise):
    lab = load_lab("practica4", exercise=exercise)
    assert build_checks(lab, exercise)


def _with_check(**check) -> object:
    lab = load_lab("practica4")
    exercise = Exercise(title="t", statement="s", checks=[CheckSpec(id="x", title="t", **check)])
    return lab.model_copy(update={"exercises": {"3": exercise}})


@pytest.mark.parametrize("check, message", [
    ({"kind": "mailbox-message", "params": {"acount": "a@b"}}, "check 'x' (mailbox-message): param account"),
    ({"kind": "mailbox-message", "params": {"account": "a@b", "attachment_type": "jpeg"}}, "param attachment_type"),
    ({"kind": "smtp-session", "params": {"commands": ["ehlo"]}}, "param commands"),
    ({"kind": "smtp-session", "params": {"commands": ["EHLO"], "port": "smpt"}}, "param port"),
    ({"kind": "no-such-kind"}, "unknown kind 'no-such-kind'"),
])
def test_bad_params_name_exercise_check_and_param(check, message):
    with pytest.raises(LabSpecError, match="exercise 3") as error:
        build_checks(_with_check(**check), "3")
    assert message in str(error.value)
