#!/usr/bin/env python3
"""Third-party gRPC server for kitegate's e2e tests: serves RichService
(e2e/idl/rich.proto) with grpcio, compiling the .proto at run time with
grpc_tools.protoc (no generated code is kept in the repository).

    grpc_server.py --port 0 [--proto e2e/idl/rich.proto] [--host 127.0.0.1]
                   [--google-api-dir DIR] [--service RichService]

The proto's directory is its include path; imports of google/protobuf/*.proto
come from grpc_tools; google/api/annotations.proto, http.proto and
httpbody.proto are copied
from kitegate's own copies (idl/src/proto/google/api, or --google-api-dir) into
a temporary include directory. Prints `READY <port>` on stdout (flushed) once
listening; with --port 0 the kernel picks the port. Exits 0 on SIGTERM or
SIGINT. Handlers (see the comments in rich.proto):

    Echo(AllKinds)         -> the request, unchanged
    GetItem(req)           -> Item from the request's fields, title "item <id>"
    UpdateItem(req)        -> req.item with etag "v2", item_id from its name,
                              updated_fields = req.update_mask.paths
    Fail(code, message)    -> aborts with that status code and message; a
                              message starting "details:" also sends
                              grpc-status-details-bin, a google.rpc.Status
                              whose details are a PingReply(reply=message)
                              and an Any of an unknown type
    Slow(millis)           -> sleeps (until cancelled), SlowReply(slept_millis,
                              deadline_millis: what grpc-timeout left, -1: none)
    Ping(text, seq)        -> PingReply("pong: " + text, seq + 1, LEVEL_HIGH);
                              " tenant=<v>" / " auth=<v>" appended for the
                              x-tenant / authorization request metadata;
                              sends header metadata x-served-by: grpcio,
                              x-seen-request-id / x-seen-traceparent /
                              x-seen-tracestate (what it received) and
                              trailer x-next-seq; text "gzip" appends
                              " " + "gzip" * 1000 and compresses the
                              response with gzip
    Count(to, fail_code)   -> streams CountReply(n=i, label="#i"), i = 1..to,
                              then status fail_code
    Collect(stream)        -> CollectReply(total = sum of n)
    Chat(stream)           -> PingReply("chat: " + text, seq + 1, LEVEL_HIGH)
                              per request as it arrives; text "fail" aborts
                              with INVALID_ARGUMENT

With --service Counter --proto e2e/idl/counter.proto it serves the counter
(every call it ran is counted): Bump(key) -> the count after adding one,
Get(key) -> the count, Whoami(sleep_ms) -> --name after sleeping.
"""

import argparse
import importlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
import grpc_tools
from grpc_tools import protoc
from google.protobuf import empty_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_PROTO = os.path.join(REPO, "e2e", "idl", "rich.proto")
DEFAULT_GOOGLE_API = os.path.join(REPO, "idl", "src", "proto", "google", "api")

IMPORT_RE = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.M)


def status_code(code):
    for s in grpc.StatusCode:
        if s.value[0] == code:
            return s
    return grpc.StatusCode.UNKNOWN


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def length_delimited(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def rpc_status(code, message, details):
    """A serialized google.rpc.Status (code 1, message 2, details 3 as
    google.protobuf.Any: type_url 1, value 2)."""
    out = varint(1 << 3) + varint(code) + length_delimited(2, message.encode())
    for type_url, value in details:
        any_msg = length_delimited(1, type_url.encode()) + length_delimited(2, value)
        out += length_delimited(3, any_msg)
    return out


def compile_proto(proto, google_api_dir, workdir):
    """Runs protoc on `proto` and every file it imports (except the
    well-known types, which the protobuf runtime ships); returns the output
    directory, to be put on sys.path."""
    include = os.path.join(workdir, "include")
    out = os.path.join(workdir, "out")
    os.makedirs(os.path.join(include, "google", "api"))
    os.makedirs(out)
    for name in ("annotations.proto", "http.proto", "httpbody.proto"):
        shutil.copyfile(os.path.join(google_api_dir, name),
                        os.path.join(include, "google", "api", name))
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    proto_dir = os.path.dirname(os.path.abspath(proto))
    roots = [proto_dir, include]

    # The files to generate: the main one and its imports, transitively.
    files, todo = [], [os.path.basename(proto)]
    while todo:
        rel = todo.pop()
        if rel in files or rel.startswith("google/protobuf/"):
            continue
        path = next((os.path.join(r, rel) for r in roots
                     if os.path.exists(os.path.join(r, rel))), None)
        if path is None:
            raise SystemExit(f"grpc_server.py: import {rel!r} not found in {roots}")
        files.append(rel)
        with open(path, encoding="utf-8") as f:
            todo.extend(IMPORT_RE.findall(f.read()))

    args = ["grpc_tools.protoc"] + [f"-I{r}" for r in roots + [wkt]] + [
        f"--python_out={out}", f"--grpc_python_out={out}",
        f"--descriptor_set_out={os.path.join(workdir, 'set.pb')}", "--include_imports"] + files
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"grpc_server.py: protoc failed ({rc}): {' '.join(args)}")
    return out


def make_counter_servicer(base, pb2, name):
    lock = threading.Lock()
    counts = {}

    class Servicer(base):
        def Bump(self, request, context):
            with lock:
                counts[request.key] = counts.get(request.key, 0) + 1
                return pb2.Count(n=counts[request.key])

        def Get(self, request, context):
            with lock:
                return pb2.Count(n=counts.get(request.key, 0))

        def Whoami(self, request, context):
            if request.sleep_ms:
                time.sleep(request.sleep_ms / 1000.0)
            return pb2.Name(name=name)

    return Servicer()


def make_servicer(base, pb2):
    common = sys.modules.get("rich_common_pb2")
    level_high = common.LEVEL_HIGH if common is not None else 0

    class Servicer(base):
        def Echo(self, request, context):
            return request

        def GetItem(self, request, context):
            item = pb2.Item(
                name="items/" + request.item_id,
                item_id=request.item_id,
                view=request.view,
                tags=list(request.tags),
                page_size=request.page_size,
                archived=request.archived,
                title="item " + request.item_id,
            )
            if request.HasField("filter"):
                item.filter.CopyFrom(request.filter)
            return item

        def UpdateItem(self, request, context):
            item = pb2.Item()
            item.CopyFrom(request.item)
            item.etag = "v2"
            if item.name.startswith("items/"):
                item.item_id = item.name[len("items/"):]
            item.updated_fields.extend(request.update_mask.paths)
            return item

        def Fail(self, request, context):
            if request.code == 0:
                return empty_pb2.Empty()
            if request.message.startswith("details:"):
                detail = pb2.PingReply(reply=request.message, seq=7, level=level_high)
                status = rpc_status(request.code, request.message, [
                    ("type.googleapis.com/rich.v1.PingReply", detail.SerializeToString()),
                    ("type.googleapis.com/unknown.v1.Thing", b"\x08\x01"),
                ])
                context.set_trailing_metadata((("grpc-status-details-bin", status),))
            context.abort(status_code(request.code), request.message)

        def Slow(self, request, context):
            left = context.time_remaining()
            left_ms = -1 if left is None else int(left * 1000)
            deadline = time.monotonic() + request.millis / 1000.0
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
            return pb2.SlowReply(slept_millis=request.millis, deadline_millis=left_ms)

        def Ping(self, request, context):
            md = dict(context.invocation_metadata())
            reply = "pong: " + request.text
            if "x-tenant" in md:
                reply += " tenant=" + md["x-tenant"]
            if "authorization" in md:
                reply += " auth=" + md["authorization"]
            if request.text == "gzip":
                # grpc sends a message uncompressed when gzip would not
                # shrink it: make it worth compressing.
                reply += " " + "gzip" * 1000
                context.set_compression(grpc.Compression.Gzip)
            context.send_initial_metadata((
                ("x-served-by", "grpcio"),
                # The gateway's request id and trace context, as this
                # server received them.
                ("x-seen-request-id", md.get("x-request-id", "")),
                ("x-seen-traceparent", md.get("traceparent", "")),
                ("x-seen-tracestate", md.get("tracestate", "")),
            ))
            context.set_trailing_metadata((("x-next-seq", str(request.seq + 1)),))
            return pb2.PingReply(reply=reply, seq=request.seq + 1, level=level_high)

        def Count(self, request, context):
            for i in range(1, request.to + 1):
                yield pb2.CountReply(n=i, label=f"#{i}")
            if request.fail_code != 0:
                context.abort(status_code(request.fail_code),
                              f"count failed after {request.to}")

        def Download(self, request, context):
            httpbody = importlib.import_module("google.api.httpbody_pb2")
            for i in range(1, request.to + 1):
                yield httpbody.HttpBody(content_type="text/plain",
                                        data=f"chunk-{i}\n".encode())

        def Collect(self, request_iterator, context):
            return pb2.CollectReply(total=sum(r.n for r in request_iterator))

        def Chat(self, request_iterator, context):
            for r in request_iterator:
                if r.text == "fail":
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"chat failed at seq {r.seq}")
                yield pb2.PingReply(reply="chat: " + r.text, seq=r.seq + 1,
                                    level=level_high)

    return Servicer()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--proto", default=DEFAULT_PROTO)
    ap.add_argument("--google-api-dir", default=DEFAULT_GOOGLE_API)
    ap.add_argument("--service", default="RichService")
    ap.add_argument("--name", default="", help="what Counter.Whoami answers")
    ap.add_argument("--descriptor-set", help="also write the compiled FileDescriptorSet here")
    ap.add_argument("--tls-cert", help="serve TLS with this certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require client certificates this CA signed")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="kitegate-grpc-peer-")
    try:
        out = compile_proto(args.proto, args.google_api_dir, workdir)
        sys.path.insert(0, out)
        if args.descriptor_set:
            shutil.copyfile(os.path.join(workdir, "set.pb"), args.descriptor_set)
        stem = os.path.splitext(os.path.basename(args.proto))[0]
        pb2 = importlib.import_module(stem + "_pb2")
        pb2_grpc = importlib.import_module(stem + "_pb2_grpc")
        base = getattr(pb2_grpc, args.service + "Servicer")
        add = getattr(pb2_grpc, f"add_{args.service}Servicer_to_server")

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        if args.service == "Counter":
            add(make_counter_servicer(base, pb2, args.name), server)
        else:
            add(make_servicer(base, pb2), server)
        if args.tls_cert:
            read = lambda p: open(p, "rb").read()
            creds = grpc.ssl_server_credentials(
                [(read(args.tls_key), read(args.tls_cert))],
                root_certificates=read(args.tls_client_ca) if args.tls_client_ca else None,
                require_client_auth=bool(args.tls_client_ca))
            port = server.add_secure_port(f"{args.host}:{args.port}", creds)
        else:
            port = server.add_insecure_port(f"{args.host}:{args.port}")
        if port == 0:
            raise SystemExit(f"grpc_server.py: cannot listen on {args.host}:{args.port}")
        server.start()

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print(f"READY {port}", flush=True)
        while not stop.wait(0.5):
            pass
        server.stop(grace=None).wait(2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
