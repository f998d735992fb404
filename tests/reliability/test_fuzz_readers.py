"""Fuzzing every reader (issue 14): hypothesis mutates valid VOC, COCO, YOLO and LabelMe files
(bit flips, truncation, hostile tokens inserted, a range deleted, two lines or two fields
swapped); each mutated dataset is read by ``cvpipe validate`` in a subprocess bounded by
``resource.setrlimit`` (2 GB of address space, CPU seconds) and a per-dataset CPU timer. Every
one must end with exit 0, or exit 2 naming a file of the dataset -- never exit 1, a traceback, a
crash or a timeout.

CI time stays small: a fixed, derandomized number of examples per reader (:data:`EXAMPLES`),
all of a reader's datasets validated by one subprocess (start-up would dominate otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: mutated datasets per reader (derandomized: the same ones on every run)
EXAMPLES = int(os.environ.get("CVPIPE_FUZZ_EXAMPLES", "25"))  # more for a deep local run
#: CPU seconds one dataset may take before it counts as hanging
CPU_PER_DATASET = 20
#: address space of the validating subprocess
ADDRESS_SPACE = 2 << 30

#: what a hostile file holds: markup declarations, entities, odd numbers, odd names, odd bytes
TOKENS = [
    b"<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>", b"&x;", b"<!ENTITY", b"]]>", b"<", b">",
    b"<?xml version='1.0' encoding='UTF-7'?>", b"+ACE-", b"\xff\xfe", b"\x00", b"\xc3", b"\xed\xb2\x80",
    b'"', b"{", b"}", b"[", b"]", b",", b":", b"null", b"true", b"NaN", b"-Infinity", b"1e308", b"-1",
    b"9" * 400, b"0.5", b"+1", b"0_0", "\u0661".encode(), b'"\\udc80"', b"\\ud800", b"../../", b"/etc/passwd",
    b"\n", b" ", b"\t", b"&amp;", b"&#0;", b"<object>", b"</annotation>", b"*a", b"&a [1]", b"!!python/object:os.system",
]


def _mutate(data: bytes, ops: list[tuple]) -> bytes:
    for op in ops:
        kind = op[0]
        n = len(data)
        if kind == "flip" and n:
            i = op[1] % n
            data = data[:i] + bytes([data[i] ^ (1 << op[2])]) + data[i + 1:]
        elif kind == "truncate":
            data = data[:op[1] % (n + 1)]
        elif kind == "insert":
            i = op[1] % (n + 1)
            data = data[:i] + op[2] + data[i:]
        elif kind == "delete" and n:
            i = op[1] % n
            data = data[:i] + data[i + op[2]:]
        elif kind == "swap-lines":
            lines = data.split(b"\n")
            if len(lines) > 1:
                i, j = op[1] % len(lines), op[2] % len(lines)
                lines[i], lines[j] = lines[j], lines[i]
                data = b"\n".join(lines)
        elif kind == "swap-fields":  # two values (numbers, strings, element texts) exchanged
            spans = [m.span() for m in re.finditer(rb'"[^"\n]*"|-?\d+(?:\.\d+)?|>[^<\n]+<', data)]
            if len(spans) > 1:
                (a0, a1), (b0, b1) = sorted((spans[op[1] % len(spans)], spans[op[2] % len(spans)]))
                if a1 <= b0:
                    data = data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]
    return data


POS = st.integers(0, 1 << 16)
OPS = st.lists(st.one_of(
    st.tuples(st.just("flip"), POS, st.integers(0, 7)),
    st.tuples(st.just("truncate"), POS),
    st.tuples(st.just("insert"), POS, st.sampled_from(TOKENS)),
    st.tuples(st.just("delete"), POS, st.integers(1, 64)),
    st.tuples(st.just("swap-lines"), POS, POS),
    st.tuples(st.just("swap-fields"), POS, POS),
), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """One valid two-image dataset per reader (the same images); YOLO's data.yaml names its root
    relatively, so that copies are self-contained."""
    from cvpipe.formats import convert_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("fuzz-bases")
    synthesize_voc(root / "voc", images=2, seed=7, size=(64, 48), object_size=(10, 20), objects_per_image=(1, 2))
    out = {"voc": root / "voc"}
    for fmt in ("coco", "yolo", "labelme"):
        convert_dataset(root / "voc", root / fmt, fmt, progress=False)
        out[fmt] = root / fmt
    y = root / "yolo" / "data.yaml"
    y.write_text(re.sub(r"(?m)^path: .*$", "path: .", y.read_text()))
    return out


def _annotation_files(base: Path, fmt: str) -> list[str]:
    pattern = {"voc": ["Annotations/*.xml", "ImageSets/Main/*.txt"], "coco": ["annotations/*.json"],
               "yolo": ["data.yaml", "labels/*/*.txt"], "labelme": ["*.json", "**/*.json"]}[fmt]
    files = sorted({str(p.relative_to(base)) for pat in pattern for p in base.glob(pat) if p.is_file()})
    assert files, (base, fmt)
    return files


def _cases(base: Path, fmt: str) -> list[tuple[str, list[tuple]]]:
    """:data:`EXAMPLES` mutations ``(file, ops)`` of ``fmt``'s files, drawn by hypothesis."""
    files = _annotation_files(base, fmt)
    drawn: list[tuple[str, list[tuple]]] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(file=st.sampled_from(files), ops=OPS)
    def draw(file, ops):
        drawn.append((file, ops))

    draw()
    return drawn


DRIVER = r"""
import contextlib, io, json, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, ({space}, {space}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu_total}, {cpu_total}))
class Hang(BaseException):
    pass
def alarm(signum, frame):
    raise Hang()
signal.signal(signal.SIGPROF, alarm)
from cvpipe.cli import main
results = []
for path in json.loads(sys.argv[1]):
    out = io.StringIO()
    signal.setitimer(signal.ITIMER_PROF, {cpu})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = main(["validate", "--from", sys.argv[2], path])
    except Hang:
        rc = "timeout"
    except BaseException as exc:
        import traceback
        rc, out = "escaped", io.StringIO(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    results.append((path, rc, out.getvalue()))
print(json.dumps(results))
"""


def run_mutated(base: Path, fmt: str, cases: list, tmp_path: Path) -> dict[int, int]:
    """Validate each mutated copy of ``base`` (``cases``: ``(file, ops)``) in the bounded driver
    and assert every one exits 0 or 2 naming a file, without a traceback; returns how many
    exited 0 and 2."""
    paths = []
    for k, (file, ops) in enumerate(cases):
        d = tmp_path / f"{fmt}-{k:02d}"
        shutil.copytree(base, d)
        target = d / file
        target.write_bytes(_mutate(target.read_bytes(), ops))
        paths.append(str(d))
    driver = DRIVER.format(space=ADDRESS_SPACE, cpu=CPU_PER_DATASET, cpu_total=CPU_PER_DATASET * (len(paths) + 2))
    r = subprocess.run([sys.executable, "-c", driver, json.dumps(paths), fmt], capture_output=True, text=True,
                       timeout=60 + 10 * len(paths), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    bad = []
    outcomes = {0: 0, 2: 0}
    for (path, rc, out), (file, ops) in zip(results, cases):
        lines = out.splitlines()  # a file inside the dataset named, or the dataset itself
        named = any(path + "/" in line for line in lines) or any(
            line.startswith(f"error: {path}:") and not line.endswith("problems found") for line in lines)
        if rc not in (0, 2) or "Traceback" in out or (rc == 2 and not named):
            bad.append(f"{file} {ops}: exit {rc}\n{out[-1500:]}")
        else:
            outcomes[rc] += 1
    assert not bad, f"{len(bad)} of {len(results)} mutated {fmt} datasets misbehaved:\n" + "\n\n".join(bad[:5])
    return outcomes


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo", "labelme"])
def test_mutated_files_never_crash_validate(bases, tmp_path, fmt):
    cases = _cases(bases[fmt], fmt)
    assert len(cases) >= EXAMPLES // 2
    run_mutated(bases[fmt], fmt, cases, tmp_path)
