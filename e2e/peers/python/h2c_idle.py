#!/usr/bin/env python3
"""An h2c (prior knowledge) client with the h2 package: one GET, then
silence; prints one JSON object with the answer's status and, once the
server ends the connection, whether a GOAWAY came first and after how
many seconds of silence.

    h2c_idle.py PORT PATH
"""

import json
import socket
import sys
import time

import h2.connection
import h2.events
import h2.exceptions


def main(port, path):
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                            (":authority", f"127.0.0.1:{port}")], end_stream=True)
    sock.sendall(conn.data_to_send())
    status, ended, goaway, quiet_since, closed_after = None, False, None, None, None
    while True:
        data = sock.recv(65536)
        if not data:
            closed_after = time.monotonic() - quiet_since if quiet_since else None
            break
        if goaway is not None:
            continue  # after the GOAWAY: read to the close (hyper pings once more)
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            # A GOAWAY and hyper's PING after it in one read: the GOAWAY
            # closed the connection state, so the PING is refused.
            if conn.state_machine.state == h2.connection.ConnectionState.CLOSED:
                goaway = time.monotonic() - quiet_since if quiet_since else 0.0
                continue
            raise
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived):
                status = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
                quiet_since = time.monotonic()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway = time.monotonic() - quiet_since if quiet_since else 0.0
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    print(json.dumps({"status": status, "ended": ended, "goaway_after": goaway,
                      "closed_after": closed_after}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
