"""Parses a Prometheus exposition with the Prometheus project's Python parser.

    parse_metrics.py text|openmetrics < exposition

Prints one JSON object: {"families": [{"name", "type", "samples": [{"name",
"labels", "value"}]}]}. A parse error exits non-zero with the error on stderr.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text


def main() -> None:
    kind = sys.argv[1]
    text = sys.stdin.read()
    parse = parse_openmetrics if kind == "openmetrics" else parse_text
    families = []
    for fam in parse(text):
        families.append({
            "name": fam.name,
            "type": fam.type,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value}
                for s in fam.samples
            ],
        })
    json.dump({"families": families}, sys.stdout)


if __name__ == "__main__":
    main()
