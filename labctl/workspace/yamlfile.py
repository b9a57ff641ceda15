"""Read one of the student's YAML files into a typed model, with one-line errors."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from labctl.spec.errors import LabSpecError

T = TypeVar("T", bound=BaseModel)


def read_model(path: Path, model: type[T], shown: str) -> T:
    """`shown` names the file in messages as the student knows it (its workspace name)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabSpecError(f"{shown}: no such file (labctl up writes a skeleton; see labctl workspace)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise LabSpecError(f"{shown}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".") or "(top level)"
        got = f" (got {error['input']!r})" if not isinstance(error.get("input"), (dict, list)) and "input" in error else ""
        raise LabSpecError(f"{shown}: {field}: {error['msg'].removeprefix('Value error, ')}{got}") from None
