"""Every exercise of lab.yaml builds its checks; a bad param is one clear error."""
from __future__ import annotations

import pytest

from labctl.checks import Status, build_checks
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
    ({"kind": "smtp-session", "params": {"commands": ["EHLO"], "readable": False, "message": {"from": "a@b"}}},
     "message needs readable: true"),
    ({"kind": "smtp-session", "params": {"commands": ["EHLO"], "message": {"form": "a@b"}}}, "param message"),
    ({"kind": "no-such-kind"}, "unknown kind 'no-such-kind'"),
])
def test_bad_params_name_exercise_check_and_param(check, message):
    with pytest.raises(LabSpecError, match="exercise 3") as error:
        build_checks(_with_check(**check), "3")
    assert message in str(error.value)


@pytest.mark.parametrize("failure", [RecursionError("maximum recursion depth exceeded"), IndexError("list index out of range"),
                                     KeyError("summary"), AssertionError()])
def test_a_check_that_blows_up_errs_alone(failure):
    """Whatever a check meets (a bug, input nobody foresaw), its run ends as ERROR with one
    line, and the checks after it still run."""
    [check] = build_checks(_with_check(kind="mailbox-message", params={"account": "a@b.c"}), "3")

    class Exploding(type(check)):
        def run(self, ctx):
            raise failure

    result = Exploding("3", check.spec).execute(ctx=None)
    assert result.status is Status.ERROR
    assert result.detail.startswith(f"the check itself failed ({failure.__class__.__name__}")
    assert "\n" not in result.detail
