// Unit tests of the validator's pure helpers: node --test util.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { containerHasPort, flagValue, parseDuration, selectorMatches } from "./lib/util.mjs";

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

test("flagValue reads both --flag=v and --flag v", () => {
  assert.equal(flagValue(["--drain-timeout=30s"], "--drain-timeout"), "30s");
  assert.equal(flagValue(["--drain-timeout", "30s"], "--drain-timeout"), "30s");
  assert.equal(flagValue(["--drain-timeout-x=1s"], "--drain-timeout"), undefined);
});
