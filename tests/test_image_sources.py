"""What an image is built from: its Dockerfile and the project files it copies. A change to
any of them makes the image out of date; compiled files and other files do not."""
from __future__ import annotations

import pytest

from labctl.runtime import images


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "images" / "mail").mkdir(parents=True)
    (tmp_path / "images" / "mail" / "Dockerfile").write_text(
        "FROM labctl/base:bookworm\nCOPY --chown=root pkg/__init__.py \\\n     pkg/server /opt/pkg/\nCOPY images/mail/run.sh /run.sh\n")
    (tmp_path / "images" / "mail" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "pkg" / "server").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "server" / "session.py").write_text("REPLY = '250 Ok'\n")
    (tmp_path / "pkg" / "other.py").write_text("")
    monkeypatch.setattr(images, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(images, "IMAGES_DIR", tmp_path / "images")
    [spec] = images.image_specs()
    return tmp_path, spec


def test_the_copied_sources_are_read_from_the_dockerfile(project):
    root, spec = project
    text = (root / spec.dockerfile).read_text()
    assert images._copied_sources(text) == ["pkg/__init__.py", "pkg/server", "images/mail/run.sh"]


@pytest.mark.parametrize("change", ["images/mail/Dockerfile", "images/mail/run.sh", "pkg/server/session.py",
                                    "pkg/server/new_module.py"])
def test_a_change_to_what_is_copied_changes_the_digest(project, change):
    root, spec = project
    before = images.source_digest(spec)
    with open(root / change, "a") as handle:
        handle.write("# changed\n")
    assert images.source_digest(spec) != before


def test_other_files_and_compiled_ones_do_not(project):
    root, spec = project
    before = images.source_digest(spec)
    (root / "pkg" / "other.py").write_text("changed = True\n")
    (root / "pkg" / "server" / "__pycache__").mkdir()
    (root / "pkg" / "server" / "__pycache__" / "session.cpython-311.pyc").write_bytes(b"\0")
    assert images.source_digest(spec) == before
