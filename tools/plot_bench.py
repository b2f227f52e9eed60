#!/usr/bin/env python3
"""Draws docs/bench/results.svg from docs/bench/results.json (written by
`cargo bench --bench connman_bench`). Standard library only.

Left: drop -> on_reconnect latency, as cumulative distributions on a log axis
(connman on its own thread, embedded, and one raw handshake), with the Node.js
original's ~21 ms as a marker. Right: receive throughput per round, connman and
raw, with fixed placement and unpinned.

usage: python3 tools/plot_bench.py [results.json [out.svg]]
"""

import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 980, 420
PANEL = [(70, 50, 400, 300), (560, 50, 390, 300)]  # x, y, width, height
COLORS = {
    "own": "#1f77b4",
    "embedded": "#2ca02c",
    "raw": "#7f7f7f",
    "rawre": "#ff7f0e",
    "orig": "#d62728",
}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Svg:
    def __init__(self):
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
        ]

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, anchor="start", size=12, color="#222", rotate=None):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}"{tr}>{esc(s)}</text>'
        )

    def line(self, x1, y1, x2, y2, color="#ccc", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{width}"{d}/>'
        )

    def poly(self, pts, color, width=2, dash=None):
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="{width}"{d}/>')

    def dot(self, x, y, color, hollow=False):
        fill = "white" if hollow else color
        self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{fill}" stroke="{color}" stroke-width="1.5"/>')

    def legend(self, x, y, items):
        for i, (label, color, dash) in enumerate(items):
            yy = y + 16 * i
            self.line(x, yy - 4, x + 22, yy - 4, color, 2.5, dash)
            self.text(x + 28, yy, label, size=11)

    def done(self):
        return "\n".join(self.parts + ["</svg>"]) + "\n"


def frame(svg, panel, title, xlabel, ylabel):
    x, y, w, h = panel
    svg.add(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#444"/>')
    svg.text(x + w / 2, y - 14, title, "middle", 14)
    svg.text(x + w / 2, y + h + 36, xlabel, "middle")
    svg.text(x - 46, y + h / 2, ylabel, "middle", rotate=-90)


def recovery_panel(svg, series):
    x0, y0, w, h = PANEL[0]
    lo, hi = 1e3, 1e8  # 1 µs .. 100 ms, in ns
    def px(ns):
        return x0 + (math.log10(max(ns, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * w
    def py(frac):
        return y0 + h - frac * h
    frame(svg, PANEL[0], "drop → on_reconnect (cumulative share of drops)", "latency (log scale)", "share of drops")
    for k, label in [(1e3, "1 µs"), (1e4, "10 µs"), (1e5, "100 µs"), (1e6, "1 ms"), (1e7, "10 ms"), (1e8, "100 ms")]:
        svg.line(px(k), y0, px(k), y0 + h)
        svg.text(px(k), y0 + h + 16, label, "middle", 11)
    for f in (0, 0.25, 0.5, 0.75, 1):
        svg.line(x0, py(f), x0 + w, py(f))
        svg.text(x0 - 6, py(f) + 4, f"{f:.2f}", "end", 11)
    items = []
    for key, label, color in [
        ("raw_handshake_ns", "raw handshake", COLORS["raw"]),
        ("raw_reconnect_ns", "raw client's reconnect after the drop", COLORS["rawre"]),
        ("recovery_own_ns", "connman, own thread", COLORS["own"]),
        ("recovery_embedded_ns", "connman, embedded", COLORS["embedded"]),
    ]:
        v = sorted(x for x in series.get(key, []) if x is not None)
        if not v:
            continue
        pts = []
        for i, ns in enumerate(v):
            pts.append((px(ns), py(i / len(v))))
            pts.append((px(ns), py((i + 1) / len(v))))
        svg.poly(pts, color)
        p50 = v[len(v) // 2]
        items.append((f"{label} (p50 {p50 / 1e3:.1f} µs)", color, None))
    orig = 21e6
    svg.line(px(orig), y0, px(orig), y0 + h, COLORS["orig"], 2, "6,4")
    svg.text(px(orig) - 4, y0 + 16, "Node.js original", "end", 11, COLORS["orig"])
    svg.text(px(orig) - 4, y0 + 30, "~21 ms", "end", 11, COLORS["orig"])
    items.append(("original's first retry (~21 ms)", COLORS["orig"], "6,4"))
    svg.legend(x0 + 150, y0 + h - 16 * len(items) - 6, items)


def throughput_panel(svg, series):
    x0, y0, w, h = PANEL[1]
    runs = [
        ("throughput_pinned_connman", "connman, pinned", COLORS["own"], False),
        ("throughput_pinned_raw", "raw, pinned", COLORS["raw"], False),
        ("throughput_unpinned_connman", "connman, unpinned", COLORS["own"], True),
        ("throughput_unpinned_raw", "raw, unpinned", COLORS["raw"], True),
    ]
    vals = [x for k, *_ in runs for x in series.get(k, []) if x is not None]
    n = max((len(series.get(k, [])) for k, *_ in runs), default=0)
    if not vals or n == 0:
        return
    top = math.ceil(max(vals) / 1e9) or 1
    frame(svg, PANEL[1], "receive throughput per round", "round (A/B, then B/A)", "GB/s")
    def px(i):
        return x0 + (i + 0.5) / n * w
    def py(bps):
        return y0 + h - bps / (top * 1e9) * h
    for g in range(0, top + 1):
        svg.line(x0, py(g * 1e9), x0 + w, py(g * 1e9))
        svg.text(x0 - 6, py(g * 1e9) + 4, f"{g}", "end", 11)
    for i in range(n):
        svg.text(px(i), y0 + h + 16, str(i + 1), "middle", 11)
    items = []
    for key, label, color, hollow in runs:
        v = series.get(key, [])
        if not v:
            continue
        pts = [(px(i), py(x)) for i, x in enumerate(v)]
        svg.poly(pts, color, 1.5, "3,3" if hollow else None)
        for x, y in pts:
            svg.dot(x, y, color, hollow)
        items.append((label, color, "3,3" if hollow else None))
    svg.legend(x0 + 12, y0 + 18, items)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs/bench/results.json")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(src), "results.svg")
    with open(src, encoding="utf-8") as f:
        data = json.load(f)
    svg = Svg()
    meta = data.get("meta", {})
    svg.text(W / 2, 22, f"connman benchmark, {meta.get('date', '?')}, commit {meta.get('commit', '?')}", "middle", 13, "#555")
    recovery_panel(svg, data.get("series", {}))
    throughput_panel(svg, data.get("series", {}))
    svg.text(W / 2, H - 8, meta.get("machine", ""), "middle", 11, "#777")
    with open(out, "w", encoding="utf-8") as f:
        f.write(svg.done())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
