"""Debian's chromium, headless, as a test instrument: the DOM after load, a screenshot, a PDF, a netlog.

Each run gets its own profile directory, so runs can go in parallel and leave nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
DARK = ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")  # Blink's enum: 0 is dark
BROWSER_ORIGIN = "not an origin"  # the netlog initiator of Chromium's own requests (updates, time sync)


def find() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


@dataclass(frozen=True)
class Run:
    dom: str
    screenshot: Path | None
    pdf: Path | None
    netlog: Path


def run(
    binary: str,
    page: Path,
    work: Path,
    *,
    dark: bool = False,
    screenshot: Path | None = None,
    pdf: Path | None = None,
    size: str = "1400,2000",
) -> Run:
    """Load `page` from disk once: the DOM after scripts ran, plus a screenshot and a PDF if asked."""
    work.mkdir(parents=True, exist_ok=True)
    netlog = work / "netlog.json"
    args = [
        binary,
        *FLAGS,
        f"--user-data-dir={work / 'profile'}",
        f"--log-net-log={netlog}",
        f"--window-size={size}",
        "--dump-dom",
        *(DARK if dark else ()),
    ]
    if screenshot:
        args.append(f"--screenshot={screenshot}")
    if pdf:
        args += [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"]
    proc = subprocess.run([*args, page.resolve().as_uri()], capture_output=True, text=True, timeout=90)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    shutil.rmtree(work / "profile", ignore_errors=True)
    return Run(proc.stdout, screenshot, pdf, netlog)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network stack for (file:// loads never reach it).

    Chromium's own traffic is initiated by the browser ("not an origin"); a page's requests carry
    its origin (a file:// page's is "null") and the page's site in their isolation key.
    """
    data = json.loads(netlog.read_text())
    start = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        p["url"]
        for e in data["events"]
        if e["type"] == start
        and "url" in (p := e.get("params", {}))
        and (p.get("initiator") != BROWSER_ORIGIN or "file://" in p.get("network_isolation_key", ""))
    ]


def pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))


def top_left_pixel(png: Path) -> tuple[int, int, int]:
    """The first pixel of an 8-bit RGB(A) PNG: every PNG filter leaves the first byte of row 0 as it is."""
    data = png.read_bytes()
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    depth, color = header[8], header[9]
    if depth != 8 or color not in (2, 6):
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {color})")
    row = zlib.decompressobj().decompress(idat, 8)
    return row[1], row[2], row[3]
