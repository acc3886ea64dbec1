// Drives the kitegate console at $ADMIN/admin/ui in Debian's Chromium
// (playwright-core, headless) through every step a person takes: the
// backends, an IDL upload with its includes and the routes it gives, the
// add form, a server stream, a bidirectional stream over WebSocket, a
// broken IDL's file:line error, a removal. Screenshots of each step go to
// $SHOTS. Exits non-zero on the first step that fails, or when the page
// logged an error.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ADMIN = env("ADMIN");
const SHOTS = env("SHOTS");
const RICH_FILES = env("RICH_FILES").split(",");
const RICH_ENDPOINT = env("RICH_ENDPOINT");
const BROKEN = env("BROKEN_IDL");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const errors = [];
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  // The browser logs every answer of 400 and up as an error; the one the
  // broken upload expects (422) is not the page's fault.
  const expected = /^Failed to load resource: the server responded with a status of 422/;
  page.on("console", (m) => { if (m.type() === "error" && !expected.test(m.text())) errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept());
  const shot = (name) => page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
  const step = (name) => console.log("step: " + name);
  const method = async (backend, opId) => {
    await page.click(`#backends tbody tr[data-backend="${backend}"]`);
    const card = page.locator("#m-" + opId.replace(/[^a-zA-Z0-9_-]/g, "_"));
    await card.locator("summary").click();
    await card.locator("textarea").waitFor();
    return card;
  };

  step("backends");
  await page.goto(ADMIN + "/admin/ui");
  await page.waitForSelector('#backends tbody tr[data-backend="hello"]');
  await page.waitForSelector('#backends tbody tr[data-backend="hello-grpc"] .endpoint.healthy', { timeout: 15000 });
  await shot("01-backends");

  step("upload an IDL with its includes, see its routes");
  await page.setInputFiles("#files", RICH_FILES);
  await page.selectOption("#reg-main", "rich.thrift");
  await page.fill("#reg-name", "rich-up");
  await page.selectOption("#reg-protocol", "thrift");
  await page.selectOption("#reg-transport", "framed");
  await page.fill("#reg-endpoints", RICH_ENDPOINT);
  await page.fill("#reg-prefix", "/up");
  await page.click("#reg-submit");
  await page.waitForSelector("#reg-result .ok:has-text('registered rich-up')");
  await page.waitForSelector("#detail details.method summary:has-text('RichService.concat')");
  const routes = await page.locator("#detail details.method summary code").allTextContents();
  if (!routes.some((r) => r.includes("/up/"))) throw new Error("no /up route in " + routes.join(" | "));
  await shot("02-uploaded-routes");

  step("the add form answers 1024");
  const add = await method("hello", "hello.Hello.add");
  await add.locator("textarea").fill('{"first": 512, "second": 512}');
  await add.locator("textarea").press("Control+Enter");
  await add.locator(".answer .body:has-text('1024')").waitFor();
  const status = await add.locator(".answer .status").textContent();
  if (!status.startsWith("200")) throw new Error("add: " + status);
  await shot("03-add-1024");

  step("a server stream, line by line");
  const count = await method("hello-grpc", "hello-grpc.Hello.Count");
  await count.locator("textarea").fill('{"to": 5}');
  await count.locator("button.send").click();
  await count.locator(".answer .body .line").nth(4).waitFor();
  const lines = await count.locator(".answer .body .line").allTextContents();
  if (lines.length !== 5 || !lines[4].includes('"n":5')) throw new Error("count: " + lines.join(" | "));
  await shot("04-stream-count");

  step("a bidirectional stream over WebSocket");
  const chat = await method("rich-grpc", "rich-grpc.RichService.Chat");
  await chat.locator("button.ws").click();
  await chat.locator(".socket-log .info:has-text('open')").waitFor();
  const line = chat.locator(".socket-line");
  for (const [i, text] of ["hello", "again"].entries()) {
    await line.fill(JSON.stringify({ text, seq: i }));
    await line.press("Enter");
    await chat.locator(`.socket-log .in:has-text('chat: ${text}')`).waitFor();
  }
  await line.fill("");
  await line.press("Enter");
  await chat.locator(".socket-log .info:has-text('closed 1000')").waitFor();
  await shot("05-websocket-chat");

  step("a broken IDL's error at file:line");
  await page.reload();
  await page.waitForSelector('#backends tbody tr[data-backend="hello"]');
  await page.setInputFiles("#files", [BROKEN]);
  await page.fill("#reg-name", "broken");
  await page.fill("#reg-endpoints", "127.0.0.1:1");
  await page.click("#reg-submit");
  const where = path.basename(BROKEN) + ":";
  await page.waitForSelector(`#reg-result .idl-error:has-text('${where}')`);
  const shown = await page.locator("#reg-result .idl-error").first().textContent();
  if (!/:\d+: /.test(shown)) throw new Error("no file:line in " + shown);
  await shot("06-idl-error");

  step("remove, after a confirmation");
  await page.click('#backends tbody tr[data-backend="rich-up"]');
  await page.click("#remove");
  await page.waitForSelector("#detail .ok:has-text('removed rich-up')");
  await page.waitForSelector('#backends tbody tr[data-backend="rich-up"]', { state: "detached" });

  step("traffic");
  const again = await method("hello", "hello.Hello.add");
  await again.locator("textarea").fill('{"first": 1, "second": 2}');
  for (let i = 0; i < 3; i++) {
    await again.locator("button.send").click();
    await again.locator(".answer .body:has-text('3')").waitFor();
  }
  await page.click("#tab-traffic");
  await page.waitForSelector("#routes-table tbody tr:has-text('/add')", { timeout: 15000 });
  // The chart has drawn the requests made above: a line that leaves the axis.
  await page.waitForFunction(() => [...document.querySelectorAll("#chart polyline")].some((l) =>
    new Set(l.getAttribute("points").split(" ").map((p) => p.split(",")[1])).size > 1), null, { timeout: 15000 });
  // And the latency of those requests.
  await page.waitForSelector("#latency polyline", { state: "attached" });
  await shot("07-traffic");
} catch (e) {
  failed = true;
  console.error("console test failed: " + (e.stack || e));
} finally {
  await browser.close();
}
if (errors.length) {
  console.error("the page logged errors:\n" + errors.join("\n"));
  failed = true;
}
process.exit(failed ? 1 : 0);
