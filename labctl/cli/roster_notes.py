"""What the instructor is told about the students of a roster."""
from __future__ import annotations

from pathlib import Path

from labctl.classroom import lifecycle
from labctl.classroom.record import ClassRecord
from labctl.classroom.roster import name_form, read_roster, students_only
from labctl.spec.loader import LabSpecError

def who(students) -> str:
    return ", ".join(f"{s.id} ({s.name})" if s.name else s.id for s in students)


def roster_changes(record: ClassRecord) -> str:
    """What the class's roster file says now that the class does not (it was edited after
    'class up'): a note for the instructor, who may expect the file to be the class."""
    path = Path(record.roster)
    try:
        roster, _ = students_only(read_roster(path))
    except LabSpecError:
        return ""  # moved or broken since: the class record is what is graded
    gone = lifecycle.not_in_roster(record, roster)
    enrolled = {name_form(s.id).lower() for s in record.students}
    new = [s for s in roster if name_form(s.id).lower() not in enrolled]
    again = f"'labctl class up {path} --exercise {record.exercise} --name {record.name}"
    notes = ([f"not in it any more: {who(gone)} (graded still; {again} --drop-missing' takes them out)"] if gone else []) + \
            ([f"new in it: {who(new)} ({again}' brings their labs up)"] if new else [])
    return f"{path} changed since the class came up; " + "; ".join(notes) if notes else ""
