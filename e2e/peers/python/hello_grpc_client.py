#!/usr/bin/env python3
"""Third-party gRPC client for kitegate's e2e tests: calls service
hello.Hello (examples/idl/hello.proto) with grpcio, compiling the .proto at
run time with grpc_tools (as grpc_server.py does).

    hello_grpc_client.py --target 127.0.0.1:PORT [--proto PATH]

Calls, in order:
    Echo(Request(message="from grpcio"))    expects "from grpcio"
    Echo(Request())                         expects "hello world"
    Add(AddRequest(first=512, second=512))  expects sum 1024
    Count(CountRequest(to=3))               expects the stream n = 1, 2, 3

Prints one JSON line on stdout, e.g.
    {"echo":"from grpcio","echo_default":"hello world","sum":1024,"count":[1,2,3]}
and exits 0 only if every result is as expected (1 otherwise, reasons on stderr).
"""

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from grpc_server import DEFAULT_GOOGLE_API, REPO, compile_proto  # noqa: E402

DEFAULT_PROTO = os.path.join(REPO, "examples", "idl", "hello.proto")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--proto", default=DEFAULT_PROTO)
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="kitegate-grpc-client-")
    try:
        out = compile_proto(args.proto, DEFAULT_GOOGLE_API, workdir)
        sys.path.insert(0, out)
        pb2 = importlib.import_module("hello_pb2")
        pb2_grpc = importlib.import_module("hello_pb2_grpc")
        with grpc.insecure_channel(args.target) as channel:
            stub = pb2_grpc.HelloStub(channel)
            got = {
                "echo": stub.Echo(pb2.Request(message="from grpcio"), timeout=5).message,
                "echo_default": stub.Echo(pb2.Request(), timeout=5).message,
                "sum": stub.Add(pb2.AddRequest(first=512, second=512), timeout=5).sum,
                "count": [r.n for r in stub.Count(pb2.CountRequest(to=3), timeout=5)],
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(got, separators=(",", ":")), flush=True)
    want = {"echo": "from grpcio", "echo_default": "hello world", "sum": 1024,
            "count": [1, 2, 3]}
    if got != want:
        print(f"hello_grpc_client.py: got {got}, want {want}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
