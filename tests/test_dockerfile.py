"""The container image definition: hadolint-clean, pinned, non-root, in step with the package version."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from loadorch import __version__
from tests.support.project import REPO


@pytest.mark.hadolint
def test_hadolint_is_clean() -> None:
    hadolint = str(shutil.which("hadolint"))
    done = subprocess.run([hadolint, "--failure-threshold", "info", str(REPO / "Dockerfile")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_pinned_non_root_and_matches_the_package() -> None:
    text = (REPO / "Dockerfile").read_text()
    # every stage builds FROM the one BASE_IMAGE argument, whose default is a pinned slim Python
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases and all(b == "${BASE_IMAGE}" for b in bases), bases
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert default and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", default.group(1)), default
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(rf"loadorch(\[postgres\])?=={re.escape(__version__)}", text)
