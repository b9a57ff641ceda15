"""Lab parameters: values a lab file names once under `parameters:` and uses as
`{{ name }}` anywhere in its text (accounts, zones, hints, check params).

Every parameter has a default, so a single student's `labctl up` runs the lab as
written; class mode gives each student their own values (labctl.classroom.params)
so that answers cannot be copied from one lab to another.
"""
from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PARAMETERS_KEY = "parameters"


class ParameterError(ValueError):
    """A placeholder or a given value does not match the declared parameters;
    the message names the field."""


def declared_defaults(raw: dict[str, Any]) -> dict[str, str]:
    """name -> default, read from the raw file (validated later with the model)."""
    declared = raw.get(PARAMETERS_KEY) or {}
    if not isinstance(declared, dict):
        raise ParameterError(f"{PARAMETERS_KEY}: expected a mapping of name to {{default, per_student}}")
    defaults = {}
    for name, spec in declared.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("default"), str):
            raise ParameterError(f"{PARAMETERS_KEY}.{name}.default: expected a text value")
        defaults[str(name)] = spec["default"]
    return defaults


def substitute(raw: dict[str, Any], given: dict[str, str] | None = None) -> dict[str, Any]:
    """The lab with every `{{ name }}` replaced by its value: `given` over the declared
    defaults. A placeholder nobody declared, or a given value for an undeclared name,
    is an error naming where it is."""
    values = declared_defaults(raw)
    unknown = sorted(set(given or {}) - set(values))
    if unknown:
        raise ParameterError(f"{PARAMETERS_KEY}: no parameter {unknown[0]!r} is declared (declared: {', '.join(values) or 'none'})")
    values.update(given or {})

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, dict):
            # Keys too: a zone or a mail domain is keyed by the student's domain.
            return {walk(key, where) if isinstance(key, str) else key: walk(value, f"{where}.{key}" if where else str(key))
                    for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, f"{where}.{index}") for index, value in enumerate(node)]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda match: value_of(match, where), node)
        return node

    def value_of(match: re.Match, where: str) -> str:
        name = match.group(1)
        if name not in values:
            raise ParameterError(f"{where}: {match.group()} names no parameter under '{PARAMETERS_KEY}' (declared: {', '.join(values) or 'none'})")
        return values[name]

    return {key: value if key == PARAMETERS_KEY else walk(value, key) for key, value in raw.items()}
