"""The report in a real headless browser (Debian's Chromium, driven over the DevTools protocol):
it loads from disk with no console error and no request leaving the file, every picture decodes,
and a screenshot of the expected size is taken.

Chromium is installed by this test's setup (``apt-get install chromium``) when it is missing and
the test runs as root with apt-get; elsewhere the test is skipped, saying why. The DevTools
client is the few lines of RFC 6455 below (standard library only).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cvpipe.cli import main

#: Generous limits that only stop a hung browser; nothing is measured against them.
START_LIMIT_S = 30.0
CALL_LIMIT_S = 30.0
WIDTH, HEIGHT = 1280, 2000


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable, installed from Debian's packages when missing (skip when that is
    not possible here)."""
    path = _find_chromium()
    if path:
        return path
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium")
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"Chromium could not be installed with apt-get: {exc} {detail.decode(errors='replace')[-300:]}")
    path = _find_chromium()
    if not path:
        pytest.skip("apt-get install chromium succeeded but no chromium executable is on PATH")
    return path


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), frames in (fragments joined,
    pings answered)."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=CALL_LIMIT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n")
        status = bytes(self.buf[:end]).split(b"\r\n")[0]
        del self.buf[:end + 4]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"websocket handshake refused: {status!r}")

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the browser closed the connection")
        self.buf += chunk

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _send(self, opcode: int, data: bytes) -> None:
        n = len(data)
        head = bytearray([0x80 | opcode])
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, text: str) -> None:
        self._send(0x1, text.encode("utf-8"))

    def recv(self) -> str:
        message = bytearray()
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send(0xA, data)
                continue
            if opcode == 0x8:
                raise ConnectionError("the browser closed the websocket")
            if opcode in (0x0, 0x1, 0x2):
                message += data
                if b0 & 0x80:
                    return message.decode("utf-8")

    def close(self) -> None:
        self.sock.close()


class Page:
    """One browser tab over the DevTools protocol: commands, and every event kept."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws, self.last_id, self.events = ws, 0, []

    def _next(self) -> dict[str, Any]:
        msg = json.loads(self.ws.recv())
        if "method" in msg:
            self.events.append(msg)
        return msg

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            msg = self._next()
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def wait_for(self, method: str, since: int) -> dict[str, Any]:
        deadline = time.monotonic() + CALL_LIMIT_S
        while True:
            for ev in self.events[since:]:
                if ev["method"] == method:
                    return ev
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} event")
            self._next()

    def open(self, url: str) -> list[dict[str, Any]]:
        """Navigate to ``url``, wait for its load event; returns the events since navigating."""
        since = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", since)
        return self.events[since:]

    def problems(self, events: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Console errors, uncaught exceptions, browser log errors and requests that are not for
        the file itself or a data: URI."""
        out: dict[str, list[str]] = {"console": [], "exceptions": [], "log": [], "requests": []}
        for ev in events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out["console"].append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                out["exceptions"].append(json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out["log"].append(p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("data:", "file:")):
                    out["requests"].append(url)
        return out

    def images(self) -> list[dict[str, Any]]:
        """Every <img> once decoded: alt, naturalWidth/Height, and whether decoding failed."""
        expr = """Promise.all(Array.from(document.images).map(i => i.decode().then(() => true, () => false)
                   .then(ok => ({alt: i.alt, ok: ok, w: i.naturalWidth, h: i.naturalHeight}))))"""
        res = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        return res["result"]["value"]


@pytest.fixture
def browser(chromium, tmp_path):
    """A headless Chromium with a DevTools connection to its one tab, the viewport WIDTH x HEIGHT."""
    log = tmp_path / "chromium.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--disable-default-apps", "--mute-audio", f"--user-data-dir={tmp_path / 'profile'}",
             "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}", "--enable-logging=stderr", "--v=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    ws = None
    try:
        deadline = time.monotonic() + START_LIMIT_S
        port = None
        while port is None:
            for line in log.read_text(errors="replace").splitlines():
                if "DevTools listening on ws://" in line:
                    port = urlsplit(line.split("DevTools listening on ")[1].strip()).port
            if port is None:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Chromium did not start (exit {proc.poll()}):\n{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=CALL_LIMIT_S) as r:
            targets = json.load(r)
        tab = next(t for t in targets if t.get("type") == "page")
        ws = WebSocket(tab["webSocketDebuggerUrl"])
        page = Page(ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        yield page
    finally:
        if ws is not None:
            ws.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # our own process group: the browser and its helpers
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


PIPELINE = """
name: browser_check
steps:
  - synthesize: {path: "${run_dir}/data", images: 6, size: [96, 72], object_size: [16, 30], seed: 3}
  - read: {format: voc, path: "${run_dir}/data", output: ds}
  - validate: {dataset: ds, fail: false}
  - stats: {dataset: ds}
"""


def test_report_renders_in_chromium(browser, tmp_path):
    from cvpipe.testing import blank_png

    f = tmp_path / "p.yaml"
    f.write_text(PIPELINE)
    run = tmp_path / "run"
    assert main(["run", str(f), "--out", str(run), "--quiet"]) == 0
    # a picture and tables some other plugin wrote after the run, picked up by `cvpipe report`
    blank_png(run / "stats" / "analysis" / "extra_chart.png", 40, 30)
    (run / "stats" / "analysis" / "thresholds.json").write_text(json.dumps({"dog": {"conf": 0.4, "f1": 0.8}}))
    out = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(out)]) == 0

    events = browser.open(out.as_uri())
    assert browser.problems(events) == {"console": [], "exceptions": [], "log": [], "requests": []}
    images = browser.images()
    assert len(images) == 2  # stats.png and the plugin's chart
    assert all(i["ok"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    title = browser.call("Runtime.evaluate", expression="document.title", returnByValue=True)["result"]["value"]
    assert title == "cvpipe report: browser_check"

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "screenshot.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", shot[16:24]) == (WIDTH, HEIGHT)
    import cv2

    pixels = cv2.imdecode(__import__("numpy").frombuffer(shot, "uint8"), cv2.IMREAD_COLOR)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert pixels.std() > 10  # a rendered page, not a blank one


def test_the_browser_check_catches_a_broken_page(browser, tmp_path):
    """The same checks on a page that is broken in each way they look for all fail."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                   '<img alt="broken" src="data:image/png;base64,iVBORw0KGgoAAAA">'
                   '<img alt="remote" src="http://127.0.0.1:9/x.png">'
                   '<script>console.error("boom")</script></body></html>')
    events = browser.open(bad.as_uri())
    found = browser.problems(events)
    assert found["console"] == ["boom"]
    assert found["requests"] == ["http://127.0.0.1:9/x.png"]
    images = browser.images()
    assert [i["ok"] for i in images] == [False, False] and [i["w"] for i in images] == [0, 0]
