// A gRPC-Web client of the gateway on Connect's own transport
// (@connectrpc/connect-web, as browsers use it), with the service read at
// run time from a FileDescriptorSet: no generated code.
//
//   node grpc_web_client.mjs SET.pb BASE_URL SERVICE METHOD JSON_REQUEST [HEADER=VALUE ...]
//
// Prints one JSON line per reply message ({"message": …}), then
// {"end": {"trailers": {…}}} or {"error": {"code", "message", "details"}}.
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

const [setPath, baseUrl, serviceName, methodName, json, ...headerArgs] = process.argv.slice(2);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(setPath)));
const service = registry.getService(serviceName);
if (!service) throw new Error(`no service ${serviceName} in ${setPath}`);
const method = service.methods.find((m) => m.name === methodName);
if (!method) throw new Error(`no method ${methodName} in ${serviceName}`);
const headers = Object.fromEntries(headerArgs.map((h) => h.split(/=(.*)/s).slice(0, 2)));

const transport = createGrpcWebTransport({ baseUrl, useBinaryFormat: true });
const client = createClient(service, transport);
const request = fromJson(method.input, JSON.parse(json), { registry });
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const asJson = (m) => toJson(method.output, m, { registry });
let trailers = {};
const options = {
  headers,
  onTrailer: (t) => {
    trailers = Object.fromEntries(t.entries());
  },
};

try {
  if (method.methodKind === "server_streaming") {
    for await (const m of client[method.localName](request, options)) out({ message: asJson(m) });
  } else {
    out({ message: asJson(await client[method.localName](request, options)) });
  }
  out({ end: { trailers } });
} catch (e) {
  const err = ConnectError.from(e);
  const details = err.details.map((d) => {
    const name = d.desc ? d.desc.typeName : d.type;
    const desc = registry.getMessage(name);
    if (!desc) return { type: name };
    const value = d.desc ? d.value : fromBinary(desc, d.value);
    return { type: name, value: toJson(desc, value, { registry }) };
  });
  out({ error: { code: err.code, message: err.rawMessage, details } });
}
