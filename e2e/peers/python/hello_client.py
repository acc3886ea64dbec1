#!/usr/bin/env python3
"""Third-party Thrift client for kitegate's e2e tests: calls service Hello
(examples/idl/hello.thrift) with thriftpy2, loading the IDL at run time.

    hello_client.py [--idl PATH] [--host 127.0.0.1] --port N
                    [--protocol binary|compact] [--transport buffered|framed]
                    [--overflow-code N|any]

Calls, in order:
    echo(Request(message="from python"))            expects "from python"
    echo(Request())                                 expects "hello world" (the IDL
                                                    default, filled in by thriftpy2)
    add(AddRequest(first=512, second=512))          expects sum 1024
    add(AddRequest(first=2**63-1, second=1))        expects HelloError (code 1
                                                    unless --overflow-code says otherwise)

Prints one JSON line on stdout, e.g.
    {"echo":"from python","echo_default":"hello world","sum":1024,"overflow":{"code":1,"message":"..."}}
and exits 0 only if every result is as expected; otherwise the reasons go to
stderr and the exit status is 1 (2 if the IDL cannot be loaded or the server
cannot be reached).
"""

import argparse
import json
import os
import sys

import thriftpy2
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.rpc import make_client
from thriftpy2.thrift import TApplicationException
from thriftpy2.transport import TBufferedTransportFactory, TFramedTransportFactory

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IDL = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples", "idl", "hello.thrift"))

I64_MAX = 2 ** 63 - 1


def protocol_factory(name):
    if name == "binary":
        # Strict binary (0x8001 version header) both ways; Kitex rejects the old form.
        return TBinaryProtocolFactory(strict_read=True, strict_write=True)
    return TCompactProtocolFactory()


def transport_factory(name):
    return TFramedTransportFactory() if name == "framed" else TBufferedTransportFactory()


def describe(e):
    if isinstance(e, TApplicationException):
        return {"application_exception": {"type": e.type, "message": e.message}}
    return {"error": "%s: %s" % (type(e).__name__, e)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idl", default=DEFAULT_IDL, help="hello.thrift (default: examples/idl/hello.thrift)")
    ap.add_argument("--include-dir", action="append", default=[], help="extra include directory (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", choices=["binary", "compact"], default="binary")
    ap.add_argument("--transport", choices=["buffered", "framed"], default="buffered")
    ap.add_argument("--timeout-ms", type=int, default=5000)
    ap.add_argument("--overflow-code", default="1",
                    help="expected HelloError.code on i64 overflow, or 'any' (default 1)")
    args = ap.parse_args()

    try:
        stem = os.path.splitext(os.path.basename(args.idl))[0]
        hello = thriftpy2.load(args.idl, module_name=stem + "_thrift",
                               include_dirs=args.include_dir or None)
    except Exception as e:  # noqa: BLE001
        print("hello_client: cannot load %s: %s: %s" % (args.idl, type(e).__name__, e), file=sys.stderr)
        return 2

    try:
        client = make_client(hello.Hello, args.host, args.port,
                             proto_factory=protocol_factory(args.protocol),
                             trans_factory=transport_factory(args.transport),
                             timeout=args.timeout_ms)
    except Exception as e:  # noqa: BLE001
        print("hello_client: cannot connect to %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 2

    out = {}
    problems = []

    def step(key, fn, check):
        try:
            value = fn()
        except hello.HelloError as e:
            value = {"code": e.code, "message": e.message}
        except Exception as e:  # noqa: BLE001
            out[key] = describe(e)
            problems.append("%s: %s" % (key, out[key]))
            return
        out[key] = value
        why = check(value)
        if why:
            problems.append("%s: %s (got %r)" % (key, why, value))

    def expect_equal(want):
        return lambda got: None if got == want else "expected %r" % (want,)

    def echo(req):
        resp = client.echo(req)
        return resp.message if resp is not None else None

    def add(first, second):
        resp = client.add(hello.AddRequest(first=first, second=second))
        return resp.sum if resp is not None else None

    def check_overflow(got):
        if not isinstance(got, dict):
            return "expected HelloError"
        if args.overflow_code != "any" and got.get("code") != int(args.overflow_code):
            return "expected HelloError.code %s" % args.overflow_code
        if not got.get("message"):
            return "expected a HelloError.message"
        return None

    step("echo", lambda: echo(hello.Request(message="from python")), expect_equal("from python"))
    step("echo_default", lambda: echo(hello.Request()), expect_equal("hello world"))
    step("sum", lambda: add(512, 512), expect_equal(1024))
    step("overflow", lambda: add(I64_MAX, 1), check_overflow)

    try:
        client.close()
    except Exception:  # noqa: BLE001
        pass

    print(json.dumps(out, separators=(",", ":"), ensure_ascii=False), flush=True)
    for p in problems:
        print("hello_client: FAIL %s" % p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
