// Unit tests of the validator's pure helpers: node --test util.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { containerHasPort, containerPortNumber, flagValue, listenPort, parseCidrList, parseDuration, parseQuantity, parseSize, selectorMatches } from "./lib/util.mjs";

test("parseDuration takes Go-style durations", () => {
  assert.equal(parseDuration("5s"), 5);
  assert.equal(parseDuration("1m30s"), 90);
  assert.equal(parseDuration("250ms"), 0.25);
  assert.equal(parseDuration("2h"), 7200);
  assert.equal(parseDuration("0"), 0);
});

test("parseDuration refuses unit-less and malformed values", () => {
  for (const bad of ["5", "", "s", "5 s", "-5s", "5sec"]) assert.throws(() => parseDuration(bad), /not a duration/, bad);
});

test("parseQuantity takes Kubernetes memory quantities", () => {
  assert.equal(parseQuantity("256Mi"), 256 * 2 ** 20);
  assert.equal(parseQuantity("1Gi"), 2 ** 30);
  assert.equal(parseQuantity("512Ki"), 512 * 1024);
  assert.equal(parseQuantity("512k"), 512000);
  assert.equal(parseQuantity("300M"), 300e6);
  assert.equal(parseQuantity("1.1G"), 1.1e9);
  assert.equal(parseQuantity("0.1Gi"), 107374183); // rounded up, as the API does
  assert.equal(parseQuantity("268435456"), 2 ** 28);
  assert.equal(parseQuantity(268435456), 2 ** 28);
});

test("parseQuantity refuses what is not a memory quantity", () => {
  for (const bad of ["256K", "256m", "256MB", "Mi", "", "-1Gi", "1.Gi", "toString"]) assert.throws(() => parseQuantity(bad), /not a memory quantity/, bad);
});

test("parseSize takes h2gate's sizes, 0 and auto", () => {
  assert.equal(parseSize("200Mi"), 200 * 2 ** 20);
  assert.equal(parseSize("1Gi"), 2 ** 30);
  assert.equal(parseSize("512Ki"), 512 * 1024);
  assert.equal(parseSize("1048576"), 2 ** 20);
  assert.equal(parseSize("0"), 0);
  assert.equal(parseSize("auto"), "auto");
});

test("parseSize refuses what h2gate refuses", () => {
  for (const bad of ["200M", "1G", "1.5Gi", "200MB", "Auto", "-1", "", " 200Mi"]) assert.throws(() => parseSize(bad), /not a size/, bad);
  assert.throws(() => parseSize("2000000Gi"), /larger than 1 PiB/);
});

test("selectorMatches handles matchLabels and every operator", () => {
  const labels = { app: "h2gate", tier: "edge" };
  assert.ok(selectorMatches({ matchLabels: { app: "h2gate" } }, labels));
  assert.ok(!selectorMatches({ matchLabels: { app: "other" } }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["edge"] }] }, labels));
  assert.ok(!selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["edge"] }] }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: "app", operator: "Exists" }] }, labels));
  assert.ok(!selectorMatches({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, labels));
  assert.ok(!selectorMatches({ matchExpressions: [{ key: "app", operator: "Bogus" }] }, labels));
});

test("containerHasPort matches by number or by name", () => {
  const c = { ports: [{ name: "grpc", containerPort: 8080 }] };
  assert.ok(containerHasPort(c, 8080));
  assert.ok(containerHasPort(c, "8080"));
  assert.ok(containerHasPort(c, "grpc"));
  assert.ok(!containerHasPort(c, 9090));
  assert.ok(!containerHasPort(c, "http"));
});

test("containerPortNumber resolves a targetPort by number or by name", () => {
  const c = { ports: [{ name: "grpc", containerPort: 8080 }] };
  assert.equal(containerPortNumber(c, "grpc"), 8080);
  assert.equal(containerPortNumber(c, 8080), 8080);
  assert.equal(containerPortNumber(c, "8080"), 8080);
  assert.equal(containerPortNumber(c, "http"), undefined);
  assert.equal(containerPortNumber(c, 8081), undefined);
});

test("listenPort reads the port of h2gate's HOST:PORT", () => {
  assert.equal(listenPort("0.0.0.0:8080"), 8080);
  assert.equal(listenPort("[::]:9000"), 9000);
  assert.ok(Number.isNaN(listenPort("0.0.0.0")));
});

test("parseCidrList takes what h2gate takes", () => {
  assert.deepEqual(parseCidrList("none"), { all: false, ranges: [] });
  assert.deepEqual(parseCidrList(""), { all: false, ranges: [] });
  assert.deepEqual(parseCidrList("all"), { all: true, ranges: [] });
  assert.deepEqual(parseCidrList("10.0.0.0/8, 192.168.1.7,2001:db8::/32,::1").ranges, [
    { address: "10.0.0.0", prefix: 8 },
    { address: "192.168.1.7", prefix: 32 },
    { address: "2001:db8::", prefix: 32 },
    { address: "::1", prefix: 128 },
  ]);
  assert.deepEqual(parseCidrList("0.0.0.0/0").ranges, [{ address: "0.0.0.0", prefix: 0 }]);
});

test("parseCidrList refuses what h2gate refuses, naming the entry", () => {
  // The same list as h2gate's tests/cidr_test.cc, and names where an address belongs.
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.example", "10.0.0.0/8,,", "10.0.0.0/-1", "1.2.3", "ingress-nginx", "None", "10.0.0.0/8;10.1.0.0/16"]) {
    assert.throws(() => parseCidrList(bad), /is not an IP address or range|the prefix length must be 0 to/, bad);
  }
  assert.throws(() => parseCidrList("ingress-nginx"), /"ingress-nginx" is not an IP address or range \(like 10\.0\.0\.0\/8 or ::1\)/);
  assert.throws(() => parseCidrList("10.0.0.0/33"), /"10\.0\.0\.0\/33": the prefix length must be 0 to 32/);
});

test("flagValue reads both --flag=v and --flag v", () => {
  assert.equal(flagValue(["--drain-timeout=30s"], "--drain-timeout"), "30s");
  assert.equal(flagValue(["--drain-timeout", "30s"], "--drain-timeout"), "30s");
  assert.equal(flagValue(["--drain-timeout-x=1s"], "--drain-timeout"), undefined);
});
