"""Lab-file fuzzing: every mutation of the reference lab gives either a valid lab
whose rendered configs hold exactly what the file declared, or one LabSpecError
line naming the file. Seeded, so a failure replays."""
from __future__ import annotations

import collections
import copy
import os
import random
from pathlib import Path

import yaml

from labctl.render.configs import render_configs, zone_file
from labctl.spec.loader import LabSpecError, lab_file, load_lab
from labctl.spec.models import Lab, Role

# Of each kind; LABCTL_FUZZ_CASES=5000 for a longer run (the closing figures).
CASES = int(os.environ.get("LABCTL_FUZZ_CASES", "500"))
REFERENCE_TEXT = lab_file("practica4").read_text(encoding="utf-8")
REFERENCE = yaml.safe_load(REFERENCE_TEXT)

NASTY = [
    "", " ", "\n", "a\nb", "x\r\nX-Injected: 1", "x:y", "../../x", "ü", "\x00", "\x7f", ";", "(", '"', "\\", "@", "*",
    "0.0.0.0/24", "127.0.0.0/24", "224.0.0.0/24", "172.28.0.0/24", "172.28.0.90", "999.1.1.1", "::1", "mail", "a.b.c.",
    "x" * 300, "-x", "x-", "a..b", 12345, -1, 0, 1, 25, 110, 2**31, 2**64, 1.5, True, False, None, [], {}, ["a\nb"], {"a": 1},
]
SNIPPETS = ["\n", ":", "- ", "&a ", "*a", "<<: ", "{", "}", "[", "]", "\t", "\x00", "\r", "'", '"', "!!", "%", "#", ",", "\\", "  ", "ü", "\xff"]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _mutate_data(rng: random.Random) -> dict:
    data = copy.deepcopy(REFERENCE)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(data))[1:])
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = copy.deepcopy(rng.choice(NASTY))
        elif action < 0.75:
            del parent[path[-1]]
        elif action < 0.9 and isinstance(parent, dict):
            parent[rng.choice(["colour", "x", "ports", "ttl", "zones"])] = copy.deepcopy(rng.choice(NASTY))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(NASTY))
    return data


def _mutate_text(rng: random.Random) -> bytes:
    text = REFERENCE_TEXT
    for _ in range(rng.randint(1, 3)):
        action, at = rng.random(), rng.randrange(len(text))
        if action < 0.3:
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif action < 0.5:
            text = text[:at] + text[at + rng.randint(1, 40):]
        elif action < 0.7:
            lines = text.splitlines(keepends=True)
            i = rng.randrange(len(lines))
            lines.insert(i, lines[rng.randrange(len(lines))])
            text = "".join(lines)
        elif action < 0.85:
            lines = text.splitlines(keepends=True)
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        else:
            text = text[:at] + chr(rng.randrange(1, 0x250)) + text[at + 1:]
    data = text.encode("utf-8", errors="surrogatepass")
    if rng.random() < 0.05:  # a stray byte that is not UTF-8
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.randrange(0x80, 0x100)]) + data[at:]
    return data


def _rendered_as_declared(lab: Lab) -> None:
    """Nothing declared became more than it was: one passwd-file line per account,
    one zone-file line per record (a newline in a value would add one)."""
    files = {str(f.path): f.content for f in render_configs(lab)}
    for name, svc in lab.by_role(Role.mail).items():
        accounts = sum(len(lab.mail_domains[d].accounts) for d in svc.mail_domains)
        assert len([line for line in files[f"{name}/users"].splitlines() if line.strip()]) == accounts
    for name, svc in lab.by_role(Role.dns).items():
        for zone in svc.zones:
            body = files[f"{name}/{zone_file(zone)}"].split(") ; negative cache TTL\n", 1)[1]
            # A registry's zone also includes the delegations `labctl apply` installs.
            records = [line for line in body.splitlines() if line.strip() and not line.startswith((";", "$INCLUDE"))]
            assert len(records) == len(lab.zones[zone].records)


def _outcome(path: Path, rng: random.Random) -> str:
    try:
        lab = load_lab(path)
    except LabSpecError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400, message
        return "refused"
    _rendered_as_declared(lab)
    if lab.exercises:  # every variant was validated by load_lab; render one of them
        _rendered_as_declared(load_lab(path, rng.choice(sorted(lab.exercises))))
    return "valid"


def test_mutated_lab_files_are_valid_labs_or_one_line(tmp_path):
    rng = random.Random(20261128)
    outcomes: collections.Counter = collections.Counter()
    path = tmp_path / "lab.yaml"
    for case in range(CASES):
        path.write_text(yaml.safe_dump(_mutate_data(rng), allow_unicode=True), encoding="utf-8")
        outcomes["data " + _outcome(path, rng)] += 1
        path.write_bytes(_mutate_text(rng))
        outcomes["text " + _outcome(path, rng)] += 1
    print(f"lab-file fuzz: {sum(outcomes.values())} cases, {dict(sorted(outcomes.items()))}")
    # Both kinds of mutation reach both outcomes: the fuzzing is not all rejects.
    assert all(outcomes[f"{kind} {result}"] > CASES // 20 for kind in ("data", "text") for result in ("valid", "refused")), outcomes
