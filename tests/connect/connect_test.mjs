// End-to-end: real Connect-ES clients against the real h2gate binary over HTTP/1.1.
//   node connect_test.mjs PATH/TO/h2gate     (or H2GATE=PATH node connect_test.mjs)
// Under --http1-policy=allow a unary JSON call is transcoded and served; a Connect binary
// (application/proto) or gRPC-Web (application/grpc-web+proto) body gets 415 with
// Accept-Post: application/json and is counted in h2gate_http1_unsupported_media_type_total.
// The service comes from a FileDescriptorSet that Debian's protoc makes at run time: no codegen.
// Exit 0 when every check passes, 1 otherwise.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test, after } from "node:test";
import assert from "node:assert/strict";

import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const h2gatePath = process.argv[2] ?? process.env.H2GATE;
if (!h2gatePath) {
  console.error("usage: node connect_test.mjs PATH/TO/h2gate (or set H2GATE)");
  process.exit(2);
}

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
const METHOD_PATH = "/echo.v1.Echo/Echo";

// --- the schema, from protoc's FileDescriptorSet --------------------------------------------
const work = mkdtempSync(join(tmpdir(), "h2gate-connect-"));
const descriptorPath = join(work, "echo.binpb");
execFileSync(
  "protoc",
  ["--include_imports", `--descriptor_set_out=${descriptorPath}`, "-I", "proto", "proto/echo/v1/echo.proto"],
  { cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 30_000 },
);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorPath)));
const EchoService = registry.getService("echo.v1.Echo");
const EchoRequestSchema = registry.getMessage("echo.v1.EchoRequest");
assert.ok(EchoService, "echo.v1.Echo in the descriptor set");
assert.ok(EchoRequestSchema, "echo.v1.EchoRequest in the descriptor set");

// --- the gateway ----------------------------------------------------------------------------
let child;
let childExit; // resolves with {code, signal} once the child is gone
let childLog = "";

function startGateway() {
  child = spawn(h2gatePath, [`--listen=${HOST}:0`, "--http1-policy=allow", "--log-level=info"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  childExit = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  return new Promise((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`h2gate printed no "listening on ${HOST}:PORT" within ${START_TIMEOUT_MS} ms:\n${childLog}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk) => {
      childLog += chunk.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(childLog);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => {
      clearTimeout(timer);
      rej(e);
    });
    childExit.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`h2gate exited early (code ${code}, signal ${signal}):\n${childLog}`));
    });
  });
}

// Resolves with what `promise` resolves with, or with null after `ms`; the timer never outlives it.
async function within(promise, ms) {
  let timer;
  const expired = new Promise((res) => (timer = setTimeout(() => res(null), ms)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function stopGateway() {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const t0 = Date.now();
  child.kill("SIGTERM");
  const exited = await within(childExit, STOP_TIMEOUT_MS);
  if (exited === null) {
    console.error(`h2gate did not exit ${STOP_TIMEOUT_MS} ms after SIGTERM: SIGKILL`);
    child.kill("SIGKILL");
    await within(childExit, 2_000);
    return null;
  }
  console.log(`# h2gate exited ${Date.now() - t0} ms after SIGTERM (code ${exited.code}, signal ${exited.signal})`);
  return exited;
}
// A crash of this script must not leave the gateway running.
process.once("exit", () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

let port;
try {
  port = await startGateway();
} catch (e) {
  await stopGateway();
  rmSync(work, { recursive: true, force: true });
  console.error(e.message);
  process.exit(1);
}
const baseUrl = `http://${HOST}:${port}`;
after(async () => {
  await stopGateway();
  rmSync(work, { recursive: true, force: true });
});

// Every 415 this script provokes, by the content_type label h2gate counts it under.
const unsupported = { proto: 0, grpc_web: 0 };
let transcodedOk = 0;

// Asserts a call failed with a ConnectError, and returns it.
async function expectConnectError(promise) {
  try {
    const res = await promise;
    assert.fail(`the call succeeded, it must fail: ${JSON.stringify(res)}`);
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    return e;
  }
}

test("a. Connect JSON over HTTP/1.1 is transcoded and served", async () => {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false });
  const client = createClient(EchoService, transport);
  const res = await client.echo({ message: "hi" }, { timeoutMs: CALL_TIMEOUT_MS });
  assert.equal(res.message, "hi");
  transcodedOk += 1;
});

test("a2. a JSON body with no Content-Type is read as JSON and served", async () => {
  // A Uint8Array body: fetch adds no Content-Type (a string body would get text/plain).
  const res = await fetch(baseUrl + METHOD_PATH, {
    method: "POST",
    body: new TextEncoder().encode(JSON.stringify({ message: "untyped" })),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(JSON.parse(text).message, "untyped");
  transcodedOk += 1;
});

test("b. Connect binary (application/proto) over HTTP/1.1 fails with 415", async (t) => {
  await t.test("the Connect client's call fails", async () => {
    const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
    const client = createClient(EchoService, transport);
    const err = await expectConnectError(client.echo({ message: "hi" }, { timeoutMs: CALL_TIMEOUT_MS }));
    unsupported.proto += 1;
    console.log(`# Connect binary client error: code=${Code[err.code]} (${err.code}) message=${JSON.stringify(err.rawMessage)}`);
    // The 415 body is JSON, so the client parses it as a Connect error: it takes the message, but
    // its numeric "code":3 is not a Connect code string ("invalid_argument"), so the client falls
    // back to the code of HTTP 415, which Connect maps to unknown.
    assert.equal(err.code, Code.Unknown);
    assert.match(err.rawMessage, /is served over HTTP\/1\.1 as JSON only/);
    assert.match(err.rawMessage, /\(got application\/proto\)/);
    assert.equal(err.metadata.get("accept-post"), "application/json");
  });

  await t.test("a raw application/proto request gets 415, Accept-Post and the JSON error", async () => {
    const body = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "raw" }));
    const res = await fetch(baseUrl + METHOD_PATH, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body,
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    unsupported.proto += 1;
    assert.equal(res.status, 415, text);
    assert.equal(res.headers.get("accept-post"), "application/json");
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const json = JSON.parse(text);
    assert.equal(json.code, 3);
    assert.ok(
      json.message.startsWith(
        `${METHOD_PATH} is served over HTTP/1.1 as JSON only: send Content-Type: application/json (got application/proto)`,
      ),
      json.message,
    );
  });
});

test("c. gRPC-Web (application/grpc-web+proto) over HTTP/1.1 fails", async () => {
  const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  const client = createClient(EchoService, transport);
  const err = await expectConnectError(client.echo({ message: "hi" }, { timeoutMs: CALL_TIMEOUT_MS }));
  unsupported.grpc_web += 1;
  console.log(`# gRPC-Web client error: code=${Code[err.code]} (${err.code}) message=${JSON.stringify(err.rawMessage)}`);
  // gRPC-Web reads no error from a non-200 body: it reports the HTTP status alone.
  assert.equal(err.code, Code.Unknown);
  assert.equal(err.rawMessage, "HTTP 415");
  assert.equal(err.metadata.get("accept-post"), "application/json");
});

test("d. /metrics counts the 415s by media type and the served call", async () => {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  assert.equal(res.status, 200);
  const text = await res.text();
  const value = (name, labels) => {
    const found = series(text, name, labels);
    assert.equal(found.length, 1, `one ${name}${JSON.stringify(labels)} series, got ${found.length}`);
    return found[0];
  };
  assert.equal(unsupported.proto, 2);
  assert.equal(unsupported.grpc_web, 1);
  assert.equal(transcodedOk, 2);
  assert.equal(value("h2gate_http1_unsupported_media_type_total", { content_type: "proto" }), unsupported.proto);
  assert.equal(value("h2gate_http1_unsupported_media_type_total", { content_type: "grpc_web" }), unsupported.grpc_web);
  assert.equal(
    value("h2gate_http1_transcoded_total", {
      grpc_service: "echo.v1.Echo",
      grpc_method: "Echo",
      policy: "allow",
      grpc_code: "OK",
    }),
    transcodedOk,
  );
});

// Last: a clean drain. Under the sanitizer builds a report makes the exit code non-zero.
test("e. h2gate drains and exits 0 on SIGTERM", async () => {
  const exited = await stopGateway();
  assert.ok(exited, "h2gate exited within the stop timeout");
  assert.equal(exited.code, 0, childLog.slice(-2000));
});

// Values of the Prometheus text-format series `name` whose labels include all of `labels`.
function series(text, name, labels) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]] = l[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) out.push(Number(m[3]));
  }
  return out;
}
