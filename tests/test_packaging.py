"""What a non-editable install ships: every package under cvpipe/ is a regular package."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_folder_is_a_package_setuptools_finds():
    setuptools = pytest.importorskip("setuptools")
    found = set(setuptools.find_packages(where=str(ROOT), include=["cvpipe*"]))
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "cvpipe").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert folders - found == set(), "add an __init__.py to these folders"
