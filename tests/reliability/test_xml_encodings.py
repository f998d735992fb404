"""Issue 14 item 1: XML hardening holds whatever the encoding. XXE, external parameter entities
and ``/dev/zero`` in UTF-7, UTF-16, UTF-32 and EBCDIC (cp500) are refused on the decoded text,
quickly, naming the file, and no file they name is ever opened; FIFOs, devices and oversized
files are refused by ``stat``; the allowed encodings still parse to the same annotation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvpipe.formats import xml as cxml

pytest.importorskip("lxml")

#: (encoding named in the declaration or None, Python codec for the bytes, marker of the variant)
ENCODINGS = [
    ("UTF-7", "utf-7", "utf7"),
    ("UTF-16", "utf-16", "utf16-bom"),
    ("UTF-16LE", "utf-16-le", "utf16le-nobom"),
    ("UTF-16BE", "utf-16-be", "utf16be-nobom"),
    (None, "utf-16", "utf16-bom-nodecl"),
    ("UTF-32", "utf-32", "utf32-bom"),
    ("UTF-32BE", "utf-32-be", "utf32be-nobom"),
    ("cp500", "cp500", "ebcdic"),
    ("IBM037", "cp037", "ebcdic037"),
    ("UTF-8", "utf-8", "utf8"),
    ("ISO-8859-1", "latin-1", "latin1"),
]

BODY = "<annotation><filename>a.jpg</filename><size><width>8</width><height>8</height></size></annotation>\n"


def payloads(target: str) -> dict[str, str]:
    """Attacks naming the local file ``target``: a general external entity (XXE), a parameter
    entity pulled into the internal subset, a parameter entity on /dev/zero, an entity bomb."""
    uri = Path(target).as_uri()
    return {
        "xxe": f'<!DOCTYPE annotation [<!ENTITY x SYSTEM "{uri}">]>\n'
               "<annotation><filename>&x;</filename></annotation>\n",
        "parameter-entity": f'<!DOCTYPE annotation [<!ENTITY % p SYSTEM "{uri}"> %p;]>\n' + BODY,
        "dev-zero": '<!DOCTYPE annotation [<!ENTITY % z SYSTEM "file:///dev/zero"> %z;]>\n' + BODY,
        "external-dtd": f'<!DOCTYPE annotation SYSTEM "{uri}">\n' + BODY,
        "bomb": '<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<annotation><filename>&c;</filename></annotation>\n',
    }


def encode(text: str, declared: str | None, codec: str) -> bytes:
    """``text`` with an XML declaration naming ``declared`` (none when None), in ``codec``; in
    UTF-7 every ``!`` is written ``+ACE-`` (what a hostile file does: no ``<!`` byte pair)."""
    doc = (f'<?xml version="1.0" encoding="{declared}"?>\n' if declared else "") + text
    if codec == "utf-7":
        return doc.replace("!", "+ACE-").encode("ascii")
    return doc.encode(codec)


class Recorder:
    """Every external load libxml2 asks for (through lxml's resolvers: DTDs, entities), and
    every Python-level ``open`` (audit hook) of the files in ``watched``; a load is refused
    after being recorded, so a regression is reported instead of hanging on /dev/zero."""

    def __init__(self, watched: set[str]) -> None:
        from lxml import etree

        self.loads: list[str] = []
        self.opens: list[str] = []
        self.watched = watched
        outer = self

        class _Resolver(etree.Resolver):
            def resolve(self, url, pubid, context):
                outer.loads.append(url)
                raise RuntimeError(f"libxml2 tried to load {url}")

        self.resolver = _Resolver()

    def audit(self, event: str, args: tuple) -> None:
        if event == "open" and args and str(args[0]) in self.watched:
            self.opens.append(str(args[0]))


@pytest.fixture
def recorder(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    rec = Recorder({str(secret), "/dev/zero"})
    rec.secret = secret
    parser = cxml.xml_parser()
    parser.resolvers.add(rec.resolver)
    sys.addaudithook(rec.audit)  # audit hooks cannot be removed: the recorder is disarmed below
    try:
        yield rec
    finally:
        parser.resolvers.remove(rec.resolver)
        rec.watched = set()


@pytest.mark.parametrize("attack", ["xxe", "parameter-entity", "dev-zero", "external-dtd", "bomb"])
@pytest.mark.parametrize("declared,codec,variant", ENCODINGS, ids=[e[2] for e in ENCODINGS])
def test_attack_refused_in_every_encoding(tmp_path, recorder, declared, codec, variant, attack):
    path = tmp_path / f"{variant}-{attack}.xml"
    path.write_bytes(encode(payloads(str(recorder.secret))[attack], declared, codec))
    found: list = []
    assert cxml.parse_xml_file(str(path), found, document="VOC annotation") is None
    assert found and found[0].file == str(path)
    text = str(found[0])
    assert ("DOCTYPE or ENTITY declaration refused" in text or "encoding not allowed" in text
            or "malformed XML" in text), text
    assert recorder.loads == [], f"libxml2 loaded {recorder.loads}"
    assert recorder.opens == [], f"opened {recorder.opens}"


def test_utf7_and_utf32_were_parsed_before(tmp_path, recorder):
    """What the old raw-byte check let through: in UTF-7 and UTF-32 the declaration is not the
    bytes ``<!DOCTYPE``. Now the refusal names the encoding or the declaration, on line 1 or 2."""
    for declared, codec in (("UTF-7", "utf-7"), ("UTF-32", "utf-32")):
        path = tmp_path / f"{codec}.xml"
        path.write_bytes(encode(payloads(str(recorder.secret))["parameter-entity"], declared, codec))
        found: list = []
        cxml.parse_xml_file(str(path), found)
        assert [p.line for p in found] == [1 if codec == "utf-7" else 2]
        assert ("encoding not allowed" if codec == "utf-7" else "declaration refused") in found[0].message
    assert recorder.loads == [] and recorder.opens == []


@pytest.mark.parametrize("declared,codec,variant", [e for e in ENCODINGS if e[1] not in ("utf-7", "cp500", "cp037")],
                         ids=[e[2] for e in ENCODINGS if e[1] not in ("utf-7", "cp500", "cp037")])
def test_allowed_encodings_parse_the_same(tmp_path, declared, codec, variant):
    text = "<annotation>\n  <filename>caf\u00e9.jpg</filename>\n  <size><width>8</width></size>\n</annotation>\n"
    path = tmp_path / "ok.xml"
    path.write_bytes(encode(text, declared, codec))
    found: list = []
    root = cxml.parse_xml_file(str(path), found)
    assert found == []
    assert root.findtext("filename") == "caf\u00e9.jpg"
    assert root.find("size").sourceline == 3 + (1 if declared else 0)  # lines survive re-encoding


def test_comments_and_cdata_are_not_declarations(tmp_path):
    path = tmp_path / "c.xml"
    path.write_bytes(encode("<annotation><!-- a comment --><filename><![CDATA[a.jpg]]></filename></annotation>",
                            "UTF-16", "utf-16"))
    found: list = []
    assert cxml.parse_xml_file(str(path), found).findtext("filename") == "a.jpg" and found == []


def test_declaration_contradicting_the_bytes(tmp_path):
    path = tmp_path / "c.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-16"?>\n' + BODY.encode())
    found: list = []
    assert cxml.parse_xml_file(str(path), found) is None
    assert found[0].field == "encoding" and found[0].value == "UTF-16"


def test_non_regular_files_refused_before_open(tmp_path, recorder):
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    link = tmp_path / "zero.xml"
    link.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO"), (link, "a device"), (tmp_path, "a folder")):
        found: list = []
        assert cxml.parse_xml_file(str(path), found) is None
        assert (found[0].message, found[0].value, found[0].file) == ("not a regular file", kind, str(path))
    assert recorder.opens == []


def test_size_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(cxml, "MAX_XML_BYTES", 100)
    path = tmp_path / "big.xml"
    path.write_bytes(BODY.encode() + b" " * 100)
    found: list = []
    assert cxml.parse_xml_file(str(path), found) is None
    assert found[0].message == "file too large" and found[0].file == str(path)


# The command line: each attack refused quickly with exit 2 naming the file, no traceback; the
# files named are FIFOs, so a reader opening one would block (and the test time out)

def _voc(root: Path, images: int = 2) -> Path:
    from cvpipe.synthetic import synthesize_voc

    synthesize_voc(root, images=images, seed=3, size=(64, 48), object_size=(10, 20), objects_per_image=(1, 1))
    return root


@pytest.mark.parametrize("declared,codec,attack", [
    ("UTF-7", "utf-7", "dev-zero"), ("UTF-7", "utf-7", "parameter-entity"), ("UTF-16", "utf-16", "xxe"),
    ("UTF-32", "utf-32", "dev-zero"), ("UTF-32", "utf-32", "parameter-entity"), ("cp500", "cp500", "xxe"),
])
def test_validate_refuses_quickly(tmp_path, declared, codec, attack):
    voc = _voc(tmp_path / "voc")
    fifo = tmp_path / "hostname"
    os.mkfifo(fifo)
    bad = voc / "Annotations" / "000000.xml"
    bad.write_bytes(encode(payloads(str(fifo))[attack], declared, codec))
    cmds = [["validate", str(voc)]] + ([["convert", str(voc), str(tmp_path / "out"), "--to", "coco"]]
                                       if attack == "xxe" else [])
    for cmd in cmds:
        r = subprocess.run([sys.executable, "-m", "cvpipe", *cmd], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        assert r.returncode == 2, out
        assert str(bad) in out and "Traceback" not in out
    assert not (tmp_path / "out").exists()


def test_validate_refuses_fifo_and_device_annotations(tmp_path):
    voc = _voc(tmp_path / "voc", images=3)
    (voc / "Annotations" / "000000.xml").unlink()
    os.mkfifo(voc / "Annotations" / "000000.xml")
    (voc / "Annotations" / "000001.xml").unlink()
    (voc / "Annotations" / "000001.xml").symlink_to("/dev/zero")
    r = subprocess.run([sys.executable, "-m", "cvpipe", "validate", str(voc), "--from", "voc"], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "2 problems" in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert "000000.xml: not a regular file (got 'a FIFO'" in r.stdout
    assert "000001.xml: not a regular file (got 'a device'" in r.stdout
