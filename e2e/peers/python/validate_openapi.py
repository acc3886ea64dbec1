#!/usr/bin/env python3
"""Validate an OpenAPI 3.1 document (JSON) with openapi-spec-validator.

    .venv/bin/python e2e/peers/python/validate_openapi.py FILE

Checks the document against the OpenAPI 3.1 specification
(openapi-spec-validator's OpenAPIV31SpecValidator: structure, references,
path parameters, unique operation ids), and every schema in it
(components.schemas and each inline `schema` of parameters, request bodies,
responses and headers) against the JSON Schema 2020-12 meta-schema, and
every request body's `example` against its schema.

Exit status: 0 and one line `OK ...` on stdout when valid; 1 with every error
on stderr when not; 2 when the file cannot be read or is not JSON.
"""

import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator


def where(path):
    return "/".join(str(p) for p in path) or "(root)"


def inline_schemas(node, path):
    """Yields (path, schema) for every `schema` member under `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "schema" and isinstance(v, (dict, bool)):
                yield path + [k], v
            else:
                yield from inline_schemas(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from inline_schemas(v, path + [i])


def main(argv):
    if len(argv) != 2:
        print("usage: validate_openapi.py FILE", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"validate_openapi: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2

    errors = []
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1."):
        errors.append(f"openapi: expected a 3.1.x document, found {doc.get('openapi') if isinstance(doc, dict) else type(doc).__name__!r}")
    else:
        try:
            for e in OpenAPIV31SpecValidator(doc).iter_errors():
                errors.append(f"{where(e.absolute_path)}: {e.message}")
        except Exception as e:  # a reference that does not resolve stops the validator
            ref = getattr(e, "ref", None)
            msg = f"{ref} does not resolve" if ref else str(e)
            if len(msg) > 300:
                msg = msg[:300] + "..."
            errors.append(f"the validator stopped: {type(e).__name__}: {msg}")
        schemas = [
            (["components", "schemas", name], s)
            for name, s in (doc.get("components", {}).get("schemas", {}) or {}).items()
        ]
        schemas += list(inline_schemas(doc.get("paths", {}), ["paths"]))
        schemas += list(inline_schemas(doc.get("components", {}).get("responses", {}), ["components", "responses"]))
        meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        for path, s in schemas:
            for e in meta.iter_errors(s):
                errors.append(f"{where(path + list(e.absolute_path))}: not a JSON Schema 2020-12 schema: {e.message}")
        # Every example of a media type is valid for its schema (with the
        # document's components to resolve its references).
        components = doc.get("components", {})
        for path, item in doc.get("paths", {}).items():
            for verb, op in item.items():
                if not isinstance(op, dict):
                    continue
                content = (op.get("requestBody") or {}).get("content", {})
                for media, m in content.items():
                    if "example" not in m or "schema" not in m:
                        continue
                    root = {"$ref": "#/x-schema", "x-schema": m["schema"], "components": components}
                    for e in Draft202012Validator(root).iter_errors(m["example"]):
                        errors.append(
                            f"paths/{path}/{verb}/requestBody/content/{media}/example"
                            f"{'/' + where(e.absolute_path) if e.absolute_path else ''}: not valid for its schema: {e.message}"
                        )

    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"validate_openapi: {argv[1]}: {len(errors)} error(s)", file=sys.stderr)
        return 1
    ops = sum(
        1
        for item in doc.get("paths", {}).values()
        for verb in item
        if verb in ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    )
    print(
        f"OK {argv[1]}: OpenAPI {doc['openapi']}, {len(doc.get('paths', {}))} paths, "
        f"{ops} operations, {len(doc.get('components', {}).get('schemas', {}))} schemas"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
