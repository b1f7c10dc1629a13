"""The wheel carries every file the package reads at run time, not only its Python modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.common import ROOT


def _tracked_data_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files", "cds_service"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0 or not listed.stdout:
        pytest.skip("not a git checkout: the package's files cannot be listed")
    return {name for name in listed.stdout.splitlines()
            if not name.endswith(".py") and "__pycache__" not in name}


@pytest.mark.slow
def test_the_wheel_holds_every_data_file_of_the_package(tmp_path: Path) -> None:
    expected = _tracked_data_files()
    assert "cds_service/feedback/migrations/script.py.mako" in expected  # `alembic revision`
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("cds_service-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())

    assert expected - shipped == set()
