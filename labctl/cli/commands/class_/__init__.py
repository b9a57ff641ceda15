"""A whole class: one isolated lab per student of a roster."""
