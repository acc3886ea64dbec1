#!/usr/bin/env python3
"""A TLS client of the gateway on the standard library's ssl: HTTP/1.1
with http.client, HTTP/2 with the h2 package. Prints one JSON object per
request: {"alpn", "status", "body", "peer_cn"}.

    tls_client.py --ca ca.pem --port P --alpn h2|http/1.1 \
        [--cert client.pem --key client.key] [--repeat N --pause S] \
        METHOD PATH [BODY]

With --repeat, the requests share one connection (keep-alive, or one
HTTP/2 connection), --pause seconds apart; the peer's common name is read
once, at the handshake.
"""

import argparse
import json
import socket
import ssl
import sys
import time

import h2.connection
import h2.events


def peer_cn(sock):
    cert = sock.getpeercert()
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def h1(sock, args, out):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", args.port)
    conn.sock = sock
    for i in range(args.repeat):
        if i:
            time.sleep(args.pause)
        body = args.body.encode() if args.body is not None else None
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(args.method, args.path, body=body, headers=headers)
        r = conn.getresponse()
        out({"status": r.status, "body": r.read().decode()})


def h2_requests(sock, args, out):
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    for i in range(args.repeat):
        if i:
            time.sleep(args.pause)
        sid = conn.get_next_available_stream_id()
        headers = [
            (":method", args.method),
            (":path", args.path),
            (":scheme", "https"),
            (":authority", f"127.0.0.1:{args.port}"),
        ]
        body = args.body.encode() if args.body is not None else None
        if body is not None:
            headers.append(("content-type", "application/json"))
            headers.append(("content-length", str(len(body))))
        conn.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            conn.send_data(sid, body, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, data, done = None, b"", False
        while not done:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("connection closed before the answer")
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    done = True
            sock.sendall(conn.data_to_send())
        out({"status": status, "body": data.decode()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--alpn", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--pause", type=float, default=0)
    ap.add_argument("method")
    ap.add_argument("path")
    ap.add_argument("body", nargs="?")
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols([args.alpn])
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    alpn, cn = sock.selected_alpn_protocol(), peer_cn(sock)

    def out(answer):
        answer.update(alpn=alpn, peer_cn=cn)
        print(json.dumps(answer), flush=True)

    (h2_requests if alpn == "h2" else h1)(sock, args, out)


if __name__ == "__main__":
    main()
