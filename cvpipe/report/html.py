"""HTML building blocks of the report: escaping, tables, embedded pictures, the page shell.

Every string that comes from a run (file names, class names, settings, error messages) goes
through :func:`esc`. Pictures are embedded as ``data:`` URIs, the style sheet is inline and the
page carries a Content-Security-Policy that forbids loading anything from anywhere, so the file
opens from disk, offline, exactly as written. No JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["esc", "cell", "table", "kv_table", "picture", "details", "pre", "page", "image_info",
           "render_json", "is_scalar"]

#: Nothing but inline styles and data: pictures; no script, no fetch, no font, no frame.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; color: #1d2430; background: #f4f6f9; }
header { background: #1d2b45; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { opacity: .85; font-size: 13px; }
nav { background: #fff; border-bottom: 1px solid #dde3ea; padding: 8px 28px; font-size: 13px; }
nav a { margin-right: 14px; color: #2456a6; text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid #dde3ea; border-radius: 6px; margin: 16px 0; padding: 4px 18px 14px; }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
h4 { font-size: 14px; margin: 10px 0 4px; color: #3b4657; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #dde3ea; padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #eef2f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #f7f9fb; }
figure { margin: 10px 0 14px; }
figure img { max-width: 100%; height: auto; border: 1px solid #dde3ea; background: #fff; }
figcaption { font-size: 12px; color: #4a5568; margin-top: 3px; }
pre { background: #f7f9fb; border: 1px solid #dde3ea; padding: 8px 10px; overflow: auto; max-height: 640px; font-size: 12px; }
details { margin: 6px 0; }
summary { cursor: pointer; color: #2456a6; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.ok { background: #d8f3dc; color: #1b5e20; } .failed, .interrupted { background: #fde2e1; color: #9b1c1c; }
.skipped, .running { background: #edf0f4; color: #4a5568; }
.error { background: #fde2e1; border: 1px solid #f5b5b1; padding: 8px 12px; border-radius: 4px; color: #7a1111; }
.note { color: #5a6578; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.card { border: 1px solid #dde3ea; border-radius: 6px; padding: 6px 14px; min-width: 110px; background: #fbfcfd; }
.card .v { font-size: 20px; font-weight: 600; } .card .k { font-size: 12px; color: #5a6578; }
""".strip()


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is shown in one table cell (number, text, bool or None)."""
    return value is None or isinstance(value, (str, int, float, bool))


def cell(value: Any) -> tuple[str, bool]:
    """(escaped text, is-number) of one table cell: floats to 4 decimals, None as a dash."""
    if value is None:
        return "&ndash;", False
    if isinstance(value, bool):
        return esc(str(value).lower()), False
    if isinstance(value, int):
        return esc(value), True
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return esc(value), True
        return esc(f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"), True
    if isinstance(value, (list, tuple)) and all(is_scalar(v) for v in value):
        text = ", ".join(str(v) for v in value)
        return esc(text if len(text) <= 200 else text[:197] + "..."), False
    if not is_scalar(value):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return esc(text if len(text) <= 200 else text[:197] + "..."), False
    return esc(value), False


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, total_last: bool = False,
          limit: int | None = None) -> str:
    """An HTML table; numbers right-aligned. ``total_last`` styles the last row as a total;
    ``limit`` shows at most that many rows and says how many were left out."""
    rows = list(rows)
    shown = rows if limit is None else rows[:limit]
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for i, row in enumerate(shown):
        cls = ' class="total"' if total_last and i == len(rows) - 1 else ""
        out.append(f"<tr{cls}>")
        for v in row:
            text, num = cell(v)
            out.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if limit is not None and len(rows) > limit:
        out.append(f'<p class="note">{len(rows) - limit} more rows not shown.</p>')
    return "".join(out)


def kv_table(mapping: Mapping[str, Any], headers: Sequence[str] = ("name", "value")) -> str:
    """A two-column table of ``mapping``'s items."""
    return table(([k, v] for k, v in mapping.items()), headers)


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """(MIME type, width, height) of PNG, JPEG, GIF or WebP bytes; None when not such a picture
    (read from the file header, no image library)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return "image/png", w, h
    if data[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", data[6:10])
        return "image/gif", w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", 0, 0
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            size = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return "image/jpeg", w, h
            i += 2 + size
        return None
    return None


def picture(data: bytes, title: str, caption: str = "") -> str:
    """A ``<figure>`` with the picture embedded as a data: URI (its pixel size as width/height
    attributes, so the page lays out before decoding), or a note when ``data`` is no picture."""
    info = image_info(data)
    if info is None:
        return f'<p class="note">{esc(title)}: not a PNG, JPEG, GIF or WebP picture, left out.</p>'
    mime, w, h = info
    size = f' width="{w}" height="{h}"' if w and h else ""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{esc(title)}"{size}>{cap}</figure>'


def details(summary: str, body: str, *, open: bool = False) -> str:
    """A collapsible block; ``summary`` is escaped, ``body`` is HTML."""
    return f"<details{' open' if open else ''}><summary>{esc(summary)}</summary>{body}</details>"


def pre(text: str, *, limit: int = 200_000) -> str:
    """Preformatted text (escaped), cut at ``limit`` characters with a note."""
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters not shown)"
    return f"<pre>{esc(text)}</pre>"


def render_json(data: Any, *, depth: int = 0) -> str:
    """Any JSON value as tables, whatever its shape: a flat mapping as name/value rows, a
    mapping of flat mappings as a matrix (rows: outer keys, columns: inner keys), a list of flat
    mappings as rows, nested values as sub-headings; beyond three levels, JSON text."""
    if is_scalar(data):
        return f"<p>{cell(data)[0]}</p>"
    if depth >= 3:
        return pre(json.dumps(data, indent=2, ensure_ascii=False, default=str), limit=20_000)
    if isinstance(data, list):
        if not data:
            return '<p class="note">(empty)</p>'
        if all(is_scalar(v) for v in data):
            return f"<p>{cell(data)[0]}</p>"
        if all(isinstance(v, Mapping) and all(is_scalar(x) or _flat_list(x) for x in v.values()) for v in data):
            cols: list[str] = []
            for v in data:
                cols += [k for k in v if k not in cols]
            return table(([v.get(c) for c in cols] for v in data), cols, limit=500)
        return "".join(f"<h4>[{i}]</h4>" + render_json(v, depth=depth + 1) for i, v in enumerate(data[:50]))
    if isinstance(data, Mapping):
        if not data:
            return '<p class="note">(empty)</p>'
        flat = {k: v for k, v in data.items() if is_scalar(v) or _flat_list(v)}
        nested = {k: v for k, v in data.items() if k not in flat}
        parts = [kv_table(flat)] if flat else []
        if nested and all(isinstance(v, Mapping) and v and all(is_scalar(x) for x in v.values())
                          for v in nested.values()) and len(nested) > 1:
            cols = []
            for v in nested.values():
                cols += [k for k in v if k not in cols]
            if len(cols) <= 30:
                parts.append(table(([k] + [v.get(c) for c in cols] for k, v in nested.items()), [""] + cols,
                                   limit=500))
                return "".join(parts)
        for k, v in nested.items():
            parts.append(f"<h4>{esc(k)}</h4>" + render_json(v, depth=depth + 1))
        return "".join(parts)
    return pre(str(data))


def _flat_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 20 and all(is_scalar(v) for v in value)


def page(title: str, header_html: str, nav: Sequence[tuple[str, str]], body_html: str) -> str:
    """The whole document: ``title`` (escaped), a header, a table of contents of
    ``(anchor id, label)`` pairs and the body (HTML)."""
    links = "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><header>{header_html}</header><nav>{links}</nav>\n<main>{body_html}</main></body></html>\n"
    )
