"""Load a lab definition from YAML into the typed model, with one-line errors."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from labctl.paths import LABS_DIR
from labctl.spec.errors import LabSpecError
from labctl.spec.yaml_file import LabYamlError, parse_yaml, read_text
from labctl.spec.models import Lab
from labctl.spec.parameters import ParameterError, substitute
from labctl.spec.relocate import relocate

LAB_FILE = "lab.yaml"


def lab_file(lab: str | Path) -> Path:
    """A lab is named (labs/<name>/lab.yaml) or given as a folder or a file path."""
    path = Path(lab)
    if path.is_dir():
        return path / LAB_FILE
    if path.suffix in (".yaml", ".yml"):
        return path
    return LABS_DIR / str(lab) / LAB_FILE


APPEND_SUFFIX = "+"


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay wins; mappings merge key by key, everything else is replaced,
    except `key+: [...]`, which appends to the list at `key` (a variant adds one
    zone record without copying the others)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if key.endswith(APPEND_SUFFIX) and isinstance(value, list):
            target = key.removesuffix(APPEND_SUFFIX)
            merged[target] = list(merged.get(target) or []) + copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# A check across the lab's sections names its own field ("services.mail.ip: ...").
NAMES_ITS_FIELD = re.compile(r"[A-Za-z_][\w.-]*: ")


def _describe(error: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"] and NAMES_ITS_FIELD.match(message):
        return message
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] in ("missing", "extra_forbidden"):
        return f"{field}: {message.lower()}"
    if "input" not in error or isinstance(error["input"], (dict, list)) or "got " in message or str(error["input"]) in message:
        return f"{field}: {message}"
    shown = repr(error["input"])
    return f"{field}: {message} (got {shown if len(shown) <= 60 else shown[:57] + '…'})"


def read_raw(path: Path) -> dict[str, Any]:
    if not path.is_file():
        known = sorted(p.parent.name for p in LABS_DIR.glob(f"*/{LAB_FILE}"))
        raise LabSpecError(f"{path}: no such lab file (expected labs/<name>/{LAB_FILE} or a path to one; labs: {', '.join(known) or 'none'})")
    try:
        data = parse_yaml(read_text(path))
    except LabYamlError as exc:
        raise LabSpecError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise LabSpecError(f"{path}: expected a mapping at the top level (name:, title:, network:, ...), got {got}")
    return data


def validate(raw: dict[str, Any], source: Path) -> Lab:
    try:
        return Lab.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise LabSpecError(f"{source}: {_describe(first)}") from None


def _validate_variants(raw: dict[str, Any], base: Lab, path: Path) -> None:
    """Every exercise's lab must be valid as soon as the file is loaded, not only
    when a student brings that exercise up; errors say which variant."""
    for number, exercise in base.exercises.items():
        if exercise.lab is not None and not lab_file(exercise.lab).is_file():
            raise LabSpecError(f"{path}: exercises.{number}.lab: no lab {exercise.lab!r} (expected {lab_file(exercise.lab)})")
        if not exercise.variant:
            continue
        try:
            validate(deep_merge(raw, exercise.variant), path)
        except LabSpecError as exc:
            detail = str(exc).removeprefix(f"{path}: ")
            raise LabSpecError(f"{path}: exercises.{number}.variant makes {detail}") from None


def _substituted(raw: dict[str, Any], params: dict[str, str] | None, path: Path) -> dict[str, Any]:
    try:
        return substitute(raw, params)
    except ParameterError as exc:
        raise LabSpecError(f"{path}: {exc}") from None


def load_lab(lab: str | Path, exercise: str | None = None, subnet: str | None = None,
             params: dict[str, str] | None = None) -> Lab:
    """Load a lab; its `{{ parameter }}` placeholders take `params` (else their
    defaults); with an exercise, its variant is merged over the reference lab
    first (or the exercise's own lab is loaded); with a subnet, the whole lab
    is moved there."""
    path = lab_file(lab)
    written = read_raw(path)
    raw = _substituted(written, None, path)
    base = validate(raw, path)
    _validate_variants(raw, base, path)
    if exercise is not None:
        if exercise not in base.exercises:
            known = ", ".join(base.exercises) or "none"
            raise LabSpecError(f"{path}: exercises: no exercise {exercise!r} (known: {known})")
        own_lab = base.exercises[exercise].lab
        if own_lab is not None:
            # The parameters are the exercise's lab's, not this file's.
            return load_lab(own_lab, exercise, subnet, params)
    if params:
        raw = _substituted(written, params, path)
    if exercise is not None:
        raw = deep_merge(raw, base.exercises[exercise].variant)
    if subnet is not None:
        try:
            raw = relocate(raw, subnet)
        except ValueError as exc:
            raise LabSpecError(f"{path}: network.subnet: {exc}") from None
    return validate(raw, path)
