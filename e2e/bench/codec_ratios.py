#!/usr/bin/env python3
"""Prints the dynamic-vs-static table of the last `cargo bench -p codecs` run
from criterion's estimates (target/criterion/<group>/<side>/<direction>)."""
import json
import os
import sys

root = os.path.join(os.path.dirname(__file__), "..", "..", "target", "criterion")
print("| workload | direction | dynamic | static | static / dynamic |")
print("|---|---|---|---|---|")
for group in ("add_request", "large_1000_items"):
    for direction in ("json_to_thrift", "thrift_to_json"):
        t = {}
        for side in ("dynamic", "static"):
            path = os.path.join(root, group, f"{side}_{direction}", "new", "estimates.json")
            try:
                with open(path) as f:
                    t[side] = json.load(f)["median"]["point_estimate"]
            except FileNotFoundError:
                sys.exit(f"missing {path}: run `cargo bench -p codecs` first")
        fmt = lambda ns: f"{ns / 1000:.1f} µs" if ns >= 1000 else f"{ns:.1f} ns"
        print(f"| {group} | {direction} | {fmt(t['dynamic'])} | {fmt(t['static'])} | {t['static'] / t['dynamic']:.2f} |")
