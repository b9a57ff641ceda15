"""Where labctl finds its own files and keeps the state of each lab instance."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from labctl.spec.instance import check_instance

# The repository root: templates/, images/ and labs/ live beside the package.
PROJECT_ROOT = Path(os.environ.get("LABCTL_HOME", Path(__file__).resolve().parents[1]))
TEMPLATES_DIR = PROJECT_ROOT / "templates"
IMAGES_DIR = PROJECT_ROOT / "images"
LABS_DIR = PROJECT_ROOT / "labs"


def state_home() -> Path:
    """Root of all lab state; LABCTL_STATE_DIR overrides the user data directory."""
    override = os.environ.get("LABCTL_STATE_DIR")
    return Path(override) if override else platformdirs.user_data_path("labctl")


def lab_state_dir(instance: str) -> Path:
    """Rendered configuration, captures and data of one running lab instance.
    The name is checked here too, so no caller can write outside the state folder."""
    return state_home() / "labs" / check_instance(instance)


def captures_dir(instance: str) -> Path:
    return lab_state_dir(instance) / "captures"


def tls_dir(instance: str) -> Path:
    """The lab's certificate authority (ca.pem for Thunderbird) and service certificates."""
    return lab_state_dir(instance) / "tls"


def workspace_dir(instance: str) -> Path:
    """What the student authors (exercise 10): zone, BIND fragments, registration, answers."""
    return lab_state_dir(instance) / "workspace"


def installed_dir(instance: str) -> Path:
    """The copy of the student's files the lab's servers read; only `labctl apply` writes it."""
    return lab_state_dir(instance) / "installed"
