#!/usr/bin/env python3
"""A TLS front for a plain TCP server, on the standard library's ssl
(OpenSSL): each TLS connection it accepts is relayed, byte for byte, to
one new connection to the upstream. Puts TLS in front of peers that serve
plain TCP only (the Apache Dubbo provider).

    tls_proxy.py --upstream HOST:PORT --cert C --key K [--client-ca CA]

Prints `READY <port>` once listening on 127.0.0.1; with --client-ca,
clients must present a certificate that CA signed.
"""

import argparse
import signal
import socket
import ssl
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, ctx, upstream):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print(f"tls_proxy: handshake failed: {e}", file=sys.stderr, flush=True)
        conn.close()
        return
    host, port = upstream.rsplit(":", 1)
    try:
        up = socket.create_connection((host, int(port)))
    except OSError:
        tls.close()
        return
    threading.Thread(target=pipe, args=(up, tls), daemon=True).start()
    pipe(tls, up)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {lsock.getsockname()[1]}", flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, ctx, args.upstream), daemon=True).start()


if __name__ == "__main__":
    main()
