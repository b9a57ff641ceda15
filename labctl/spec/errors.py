"""The error of every wrong input labctl is given (lab files, command-line names)."""
from __future__ import annotations


class LabSpecError(Exception):
    """Input is wrong: the message names the file or option, the field and what was expected."""
