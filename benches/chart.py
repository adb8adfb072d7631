#!/usr/bin/env python3
"""Turns sessiond-bench's JSON runs (one object per line) into a chart or a
markdown table.

    chart.py RUNS.jsonl OUT.svg     throughput, p99 and memory, as SVG
    chart.py --table RUNS.jsonl     the same figures as a markdown table

Standard library only: the SVG is written by hand.
"""

import json
import sys
from html import escape

COLORS = {"sessiond": "#2f6fb3", "redis": "#c0392b", "embedded": "#7f8c8d"}


def system(run):
    target = run["target"]
    return "redis" if target.startswith("redis") else "sessiond" if target.startswith("sessiond") else "embedded"


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def throughput_runs(runs):
    """{(workload, pipeline): {system: run}} for timed runs, in run order."""
    groups = {}
    for run in runs:
        if not run.get("memory_only"):
            groups.setdefault((run["workload"], run["pipeline"]), {})[system(run)] = run
    return groups


def memory_runs(runs):
    return {system(r): r for r in runs if r.get("memory_only")}


def table(runs):
    lines = [
        "| workload | pipeline | system | ops/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/op | ratio (ops/s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (workload, pipeline), by in throughput_runs(runs).items():
        base = by.get("redis", {}).get("ops_per_sec")
        for name in ("sessiond", "redis"):
            r = by.get(name)
            if not r:
                continue
            ratio = f"{r['ops_per_sec'] / base:.2f}x" if base else ""
            cpu = r.get("server_cpu_us_per_op")
            lines.append(
                f"| {workload} | {pipeline} | {name} | {r['ops_per_sec']:,.0f} | {r['p50_us']:,.0f} | "
                f"{r['p99_us']:,.0f} | {r['p999_us']:,.0f} | {'' if cpu is None else f'{cpu:.1f}'} | {ratio} |"
            )
    lines.append("")
    lines.append("| memory, 1M sessions of 200 B, 5 per owner | bytes per session (RSS) | source |")
    lines.append("|---|---|---|")
    for name, r in memory_runs(runs).items():
        lines.append(f"| {name} | {r['bytes_per_session']:.0f} | {r['rss_source']} |")
    return "\n".join(lines)


def bars(x, y, width, height, title, groups, value, unit):
    """One panel of grouped bars: a group per label, a bar per system."""
    out = [f'<text x="{x}" y="{y - 8}" font-size="14" font-weight="bold">{escape(title)}</text>']
    # Headroom above the tallest bar for its label.
    top = 1.15 * (max((value(r) for g in groups.values() for r in g.values()), default=1) or 1)
    group_w = width / max(len(groups), 1)
    for i, (label, by) in enumerate(groups.items()):
        names = list(by)
        bar_w = group_w * 0.8 / max(len(names), 1)
        for j, name in enumerate(names):
            v = value(by[name])
            h = height * v / top
            bx = x + i * group_w + group_w * 0.1 + j * bar_w
            out.append(
                f'<rect x="{bx:.1f}" y="{y + height - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[name]}"><title>{name}: {v:,.0f} {unit}</title></rect>'
            )
            out.append(
                f'<text x="{bx + (bar_w - 2) / 2:.1f}" y="{y + height - h - 3:.1f}" font-size="9" '
                f'text-anchor="middle">{v / 1000:,.0f}k</text>' if v >= 10_000 else
                f'<text x="{bx + (bar_w - 2) / 2:.1f}" y="{y + height - h - 3:.1f}" font-size="9" '
                f'text-anchor="middle">{v:,.0f}</text>'
            )
        out.append(
            f'<text x="{x + i * group_w + group_w / 2:.1f}" y="{y + height + 14}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    out.append(f'<line x1="{x}" y1="{y + height}" x2="{x + width}" y2="{y + height}" stroke="#333"/>')
    return out


def svg(runs):
    groups = {f"{w} P{p}": by for (w, p), by in throughput_runs(runs).items()}
    memory = {"1M sessions": memory_runs(runs)}
    width, panel_h = 900, 180
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{3 * panel_h + 170}" '
        f'font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    parts += bars(40, 40, width - 80, panel_h - 40, "Throughput, ops/s (higher is better), 50 connections",
                  groups, lambda r: r["ops_per_sec"], "ops/s")
    parts += bars(40, 40 + panel_h + 30, width - 80, panel_h - 40, "p99 latency, µs (lower is better)",
                  groups, lambda r: r["p99_us"], "µs")
    parts += bars(40, 40 + 2 * (panel_h + 30), 300, panel_h - 40,
                  "Memory, bytes per session by RSS (lower is better)",
                  memory, lambda r: r["bytes_per_session"], "bytes")
    legend_y = 3 * panel_h + 140
    for i, (name, color) in enumerate(COLORS.items()):
        parts.append(f'<rect x="{40 + i * 120}" y="{legend_y}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{58 + i * 120}" y="{legend_y + 11}" font-size="12">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main(argv):
    if len(argv) == 3 and argv[1] == "--table":
        print(table(load(argv[2])))
    elif len(argv) == 3:
        with open(argv[2], "w") as f:
            f.write(svg(load(argv[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
