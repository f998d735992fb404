"""The byte-level VOC scanner (:mod:`cvpipe.builtin.voc.scan`) against the lxml path.

Property: whenever the scanner gives a record, the lxml path (:func:`cvpipe.formats.xml.
parse_xml_file` + the reader's extraction, :func:`cvpipe.builtin.voc.reader.parse_file`) gives the
same record and no problem; when it declines, the converter runs the lxml path, so declining is
always safe. Hypothesis generates VOC files with what varies in real ones (element order, white
space, CRLF, declarations, empty elements, flags, parts, nested extra elements, CVAT-style
attributes, bad values), then mutates their bytes; hostile files (entities, DOCTYPE, comments,
CDATA, processing instructions, namespaces, other encodings, control bytes) must be declined.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.builtin.voc.reader import parse_file
from cvpipe.builtin.voc.scan import MAX_DEPTH, SCAN_MAX_BYTES, scan_voc

pytest.importorskip("lxml")

HYPO = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ws = st.sampled_from(["", "", "\n", "\n\t", "  ", "\r\n", "\t\t"])
_num = st.one_of(st.integers(-3, 80).map(str), st.floats(-3, 80, allow_nan=False).map(lambda v: f"{v:.2f}"),
                 st.sampled_from(["1e1", "+5", " 7 ", "5_0", "nan", "inf", "", "abc", "0x10", "12."]))
# mostly what real files hold, sometimes what the reader reads differently or refuses
_flag = st.sampled_from(["0"] * 60 + ["1"] * 30 + [" 1 ", "true", "False", "1.0", "yes", "", "2"])
_name = st.sampled_from(["cat", "dog", "person"] * 12 + [" cat ", "", "potted_plant", "a b"])


def _rare(draw, n: int = 12) -> bool:
    return draw(st.integers(0, n)) == 0


def _leaf(tag: str, text: str, ws: str = "") -> str:
    return f"<{tag}/>" if text is None else f"<{tag}>{ws}{text}{ws}</{tag}>"


@st.composite
def _bndbox(draw, tag: str = "bndbox") -> str:
    coords = ["xmin", "ymin", "xmax", "ymax"]
    if draw(st.integers(0, 5)) == 0:
        coords = draw(st.permutations(coords))
    if _rare(draw, 30):
        coords = coords[:3]  # a coordinate missing
    if _rare(draw, 30):
        coords = coords + [coords[0]]  # one twice: the first wins
    vals = {"xmin": draw(st.integers(0, 30)), "ymin": draw(st.integers(0, 30))}
    vals["xmax"] = vals["xmin"] + draw(st.integers(-2 if _rare(draw) else 1, 30))
    vals["ymax"] = vals["ymin"] + draw(st.integers(-2 if _rare(draw) else 1, 30))
    ws = draw(_ws)
    parts = []
    for c in coords:
        text = str(vals[c]) if draw(st.integers(0, 30)) else draw(_num)
        parts.append(ws + _leaf(c, text))
    return f"<{tag}>" + "".join(parts) + ws + f"</{tag}>"


@st.composite
def _object(draw) -> str:
    ws = draw(_ws)
    children = [_leaf("name", draw(_name)), _leaf("pose", "Unspecified"), _leaf("truncated", draw(_flag)),
                _leaf("difficult", draw(_flag)), draw(_bndbox())]
    if _rare(draw, 8):
        children.append(_leaf(draw(st.sampled_from(["occluded", "iscrowd", "difficult"])), draw(_flag)))
    if draw(st.integers(0, 4)) == 0:  # person layout
        for _ in range(draw(st.integers(1, 2))):
            children.append(f"<part>{ws}<name>head</name>{ws}{draw(_bndbox())}{ws}</part>")
    if draw(st.integers(0, 6)) == 0:  # CVAT-style attributes (a nested <name>)
        children.append(f"<attributes>{ws}<attribute>{ws}<name>color</name>{ws}<value>red</value>{ws}</attribute>"
                        f"{ws}</attributes>")
    if _rare(draw, 25):
        children.append(_leaf("score", "0.5"))
    if draw(st.integers(0, 12)) == 0:
        children.append(_leaf("name", "dog"))  # a second name: the first wins
    if draw(st.integers(0, 12)) == 0:
        children.append(draw(_bndbox()))  # a second box: the first wins
    if draw(st.integers(0, 12)) == 0:
        children.append(_leaf("pose", None))
    if draw(st.booleans()):
        children = draw(st.permutations(children))
    return "<object>" + "".join(ws + c for c in children) + ws + "</object>"


@st.composite
def voc_documents(draw) -> bytes:
    """A VOC annotation file's bytes, mostly plain, sometimes unusual."""
    ws = draw(_ws)
    w, h = draw(st.sampled_from([("64", "64")] * 8 + [("64", "70"), (" 70 ", "64"), ("0", "40"), ("40.0", "40"),
                                 ("4_0", "40"), ("", "40"), ("1e2", "40")]))
    size = [_leaf("width", w), _leaf("height", h), _leaf("depth", "3")]
    if draw(st.integers(0, 8)) == 0:
        size.append(_leaf("width", draw(st.sampled_from(["30", "x"]))))  # the last width wins
    if draw(st.booleans()):
        size = draw(st.permutations(size))
    head = [_leaf("folder", "VOC2012"),
            _leaf("filename", draw(st.sampled_from(["a.jpg"] * 8 + [" a.jpg ", "sub/a.jpg", "", "..", "a:b.jpg"]))),
            "<source>" + ws + _leaf("database", "The VOC2007 Database") + ws + _leaf("annotation", "PASCAL VOC2007")
            + ws + "</source>",
            "<size>" + "".join(ws + c for c in size) + ws + "</size>", _leaf("segmented", "0")]
    if draw(st.integers(0, 10)) == 0:
        head.append(_leaf("filename", "b.jpg"))  # a second file name: the first wins
    if draw(st.integers(0, 10)) == 0:
        head = [c for c in head if not c.startswith("<size>")]
    if draw(st.integers(0, 10)) == 0:
        head.append(_leaf("owner", None))
    deep = draw(st.integers(0, MAX_DEPTH + 2)) if draw(st.integers(0, 8)) == 0 else 0
    if deep:
        head.append("".join(f"<d{i}>" for i in range(deep)) + "x" + "".join(f"</d{i}>" for i in reversed(range(deep))))
    children = head + draw(st.lists(_object(), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        children = draw(st.permutations(children))
    decl = draw(st.sampled_from(["", "", "", "", "", '<?xml version="1.0"?>\n', "<?xml version='1.0' encoding='utf-8'?>",
                                 '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
                                 '<?xml version="1.0" encoding="latin-1"?>', '<?xml version="1.1"?>']))
    root = draw(st.sampled_from(["annotation"] * 12 + ["annotation ", "annotations"]))
    text = (decl + draw(st.sampled_from(["", "", "\n", " "])) + f"<{root}>" + "".join(ws + c for c in children) + ws
            + f"</{root.strip()}>" + draw(st.sampled_from(["", "\n", "\n\n", "\n"] * 3 + [" x"])))
    return text.encode("utf-8")


_INSERTS = [b"<", b">", b"/", b"&", b"&amp;", b"&#60;", b"!", b"?", b"]]>", b"\r", b"\x00", b"\x0b", b"\x7f",
            b"\xc3\xa9", b"\xff", b"\xef\xbb\xbf", b"<!-- c -->", b"<![CDATA[x]]>", b"<?pi x?>", b" a=\"1\"",
            b"x:", b"<x/>", b"</x>", b"\t", b" ", b"0", b"."]


@st.composite
def mutated(draw) -> bytes:
    """A generated file with a few byte-level mutations (insert, delete, replace, truncate)."""
    data = bytearray(draw(voc_documents()))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.integers(0, 6)) % 4 if data[i:i + 1] != b"<" else draw(st.integers(0, 3))
        if op == 0:
            data[i:i] = draw(st.sampled_from(_INSERTS + [b" ", b"\n", b"1", b"a"] * 6))
        elif op == 1:
            del data[i:i + draw(st.integers(1, 8))]
        elif op == 2:
            data[i] = draw(st.one_of(st.integers(0, 255), st.sampled_from(b" \n19a-.<>/")))
        else:
            del data[i:]
    return bytes(data)


def _lxml_record(data: bytes, folder: Path) -> tuple[dict | None, list]:
    fd, path = tempfile.mkstemp(suffix=".xml", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    found: list = []
    rec = parse_file(path, folder, 0.0, False, None, found)
    os.remove(path)
    return rec, found


def _check(data: bytes, folder: Path) -> dict | None:
    """The property: a record from the scanner is the lxml path's record, without problems."""
    got = scan_voc(data)
    if got is not None:
        rec, found = _lxml_record(data, folder)
        assert found == [], (data, found)
        assert rec == got, data
    return got


@HYPO
@given(data=voc_documents())
def test_scanner_equals_lxml_on_generated_files(tmp_path_factory, data):
    _check(data, tmp_path_factory.mktemp("scan"))


@HYPO
@given(data=mutated())
def test_scanner_equals_lxml_on_mutated_files(tmp_path_factory, data):
    _check(data, tmp_path_factory.mktemp("scan"))


PLAIN = (b"<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>2008_000008.jpg</filename>\n\t<size>\n"
         b"\t\t<width>500</width>\n\t\t<height>442</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n"
         b"\t<object>\n\t\t<name>horse</name>\n\t\t<pose>Left</pose>\n\t\t<truncated>0</truncated>\n"
         b"\t\t<occluded>1</occluded>\n\t\t<bndbox>\n\t\t\t<xmin>53</xmin>\n\t\t\t<ymin>87</ymin>\n\t\t\t<xmax>471</xmax>\n"
         b"\t\t\t<ymax>420</ymax>\n\t\t</bndbox>\n\t\t<difficult>0</difficult>\n\t</object>\n\t<object>\n"
         b"\t\t<name>person</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>1</truncated>\n\t\t<occluded>0</occluded>\n"
         b"\t\t<bndbox>\n\t\t\t<xmin>158.5</xmin>\n\t\t\t<ymin>44</ymin>\n\t\t\t<xmax>289</xmax>\n\t\t\t<ymax>167</ymax>\n"
         b"\t\t</bndbox>\n\t\t<difficult>1</difficult>\n\t\t<part>\n\t\t\t<name>head</name>\n\t\t\t<bndbox>\n"
         b"\t\t\t\t<xmin>192</xmin>\n\t\t\t\t<ymin>44</ymin>\n\t\t\t\t<xmax>220</xmax>\n\t\t\t\t<ymax>81</ymax>\n"
         b"\t\t\t</bndbox>\n\t\t</part>\n\t</object>\n</annotation>\n")


@pytest.mark.parametrize("variant", ["plain", "crlf", "declaration", "labelimg-order", "cvat-attributes"])
def test_plain_files_are_scanned(tmp_path, variant):
    """The scanner is only worth it if it takes the files real tools write (VOC2012, LabelImg,
    CVAT): they must not go to lxml."""
    data = PLAIN
    if variant == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif variant == "declaration":
        data = b'<?xml version="1.0" encoding="utf-8"?>\n' + data
    elif variant == "labelimg-order":
        data = data.replace(b"<occluded>1</occluded>", b"").replace(b"<difficult>0</difficult>\n\t</object>",
                                                                      b"</object>")
    elif variant == "cvat-attributes":
        data = data.replace(b"<pose>Left</pose>", b"<attributes><attribute><name>color</name><value>brown</value>"
                                                   b"</attribute></attributes>")
    got = _check(data, tmp_path)
    assert got is not None
    assert got["filename"] == "2008_000008.jpg" and [o[0] for o in got["objects"]] == ["horse", "person"]
    assert got["objects"][1][1:5] == ([158.5, 44.0, 289.0, 167.0], True, True, False)


HOSTILE = {
    "entity": PLAIN.replace(b"horse", b"&lt;horse"),
    "char-ref": PLAIN.replace(b"horse", b"h&#111;rse"),
    "doctype": b'<!DOCTYPE annotation [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n' + PLAIN.replace(b"horse", b"&x;"),
    "bomb": b'<!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n' + PLAIN.replace(b"horse", b"&b;"),
    "comment": PLAIN.replace(b"<pose>Left</pose>", b"<!-- <name>dog</name> -->"),
    "cdata": PLAIN.replace(b"horse", b"<![CDATA[horse]]>"),
    "pi": PLAIN.replace(b"<segmented>", b"<?php x?><segmented>"),
    "namespace": PLAIN.replace(b"<annotation>", b'<annotation xmlns:v="urn:x">').replace(b"<name>horse</name>",
                                                                                          b"<v:name>horse</v:name>"),
    "attribute": PLAIN.replace(b"<annotation>", b'<annotation verified="yes">'),
    "utf8-bom": b"\xef\xbb\xbf" + PLAIN,
    "utf16": PLAIN.decode().encode("utf-16"),
    "utf7-decl": b'<?xml version="1.0" encoding="UTF-7"?>\n' + PLAIN,
    "latin1-name": PLAIN.replace(b"horse", b"h\xe9rse"),
    "nul": PLAIN.replace(b"horse", b"hor\x00se"),
    "vertical-tab": PLAIN.replace(b"horse", b"hor\x0bse"),
    "cdata-end": PLAIN.replace(b"horse", b"horse]]>"),
    "whitespace-before-declaration": b" " + b'<?xml version="1.0"?>' + PLAIN,
    "two-roots": PLAIN + PLAIN,
    "unclosed": PLAIN.replace(b"</pose>", b""),
    "mismatched": PLAIN.replace(b"</pose>", b"</Pose>"),
    "text-after-root": PLAIN + b"x",
    "too-deep": PLAIN.replace(b"<pose>Left</pose>", b"<a><b><c><d><e><f><g>x</g></f></e></d></c></b></a>"),
    "long-name": PLAIN.replace(b"<pose>Left</pose>", b"<" + b"p" * 300 + b">x</" + b"p" * 300 + b">"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_and_unusual_files_are_declined(tmp_path, name):
    """Never guessed: anything outside the plain subset goes to the hardened lxml path (which
    refuses the attacks or reads the rest)."""
    assert scan_voc(HOSTILE[name]) is None


def test_large_files_are_declined():
    big = PLAIN.replace(b"<segmented>0</segmented>", b"<segmented>" + b" " * SCAN_MAX_BYTES + b"0</segmented>")
    assert scan_voc(big) is None


def test_converter_workers_end_without_the_cli_sigterm_handler():
    """The pool ends its workers with SIGTERM; a worker that kept the CLI's handler (which
    raises) printed a traceback each, after a successful ``cvpipe convert``."""
    import signal

    from cvpipe.builtin.voc import to_yolo

    previous = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        to_yolo._init_worker({"x": 1})
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert to_yolo._JOB == {"x": 1}
    finally:
        signal.signal(signal.SIGTERM, previous)
        to_yolo._JOB.clear()


@pytest.mark.parametrize("skip_invalid", [True, False])
def test_direct_converter_equals_general_path_on_scanned_and_declined_files(tmp_path, skip_invalid):
    """Through the whole converter: files the scanner reads (parts, CRLF, a declaration, CVAT
    attributes) and files it leaves to lxml (comments, entities, DOCTYPE, UTF-16, attributes,
    malformed) give the general path's files, report and refusal."""
    from cvpipe.errors import InputError
    from cvpipe.formats import convert_dataset

    variants = {
        "a": PLAIN, "b": PLAIN.replace(b"\n", b"\r\n"), "c": b'<?xml version="1.0" encoding="utf-8"?>\n' + PLAIN,
        "d": PLAIN.replace(b"<pose>Left</pose>", b"<attributes><attribute><name>color</name><value>x</value>"
                                                 b"</attribute></attributes>"),
        "e": HOSTILE["comment"], "f": HOSTILE["entity"], "g": HOSTILE["doctype"], "h": HOSTILE["utf16"],
        "i": HOSTILE["attribute"], "j": HOSTILE["unclosed"], "k": PLAIN.replace(b"<xmax>471</xmax>", b"<xmax>600</xmax>"),
    }
    ann = tmp_path / "VOC" / "Annotations"
    ann.mkdir(parents=True)
    for stem, data in variants.items():
        (ann / f"{stem}.xml").write_bytes(data.replace(b"2008_000008.jpg", stem.encode() + b".jpg"))

    def outcome(dst: Path, direct: bool):
        try:
            report = convert_dataset(tmp_path / "VOC", dst, "yolo", from_format="voc", images="none",
                                     skip_invalid=skip_invalid, direct=direct, progress=False)
        except InputError as exc:
            return "refused", [str(p).replace(str(dst), "DST") for p in exc.problems], dst.exists()
        files = {str(p.relative_to(dst)): p.read_bytes().replace(str(dst.absolute()).encode(), b"DST")
                 for p in sorted(dst.rglob("*")) if p.is_file()}
        return "ok", {k: v for k, v in report.items() if k != "dst"}, files

    direct, general = outcome(tmp_path / "direct", True), outcome(tmp_path / "general", False)
    assert direct == general
    assert direct[0] == ("ok" if skip_invalid else "refused")
