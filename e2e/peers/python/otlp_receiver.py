#!/usr/bin/env python3
"""A real OTLP/gRPC trace receiver for kitegate's e2e tests: the collector's
TraceService (opentelemetry-proto's generated stubs) served with grpcio. Every
span it receives is appended as one JSON line to the --out file:

    {"trace_id": hex, "span_id": hex, "parent_span_id": hex or "",
     "name": str, "kind": "server"|"client"|..., "service": resource
     service.name, "attributes": {key: value}, "status": "ok"|"error"|"unset",
     "status_message": str}

    otlp_receiver.py --port 0 --out spans.jsonl [--host 127.0.0.1]
    otlp_receiver.py --port 0 --count      # only counts them (load runs)

Prints `READY <port>` first (flushed); exits 0 on SIGTERM or SIGINT, with
--count after printing `SPANS <received> requests=<export calls>`.
"""

import argparse
import json
import signal
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as svc_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

KINDS = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: "internal",
    trace_pb2.Span.SPAN_KIND_SERVER: "server",
    trace_pb2.Span.SPAN_KIND_CLIENT: "client",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "producer",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "consumer",
}
STATUS = {0: "unset", 1: "ok", 2: "error"}

out_lock = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("string_value", "bool_value", "int_value", "double_value") else str(v)


class Receiver(svc_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out
        self.spans = 0
        self.requests = 0

    def Export(self, request, context):
        if self.out is None:
            n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with out_lock:
                self.spans += n
                self.requests += 1
            return svc_pb2.ExportTraceServiceResponse()
        lines = []
        for rs in request.resource_spans:
            attrs = {a.key: value(a.value) for a in rs.resource.attributes}
            service = attrs.get("service.name", "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    lines.append(json.dumps({
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "name": s.name,
                        "kind": KINDS.get(s.kind, str(s.kind)),
                        "service": service,
                        "attributes": {a.key: value(a.value) for a in s.attributes},
                        "status": STATUS.get(s.status.code, str(s.status.code)),
                        "status_message": s.status.message,
                    }, sort_keys=True))
        with out_lock, open(self.out, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        return svc_pb2.ExportTraceServiceResponse()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--out", help="file the spans are appended to")
    ap.add_argument("--count", action="store_true", help="only count the spans")
    args = ap.parse_args()
    if (args.out is None) == (not args.count):
        raise SystemExit("otlp_receiver.py: give --out FILE or --count")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    receiver = Receiver(args.out)
    svc_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        raise SystemExit(f"otlp_receiver.py: cannot listen on {args.host}:{args.port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(grace=None).wait(2)
    if args.count:
        print(f"SPANS {receiver.spans} requests={receiver.requests}", flush=True)


if __name__ == "__main__":
    main()
