#!/usr/bin/env python3
"""Draws the soak's samples (e2e/bench/soak.sh's CSV: t_s, rss_kb, fds,
tasks) as an SVG line chart, one panel per series, with the warm-up
shaded. No dependencies: the SVG is written by hand.

    soak_chart.py samples.csv out.svg [WARMUP_S]
"""

import csv
import sys


def main(src, out, warmup):
    rows = list(csv.DictReader(open(src)))
    t = [float(r["t_s"]) for r in rows]
    series = [
        ("RSS (MB)", [float(r["rss_kb"]) / 1024 for r in rows]),
        ("open file descriptors", [float(r["fds"]) for r in rows]),
        ("runtime tasks", [float(r["tasks"]) for r in rows]),
    ]
    w, ph, pad = 760, 170, 50
    h = pad + len(series) * (ph + pad)
    tmax = max(t) if t else 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    for i, (name, ys) in enumerate(series):
        top = pad + i * (ph + pad)
        left, width = 70, w - 100
        ymax = max(ys) * 1.15 if ys and max(ys) > 0 else 1
        x = lambda v: left + width * v / tmax
        y = lambda v: top + ph - ph * v / ymax
        parts.append(f'<text x="{left}" y="{top - 10}" font-weight="bold">{name}</text>')
        parts.append(f'<rect x="{left}" y="{top}" width="{x(min(warmup, tmax)) - left:.1f}" height="{ph}" fill="#eee"/>')
        parts.append(f'<rect x="{left}" y="{top}" width="{width}" height="{ph}" fill="none" stroke="#888"/>')
        for k in range(5):
            v = ymax * k / 4
            parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
            parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        for k in range(0, int(tmax) + 1, max(60, int(tmax) // 10 // 60 * 60 or 60)):
            parts.append(f'<text x="{x(k):.1f}" y="{top + ph + 15}" text-anchor="middle">{k}s</text>')
        pts = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(t, ys))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    parts.append(f'<text x="{w - 30}" y="{h - 12}" text-anchor="end" fill="#666">shaded: warm-up ({warmup:.0f} s)</text>')
    parts.append("</svg>")
    open(out, "w").write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 60)
