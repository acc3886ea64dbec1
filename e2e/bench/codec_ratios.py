#!/usr/bin/env python3
"""Prints the dynamic-vs-static table of the last `cargo bench -p codecs` run
from criterion's estimates (target/criterion/<group>/<side>/<direction>):
the Thrift bench (`--bench thrift`), then the Protobuf one (`--bench
protobuf`, groups prefixed `pb_`). A codec with no results at all is skipped."""
import json
import os
import sys

root = os.path.join(os.path.dirname(__file__), "..", "..", "target", "criterion")
codecs = [
    (("add_request", "large_1000_items"), ("json_to_thrift", "thrift_to_json")),
    (("pb_add_request", "pb_large_1000_items"), ("json_to_protobuf", "protobuf_to_json")),
]


def median(group, side, direction):
    path = os.path.join(root, group, f"{side}_{direction}", "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


rows = []
for groups, directions in codecs:
    found = {(g, d, s): median(g, s, d) for g in groups for d in directions for s in ("dynamic", "static")}
    if all(v is None for v in found.values()):
        continue
    missing = [f"{g}/{s}/{d}" for (g, d, s), v in found.items() if v is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `cargo bench -p codecs` first")
    rows += [(g, d, found[g, d, "dynamic"], found[g, d, "static"]) for g in groups for d in directions]
if not rows:
    sys.exit(f"no results under {root}: run `cargo bench -p codecs` first")

fmt = lambda ns: f"{ns / 1000:.1f} µs" if ns >= 1000 else f"{ns:.1f} ns"
print("| workload | direction | dynamic | static | static / dynamic |")
print("|---|---|---|---|---|")
for group, direction, d, s in rows:
    print(f"| {group} | {direction} | {fmt(d)} | {fmt(s)} | {s / d:.2f} |")
