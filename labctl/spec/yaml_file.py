"""Read a lab file as YAML that cannot hurt: bounded in size, nesting and alias
expansion, UTF-8 only, and no key given twice in one mapping. The student's
workspace files are read the same way (`expected` names what they are).

Every refusal is a LabYamlError with one line saying what was expected (the
caller adds the file name).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

# The reference lab is ~10 KB: a thousand times that is no lab anyone wrote.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
# Aliases may share a block; expanded, a lab stays far below this many nodes
# (billion laughs expands to 10^9).
MAX_EXPANDED_NODES = 100_000


class LabYamlError(Exception):
    """The file is not YAML labctl reads; the message says what was expected."""


def read_text(path: Path, expected: str = "a lab file") -> str:
    with open(path, "rb") as source:
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        size = path.stat().st_size
        raise LabYamlError(f"{size / 1e6:.1f} MB is too big; expected {expected} of at most {MAX_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LabYamlError(f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; expected a UTF-8 text file") from None


class _LabLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and bounds nesting depth."""

    def __init__(self, stream: str, expected: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expected = expected

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise LabYamlError(f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep; expected {self._expected}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' may override: that is what it is for
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader names that error itself
            if first is not None:
                raise LabYamlError(f"line {line}: key {key!r} given twice in one mapping (first on line {first}); expected each key once")
            seen[key] = line
        return super().construct_mapping(node, deep)


def _expanded_size(node: Node, budget: int) -> int:
    """Nodes the tree has once every alias is expanded, stopping past `budget`."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        count += 1
        if count > budget:
            break
        if isinstance(current, SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, MappingNode):
            for key, value in current.value:
                stack.extend((key, value))
    return count


def parse_yaml(text: str, expected: str = "a lab definition") -> Any:
    loader = None
    try:
        loader = _LabLoader(text, expected)  # its reader refuses control characters already here
        root = loader.get_single_node()
        if root is None:
            return None
        if _expanded_size(root, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise LabYamlError(f"aliases expand to more than {MAX_EXPANDED_NODES} values; expected {expected} (is this a 'billion laughs' file?)")
        return loader.construct_document(root)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise LabYamlError(f"line {line}: character U+{exc.character:04X} is not allowed in YAML; expected printable text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} " if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise LabYamlError(f"{where}not valid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
