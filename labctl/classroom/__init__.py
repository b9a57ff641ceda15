"""Class mode: a roster in, one isolated lab per student, per-student parameters,
a class record, and the class's reports."""
