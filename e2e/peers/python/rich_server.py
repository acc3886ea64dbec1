#!/usr/bin/env python3
"""Third-party Thrift server for kitegate's e2e tests: serves RichService
(e2e/idl/rich.thrift) with thriftpy2, loading the IDL at run time.

    rich_server.py [--idl PATH] [--host 127.0.0.1] --port N
                   [--protocol binary|compact] [--transport buffered|framed]

Prints `READY <port>` on stdout (flushed) once the socket listens; with
--port 0 the kernel picks the port and READY reports it. Exits 0 on SIGTERM or
SIGINT. Handlers (see the comments in rich.thrift):

    version()            -> "rich-1.0"
    echoAll/echoNested/echoUnion/echoDefaults/echoStructKeys(v) -> v unchanged
    concat(a, b, c)      -> f"{a}|{b}|{','.join(c)}" (absent: "", 0, [])
    concatReq(req)       -> ConcatResponse(result=concat(...), trace, id, note copied)
    fromScalars(...)     -> AllTypes with the nine base-type fields set
    ping()               -> void
    fire(msg)            -> oneway; remembered for lastFired()
    lastFired()          -> msg of the latest fire(), "" before any
    fail(msg)            -> raises RichError(message=msg, code=4242, status=DISABLED)

With --service Counter --idl e2e/idl/counter.thrift it serves the counter
instead (every call it ran is counted):

    bump(key)            -> the key's count after adding one
    count(key)           -> the key's count
    whoami(sleep_ms)     -> --name, after sleeping sleep_ms

Any other handler error is sent as TApplicationException INTERNAL_ERROR
(thriftpy2 alone would drop the connection).
"""

import argparse
import os
import signal
import socket
import ssl
import sys
import threading
import time

import thriftpy2
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.server import TThreadedServer
from thriftpy2.thrift import TApplicationException, TException, TProcessor
from thriftpy2.transport import (TBufferedTransportFactory,
                                 TFramedTransportFactory, TServerSocket,
                                 TSSLServerSocket)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IDL = os.path.normpath(os.path.join(HERE, "..", "..", "idl", "rich.thrift"))

VERSION = "rich-1.0"
FAIL_CODE = 4242


def protocol_factory(name):
    if name == "binary":
        # TBinaryProtocolFactory is the Cython TCyBinaryProtocolFactory on
        # CPython; strict write = 0x8001 version header (what Kitex requires),
        # strict read = reject the old header-less form.
        return TBinaryProtocolFactory(strict_read=True, strict_write=True)
    if name == "compact":
        return TCompactProtocolFactory()
    raise ValueError(name)


def transport_factory(name):
    if name == "buffered":
        return TBufferedTransportFactory()
    if name == "framed":
        return TFramedTransportFactory()
    raise ValueError(name)


def load_idl(path, include_dirs):
    stem = os.path.splitext(os.path.basename(path))[0]
    # thriftpy2 requires module names ending in "_thrift"; includes are looked
    # up next to the including file and in include_dirs.
    return thriftpy2.load(path, module_name=stem + "_thrift",
                          include_dirs=include_dirs or None)


class ServerSocket(TServerSocket):
    """TServerSocket that binds once (so the port is known before serve(),
    port 0 works) and without SO_REUSEPORT: thriftpy2 sets it, which would let
    two test servers silently share one port."""

    def listen(self):
        if self.sock is not None:
            return
        family = socket.AF_INET6 if ":" in (self.host or "") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(self.backlog)
        self.sock = sock
        self.port = sock.getsockname()[1]


class SSLServerSocket(ServerSocket, TSSLServerSocket):
    """ServerSocket over TLS: thriftpy2's TSSLServerSocket handshake on
    each accepted connection, with the standard library's ssl context."""


def tls_context(cert, key, client_ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


class Handler(object):
    def __init__(self, mod, verbose, name=""):
        self.m = mod
        self.verbose = verbose
        self.name = name
        self._lock = threading.Lock()
        self._last_fired = ""
        self._counts = {}

    # Counter (counter.thrift)
    def bump(self, key):
        with self._lock:
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
        self.log("bump", key, n)
        return n

    def count(self, key):
        with self._lock:
            return self._counts.get(key, 0)

    def whoami(self, sleep_ms):
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)
        return self.name

    def log(self, *a):
        if self.verbose:
            print("rich_server:", *a, file=sys.stderr, flush=True)

    # BaseService (rich_base.thrift)
    def version(self):
        return VERSION

    # RichService
    def echoAll(self, v):
        self.log("echoAll", v)
        return v

    def echoNested(self, v):
        self.log("echoNested", v)
        return v

    def echoUnion(self, v):
        self.log("echoUnion", v)
        return v

    def echoDefaults(self, v):
        self.log("echoDefaults", v)
        return v

    def echoStructKeys(self, v):
        self.log("echoStructKeys", v)
        return v

    @staticmethod
    def _concat(a, b, c):
        return "%s|%d|%s" % (a or "", b or 0, ",".join(str(x) for x in (c or [])))

    def concat(self, a, b, c):
        self.log("concat", a, b, c)
        return self._concat(a, b, c)

    def concatReq(self, req):
        self.log("concatReq", req)
        if req is None:
            req = self.m.ConcatRequest()
        return self.m.ConcatResponse(result=self._concat(req.a, req.b, req.c),
                                     trace=req.trace, id=req.id, note=req.note)

    def fromScalars(self, a_bool, a_byte, an_i8, an_i16, an_i32, an_i64,
                    a_double, a_string, a_binary):
        self.log("fromScalars", a_bool, a_byte, an_i8, an_i16, an_i32, an_i64,
                 a_double, a_string, a_binary)
        return self.m.AllTypes(a_bool=a_bool, a_byte=a_byte, an_i8=an_i8,
                               an_i16=an_i16, an_i32=an_i32, an_i64=an_i64,
                               a_double=a_double, a_string=a_string,
                               a_binary=a_binary)

    def ping(self):
        self.log("ping")

    def fire(self, msg):
        self.log("fire", msg)
        with self._lock:
            self._last_fired = msg if msg is not None else ""

    def lastFired(self):
        with self._lock:
            return self._last_fired

    def fail(self, msg):
        self.log("fail", msg)
        raise self.m.RichError(message=msg, code=FAIL_CODE,
                               status=self.m.Status.DISABLED)


class SafeHandler(object):
    """Turns unexpected handler errors into TApplicationException INTERNAL_ERROR
    instead of a dropped connection; IDL exceptions pass through."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        f = getattr(self._inner, name)

        def call(*args):
            try:
                return f(*args)
            except TException:
                raise
            except Exception as e:  # noqa: BLE001
                print("rich_server: %s failed: %r" % (name, e), file=sys.stderr, flush=True)
                raise TApplicationException(TApplicationException.INTERNAL_ERROR,
                                            "%s: %s" % (name, e))
        return call


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idl", default=DEFAULT_IDL, help="main IDL file (default: e2e/idl/rich.thrift)")
    ap.add_argument("--include-dir", action="append", default=[],
                    help="extra include directory (repeatable)")
    ap.add_argument("--service", default="RichService")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="0 = any free port")
    ap.add_argument("--protocol", choices=["binary", "compact"], default="binary")
    ap.add_argument("--transport", choices=["buffered", "framed"], default="buffered")
    ap.add_argument("--client-timeout-ms", type=int, default=0,
                    help="close a connection idle this long (0 = never; thriftpy2's own default is 3000)")
    ap.add_argument("--verbose", "-v", action="store_true", help="log each call to stderr")
    ap.add_argument("--name", default="", help="what whoami() answers (Counter)")
    ap.add_argument("--tls-cert", help="serve TLS with this certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require client certificates this CA signed")
    args = ap.parse_args()

    mod = load_idl(args.idl, args.include_dir)
    service = getattr(mod, args.service)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.tls_cert:
        sock = SSLServerSocket(host=args.host, port=args.port,
                               client_timeout=args.client_timeout_ms or None,
                               ssl_context=tls_context(args.tls_cert, args.tls_key,
                                                       args.tls_client_ca))
    else:
        sock = ServerSocket(host=args.host, port=args.port,
                            client_timeout=args.client_timeout_ms or None)
    sock.listen()
    server = TThreadedServer(TProcessor(service, SafeHandler(Handler(mod, args.verbose, args.name))),
                             sock,
                             iprot_factory=protocol_factory(args.protocol),
                             itrans_factory=transport_factory(args.transport),
                             daemon=True)  # connection threads must not block exit
    print("READY %d" % sock.port, flush=True)
    print("rich_server: %s on %s:%d (%s/%s, idl %s)" % (
        args.service, args.host, sock.port, args.protocol, args.transport, args.idl),
        file=sys.stderr, flush=True)
    try:
        server.serve()
    finally:
        server.close()
        sock.close()


if __name__ == "__main__":
    main()
