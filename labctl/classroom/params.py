"""Each student's own values of the lab's parameters: derived from the class secret
and the student's id, so a second `class up` or a reset gives the same ones."""
from __future__ import annotations

import hashlib
import hmac

from labctl.classroom.roster import name_form
from labctl.spec.models import PASSWORD_RULE, STUDENT_ID_FIELD, Lab

# No 0/o, 1/l/i: students read these off a sheet.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_LENGTH = 10


def derived_password(secret: str, student_id: str, purpose: str) -> str:
    digest = hmac.new(secret.encode(), f"{student_id}\0{purpose}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    letters = []
    for _ in range(PASSWORD_LENGTH):
        number, index = divmod(number, len(PASSWORD_ALPHABET))
        letters.append(PASSWORD_ALPHABET[index])
    return "".join(letters)


def student_params(lab: Lab, secret: str, student_id: str) -> dict[str, str]:
    """The student's value of every parameter the lab marks per_student."""
    values = {}
    for name, parameter in lab.parameters.items():
        if parameter.per_student == PASSWORD_RULE:
            values[name] = derived_password(secret, student_id, name)
        elif parameter.per_student:
            # A name (exercise 10's "{id}.com.ar"): the id as names take it.
            values[name] = parameter.per_student.replace(STUDENT_ID_FIELD, name_form(student_id).lower())
    return values
