"""labctl exercises."""
from __future__ import annotations

from labctl.cli.lab_options import LabArg
from labctl.cli.output import cells, console, table, user_errors
from labctl.spec.loader import load_lab


def command(lab: str = LabArg) -> None:
    """The lab's exercises, each with its checks (bring one up with 'labctl up --exercise N')."""
    with user_errors():
        spec = load_lab(lab)
        listing = table(f"{spec.name}: exercises", "N", "title", "variant", "checks")
        for number, exercise in spec.exercises.items():
            if exercise.lab is not None:
                # Its own network: the checks are that lab's exercise of the same number.
                variant, checks = f"own network ({exercise.lab})", load_lab(lab, number).exercises[number].checks
            else:
                variant, checks = ", ".join(sorted(exercise.variant)) or "reference network", exercise.checks
            listing.add_row(*cells(number, exercise.title, variant, ", ".join(c.id for c in checks)))
        console.print(listing)
