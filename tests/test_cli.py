"""The CLI skeleton: version, help, error reporting and exit codes, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import cvpipe
from cvpipe import cli
from cvpipe.errors import InputError

HEAVY = ("torch", "torchvision", "albumentations", "cv2", "matplotlib", "pycocotools")


def heavy_modules_after(*args: str) -> list[str]:
    """Run the CLI in a fresh interpreter and list the heavy packages it imported."""
    code = (
        "import sys, json\n"
        "from cvpipe.cli import main\n"
        f"code = main({list(args)!r})\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stderr
    return result["heavy"]


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"]], ids=" ".join)
def test_startup_does_not_import_heavy_libraries(args):
    assert heavy_modules_after(*args) == []


VOC_XML = """<annotation><filename>{name}.jpg</filename>
<size><width>40</width><height>30</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult>
<bndbox><xmin>4</xmin><ymin>5</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object></annotation>"""


def test_format_commands_do_not_import_heavy_libraries(tmp_path):
    import cv2
    import numpy as np

    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    for name in ("a", "b"):
        (voc / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name))
        cv2.imwrite(str(voc / "JPEGImages" / f"{name}.jpg"), np.zeros((30, 40, 3), np.uint8))
    assert heavy_modules_after("validate", str(voc), "-q") == []
    assert heavy_modules_after("convert", str(voc), str(tmp_path / "yolo"), "--to", "yolo", "-q") == []
    assert heavy_modules_after("convert", str(voc), str(tmp_path / "coco"), "--to", "coco", "-q") == []
    assert (tmp_path / "yolo" / "data.yaml").is_file() and (tmp_path / "coco").is_dir()


def test_version_and_help(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cvpipe, version {cvpipe.__version__}"
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: cvpipe" in out and "plugins" in out


@pytest.fixture
def failing_command(monkeypatch):
    """A throwaway sub-command that raises what the test asks for."""
    holder = {}

    @click.command()
    def boom():
        raise holder["exc"]

    module = type(sys)("cvpipe_test_boom")
    module.boom = boom
    monkeypatch.setitem(sys.modules, "cvpipe_test_boom", module)
    monkeypatch.setitem(cli.COMMANDS, "boom", "cvpipe_test_boom:boom")
    return holder


def test_input_error_is_one_message_and_exit_2(failing_command, capsys):
    failing_command["exc"] = InputError("box is inverted", file="a.xml", line=3, value=[5, 0, 1, 1])
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err == "error: a.xml:3: box is inverted (got [5, 0, 1, 1])\n"


def test_debug_shows_the_traceback(failing_command, capsys):
    failing_command["exc"] = InputError("bad", file="a.xml")
    assert cli.main(["--debug", "boom"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "InputError" in err


def test_unexpected_error_exit_1_without_traceback(failing_command, capsys):
    failing_command["exc"] = RuntimeError("disk on fire")
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: disk on fire (run with --debug for the traceback)\n"


def test_usage_error_exit_2(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
