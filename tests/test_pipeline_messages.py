"""Messages inside a pipeline: hints name the step's settings (``images: none``), not the CLI
flags the libraries word them with; a wrong ``--set`` value is blamed on the ``--set``, also
when it reaches a step through ``${vars.NAME}``."""

from __future__ import annotations

from cvpipe.cli import main
from cvpipe.errors import Problem
from cvpipe.pipeline.hints import hints_for_step

VOC_XML = ("<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height><depth>3</depth></size>"
           "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>"
           "</object></annotation>")

PIPELINE = """
name: hints
vars:
  epochs: 3
  src: voc
steps:
  - read: {name: load, format: voc, path: "${vars.src}"}
  - write: {path: "${run_dir}/yolo", format: yolo, images: copy}
  - synthesize: {path: "${run_dir}/syn", images: "${vars.epochs}"}
"""


def _pipeline(tmp_path):
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "a.xml").write_text(VOC_XML)  # its image is missing
    (tmp_path / "p.yaml").write_text(PIPELINE)
    return tmp_path / "p.yaml"


def test_hints_name_step_settings(tmp_path, capsys):
    p = _pipeline(tmp_path)
    rc = main(["run", str(p), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--images-dir" not in err and "--images none" not in err
    assert "`images_dir: DIR` of step 'load'" in err and "use `images: none`" in err
    assert err.startswith("error: step 'write' (write) failed: ")


def test_hints_for_step_rewrites_only_flags():
    probs = [Problem("x", hint="point to the images with --images-dir, or use --images none"),
             Problem("y", hint="name it with --from FORMAT"), Problem("z", hint="did you mean 'epochs'?")]
    out = hints_for_step(probs, {"images", "format"}, [("read", {"images_dir"})])
    assert [p.hint for p in out] == ["point to the images with `images_dir: DIR` of step 'read', or use `images: none`",
                                     "name it with `format: FORMAT`", "did you mean 'epochs'?"]
    assert hints_for_step(probs[:1], set())[0].hint == (
        "point to the images with the setting `images_dir: DIR`, or use the setting `images: none`")


def test_a_bad_set_value_is_blamed_on_the_set(tmp_path, capsys):
    p = _pipeline(tmp_path)
    for override in ("vars.epochs=ten", "synthesize.images=ten"):
        rc = main(["run", str(p), "--dry-run", "--set", override])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.startswith(f"error: --set {override}: steps[2].synthesize.images: "), err
        assert "p.yaml" not in err
    rc = main(["run", str(p), "--dry-run", "--set", "vars.epochs=3"])
    assert rc == 0, capsys.readouterr().err
