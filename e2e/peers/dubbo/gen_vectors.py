#!/usr/bin/env python3
"""Regenerate e2e/peers/dubbo/vectors.txt (and vectors.decoded.txt).

    python3 e2e/peers/dubbo/gen_vectors.py [--jar PATH] [--out-dir DIR]

1. `java -jar kitegate-dubbo-peer.jar vectors`: Hessian2 bodies written by
   Dubbo's own serializer (one stream per vector).
2. Real wire frames: starts `provider 0 --with-hello`, puts a recording TCP
   relay (127.0.0.1 only) in front of it, runs `consumer` and
   `rich-consumer` through the relay and records every Dubbo frame, both
   directions, exactly as sent (16-byte header + body). The hello consumer
   runs with a 500 ms heartbeat and lingers idle, so heartbeat events show up
   as wire.hello.event*.

Output: one `name hex` line per vector. Wire frames are named
`wire.<run>.<method>[_<n>].request|response` (`<n>` counts repeated calls).
vectors.decoded.txt shows the same frames decoded (header fields plus a
rough Hessian2 dump) for humans; it is not meant to be parsed.
Standard library only.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JAR = os.path.join(HERE, "..", "..", ".cache", "bin", "kitegate-dubbo-peer.jar")


# ---------------------------------------------------------------- relay --

class Recorder:
    """Splits each direction of each connection into Dubbo frames."""

    def __init__(self):
        self.lock = threading.Lock()
        self.frames = []  # (conn, direction, bytes)

    def feeder(self, conn, direction):
        buf = bytearray()

        def feed(data):
            buf.extend(data)
            while len(buf) >= 16:
                if buf[0:2] != b"\xda\xbb":
                    raise ValueError("not a dubbo frame: %s" % bytes(buf[:16]).hex())
                (length,) = struct.unpack(">I", buf[12:16])
                if len(buf) < 16 + length:
                    break
                frame = bytes(buf[: 16 + length])
                del buf[: 16 + length]
                with self.lock:
                    self.frames.append((conn, direction, frame))

        return feed


def pump(src, dst, feed):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            feed(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Relay:
    def __init__(self, target_port, recorder):
        self.target_port = target_port
        self.recorder = recorder
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.label = None
        self.threads = []
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def accept_loop(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            conn = self.label
            for src, dst, d in ((client, upstream, "c2s"), (upstream, client, "s2c")):
                t = threading.Thread(target=pump, args=(src, dst, self.recorder.feeder(conn, d)), daemon=True)
                t.start()
                self.threads.append(t)

    def drain(self, timeout=5.0):
        deadline = time.time() + timeout
        for t in list(self.threads):
            t.join(max(0.0, deadline - time.time()))


# -------------------------------------------------------------- hessian --

class H2:
    """A rough Hessian 2 reader, for labelling and the human-readable dump."""

    def __init__(self, data):
        self.b = data
        self.i = 0
        self.classes = []
        self.types = []

    def byte(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def take(self, n):
        v = self.b[self.i : self.i + n]
        if len(v) != n:
            raise ValueError("truncated")
        self.i += n
        return v

    def utf8_chars(self, n):
        out = []
        for _ in range(n):
            c = self.byte()
            if c < 0x80:
                out.append(chr(c))
            elif c & 0xE0 == 0xC0:
                out.append(chr(((c & 0x1F) << 6) | (self.byte() & 0x3F)))
            else:
                c2, c3 = self.byte(), self.byte()
                out.append(chr(((c & 0x0F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F)))
        return "".join(out)

    def string_after(self, tag):
        parts = []
        while True:
            if tag <= 0x1F:
                parts.append(self.utf8_chars(tag))
                return "".join(parts)
            if 0x30 <= tag <= 0x33:
                parts.append(self.utf8_chars(((tag - 0x30) << 8) | self.byte()))
                return "".join(parts)
            n = struct.unpack(">H", self.take(2))[0]
            parts.append(self.utf8_chars(n))
            if tag == 0x53:  # 'S' final chunk
                return "".join(parts)
            tag = self.byte()  # after 'R'

    def type_name(self):
        tag = self.byte()
        if tag <= 0x1F or 0x30 <= tag <= 0x33 or tag in (0x52, 0x53):
            t = self.string_after(tag)
            self.types.append(t)
            return t
        self.i -= 1
        return self.types[self.read_int()]

    def read_int(self):
        v = self.read()
        if not isinstance(v, int):
            raise ValueError("expected int, got %r" % (v,))
        return v

    def read(self):
        t = self.byte()
        if t == 0x4E:
            return None
        if t == 0x54:
            return True
        if t == 0x46:
            return False
        if 0x80 <= t <= 0xBF:
            return t - 0x90
        if 0xC0 <= t <= 0xCF:
            return ((t - 0xC8) << 8) | self.byte()
        if 0xD0 <= t <= 0xD7:
            return ((t - 0xD4) << 16) | (self.byte() << 8) | self.byte()
        if t == 0x49:
            return struct.unpack(">i", self.take(4))[0]
        if 0xD8 <= t <= 0xEF:
            return ("long", t - 0xE0)
        if 0xF0 <= t <= 0xFF:
            return ("long", ((t - 0xF8) << 8) | self.byte())
        if 0x38 <= t <= 0x3F:
            return ("long", ((t - 0x3C) << 16) | (self.byte() << 8) | self.byte())
        if t == 0x59:
            return ("long", struct.unpack(">i", self.take(4))[0])
        if t == 0x4C:
            return ("long", struct.unpack(">q", self.take(8))[0])
        if t == 0x5B:
            return 0.0
        if t == 0x5C:
            return 1.0
        if t == 0x5D:
            return float(struct.unpack(">b", self.take(1))[0])
        if t == 0x5E:
            return float(struct.unpack(">h", self.take(2))[0])
        if t == 0x5F:
            return struct.unpack(">i", self.take(4))[0] / 1000.0
        if t == 0x44:
            return struct.unpack(">d", self.take(8))[0]
        if t == 0x4A:
            return ("date", struct.unpack(">q", self.take(8))[0])
        if t == 0x4B:
            return ("date", struct.unpack(">i", self.take(4))[0] * 60000)
        if t <= 0x1F or 0x30 <= t <= 0x33 or t in (0x52, 0x53):
            return self.string_after(t)
        if 0x20 <= t <= 0x2F:
            return bytes(self.take(t - 0x20))
        if 0x34 <= t <= 0x37:
            return bytes(self.take(((t - 0x34) << 8) | self.byte()))
        if t in (0x41, 0x42):
            out = bytearray()
            while True:
                n = struct.unpack(">H", self.take(2))[0]
                out.extend(self.take(n))
                if t == 0x42:
                    return bytes(out)
                t = self.byte()
        if t in (0x48, 0x4D):  # H untyped map, M typed map
            typ = self.type_name() if t == 0x4D else None
            m = []
            while self.b[self.i] != 0x5A:
                m.append((self.read(), self.read()))
            self.i += 1
            return ("map", typ, m)
        if t in (0x55, 0x56, 0x57, 0x58) or 0x70 <= t <= 0x7F:
            typ = self.type_name() if t in (0x55, 0x56) or 0x70 <= t <= 0x77 else None
            if t in (0x56, 0x58):
                n = self.read_int()
            elif 0x70 <= t <= 0x77:
                n = t - 0x70
            elif 0x78 <= t <= 0x7F:
                n = t - 0x78
            else:
                n = None
            items = []
            if n is None:
                while self.b[self.i] != 0x5A:
                    items.append(self.read())
                self.i += 1
            else:
                items = [self.read() for _ in range(n)]
            return ("list", typ, items)
        if t == 0x43:  # class definition, then the instance follows
            name = self.read()
            n = self.read_int()
            self.classes.append((name, [self.read() for _ in range(n)]))
            return self.read()
        if t == 0x4F or 0x60 <= t <= 0x6F:
            idx = self.read_int() if t == 0x4F else t - 0x60
            name, fields = self.classes[idx]
            return ("object", name, [(f, self.read()) for f in fields])
        if t == 0x51:
            return ("ref", self.read_int())
        raise ValueError("unsupported hessian tag 0x%02x at %d" % (t, self.i - 1))

    def read_all(self):
        out = []
        while self.i < len(self.b):
            out.append(self.read())
        return out


def show(v, depth=0):
    if isinstance(v, tuple):
        kind = v[0]
        if kind == "object":
            if v[1] == "java.lang.StackTraceElement":
                f = dict(v[2])
                return "StackTraceElement(%s.%s)" % (f.get("declaringClass"), f.get("methodName"))
            return "%s{%s}" % (v[1], ", ".join("%s=%s" % (k, show(x, depth + 1)) for k, x in v[2]))
        if kind == "map":
            return "%s{%s}" % ("map" if v[1] is None else "map<%s>" % v[1],
                               ", ".join("%s: %s" % (show(k), show(x, depth + 1)) for k, x in v[2]))
        if kind == "list":
            items = v[2]
            shown = [show(x, depth + 1) for x in items[:4]]
            if len(items) > 4:
                shown.append("... %d more" % (len(items) - 4))
            return "%s[%s]" % ("list" if v[1] is None else "list<%s>" % v[1], ", ".join(shown))
        if kind == "long":
            return "%dL" % v[1]
        if kind == "date":
            return "Date(%d)" % v[1]
        if kind == "ref":
            return "#ref%d" % v[1]
    if isinstance(v, bytes):
        return "bytes(%s)" % v.hex()
    return repr(v)


# --------------------------------------------------------------- frames --

def header(frame):
    flag, status = frame[2], frame[3]
    (rid,) = struct.unpack(">q", frame[4:12])
    return flag, status, rid


def describe(frame):
    flag, status, rid = header(frame)
    kind = "request" if flag & 0x80 else "response"
    bits = []
    if flag & 0x40:
        bits.append("twoway")
    if flag & 0x20:
        bits.append("event")
    text = "%s id=%d flag=0x%02x(serialization=%d%s) status=%d len=%d" % (
        kind, rid, flag, flag & 0x1F, "".join("," + b for b in bits), status, len(frame) - 16)
    try:
        body = H2(frame[16:]).read_all()
        text += "\n    " + "\n    ".join(show(x) for x in body)
    except Exception as e:  # the dump is best effort
        text += "\n    (undecoded: %s)" % e
    return text


def label_frames(frames):
    """[(name, frame)] for every recorded frame, in wire order."""
    out = []
    pending = {}
    seen = {}
    for conn, _direction, frame in frames:
        flag, _status, rid = header(frame)
        if flag & 0x80:
            if flag & 0x20:
                base = "event"
            else:
                body = H2(frame[16:])
                body.read()  # dubbo version
                body.read()  # path
                body.read()  # version
                base = body.read()  # method
            seen[(conn, base)] = seen.get((conn, base), 0) + 1
            n = seen[(conn, base)]
            name = "wire.%s.%s%s" % (conn, base, "" if n == 1 else "_%d" % n)
            pending[(conn, rid)] = name
            out.append((name + ".request", frame))
        else:
            name = pending.pop((conn, rid), "wire.%s.unmatched_%d" % (conn, rid))
            out.append((name + ".response", frame))
    return out


# ----------------------------------------------------------------- main --

def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("%s failed with %d" % (" ".join(cmd), p.returncode))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jar", default=DEFAULT_JAR)
    ap.add_argument("--out-dir", default=HERE)
    args = ap.parse_args()
    java = ["java", "-jar", os.path.abspath(args.jar)]

    lines = [l for l in run(java + ["vectors"]).splitlines() if l.strip()]
    decoded = ["# vectors: Hessian2 streams written by Dubbo's hessian2 serializer"]
    for l in lines:
        name, hx = l.split(" ", 1)
        try:
            v = "\n    ".join(show(x) for x in H2(bytes.fromhex(hx)).read_all())
        except Exception as e:
            v = "(undecoded: %s)" % e
        decoded.append("%s\n    %s" % (name, v))

    provider = subprocess.Popen(java + ["provider", "0", "--with-hello"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        ready = provider.stdout.readline().split()
        if len(ready) != 2 or ready[0] != "READY":
            raise SystemExit("provider did not print READY: %r" % ready)
        recorder = Recorder()
        relay = Relay(int(ready[1]), recorder)
        target = "127.0.0.1:%d" % relay.port
        relay.label = "hello"
        # A short heartbeat and an idle linger so heartbeat events get recorded.
        sys.stderr.write(run(java + ["consumer", target, "--heartbeat", "500", "--linger", "1800"]))
        relay.drain()
        relay.label = "rich"
        sys.stderr.write(run(java + ["rich-consumer", target, "--no-timeout-check"]))
        relay.drain()
    finally:
        provider.stdin.close()  # the provider exits on stdin EOF
        provider.wait(10)

    decoded.append("")
    decoded.append("# wire: frames recorded between the Java consumer and the Java provider")
    for name, frame in label_frames(recorder.frames):
        lines.append("%s %s" % (name, frame.hex()))
        decoded.append("%s\n    %s" % (name, describe(frame)))

    with open(os.path.join(args.out_dir, "vectors.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out_dir, "vectors.decoded.txt"), "w") as f:
        f.write("\n".join(decoded) + "\n")
    sys.stderr.write("wrote %d vectors to %s\n" % (len(lines), os.path.join(args.out_dir, "vectors.txt")))


if __name__ == "__main__":
    main()
