"""Read one of the student's YAML files, hardened as lab files are (bounded size,
nesting and aliases, UTF-8 only, no key twice), into data or a typed model, with
one-line errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from labctl.spec.errors import LabSpecError
from labctl.spec.yaml_file import LabYamlError, parse_yaml, read_text

T = TypeVar("T", bound=BaseModel)

EXPECTED = "a workspace file"


def read_yaml(path: Path, shown: str) -> Any:
    """`shown` names the file in messages as the student knows it (its workspace name)."""
    try:
        return parse_yaml(read_text(path, EXPECTED), EXPECTED)
    except FileNotFoundError:
        raise LabSpecError(f"{shown}: no such file (labctl up writes a skeleton; see labctl workspace)") from None
    except IsADirectoryError:
        raise LabSpecError(f"{shown}: is a folder; expected {EXPECTED} (YAML) by that name") from None
    except LabYamlError as exc:
        raise LabSpecError(f"{shown}: {exc}") from None


def read_model(path: Path, model: type[T], shown: str) -> T:
    data = read_yaml(path, shown)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".") or "(top level)"
        got = f" (got {error['input']!r})" if not isinstance(error.get("input"), (dict, list)) and "input" in error else ""
        raise LabSpecError(f"{shown}: {field}: {error['msg'].removeprefix('Value error, ')}{got}") from None
