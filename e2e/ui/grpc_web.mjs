// gRPC-Web from a real browser: Debian's Chromium (playwright-core,
// headless) opens a page of the gateway at $FRONT and, with the page's own
// fetch, calls the built-in gRPC backend as a gRPC-Web client would: a
// unary Add in the binary flavour, and the Count server stream in the
// -text flavour, read chunk by chunk as it arrives. Prints the decoded
// answers as one JSON object; exits non-zero on a failure.
import { chromium } from "playwright-core";

const FRONT = process.env.FRONT;
if (!FRONT) throw new Error("FRONT is not set");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(FRONT + "/healthz");
  const result = await page.evaluate(async () => {
    const frame = (bytes) => {
      const f = new Uint8Array(5 + bytes.length);
      new DataView(f.buffer).setUint32(1, bytes.length);
      f.set(bytes, 5);
      return f;
    };
    const frames = (buf) => {
      const out = [];
      let at = 0;
      while (at < buf.length) {
        const len = new DataView(buf.buffer, buf.byteOffset + at + 1, 4).getUint32(0);
        const body = buf.slice(at + 5, at + 5 + len);
        out.push(buf[at] & 0x80 ? { trailers: new TextDecoder().decode(body) } : { message: Array.from(body) });
        at += 5 + len;
      }
      return out;
    };
    const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
    const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const headers = (ct) => ({ "content-type": ct, "x-grpc-web": "1", "x-user-agent": "grpc-web-javascript/0.1" });

    // Add{first: 512, second: 512}, binary.
    const add = await fetch("/grpc/hello.Hello/Add", {
      method: "POST",
      headers: headers("application/grpc-web+proto"),
      body: frame(new Uint8Array([0x08, 0x80, 0x04, 0x10, 0x80, 0x04])),
    });
    const addFrames = frames(new Uint8Array(await add.arrayBuffer()));

    // Count{to: 3}, -text, read as a stream: each chunk is base64 on its own.
    const count = await fetch("/grpc/hello.Hello/Count", {
      method: "POST",
      headers: headers("application/grpc-web-text"),
      body: b64(frame(new Uint8Array([0x08, 0x03]))),
    });
    const reader = count.body.getReader();
    let text = "";
    let chunks = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks += 1;
      text += new TextDecoder().decode(value);
    }
    // Padded runs one after the other: decode each.
    const runs = text.match(/[^=]+=*/g) || [];
    const bytes = runs.flatMap((r) => Array.from(unb64(r)));
    return {
      add: { status: add.status, type: add.headers.get("content-type"), frames: addFrames },
      count: { status: count.status, type: count.headers.get("content-type"), chunks, frames: frames(new Uint8Array(bytes)) },
    };
  });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
