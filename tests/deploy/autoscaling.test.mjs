// Unit tests of the autoscaling checks (lib/autoscaling.mjs): node --test autoscaling.test.mjs
// The fixtures bad-hpa-* test them through kustomize; these reach percentages, rounding and the
// derivation's edges.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkHpaCapacity, checkPdbAgainstHpa, minReplicasFor, pdbDisruptions, rolloutUnavailable, scaled, targetCeiling } from "./lib/autoscaling.mjs";

const labels = { app: "h2gate" };
const deployment = (strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }) => ({
  kind: "Deployment", metadata: { name: "h2gate" }, spec: { strategy, template: { metadata: { labels }, spec: {} } },
});
const pdb = (spec) => ({ kind: "PodDisruptionBudget", metadata: { name: "h2gate" }, spec: { selector: { matchLabels: labels }, ...spec } });
const hpa = (min, target, extra = {}) => ({
  kind: "HorizontalPodAutoscaler",
  metadata: { name: "h2gate" },
  spec: { minReplicas: min, maxReplicas: 10, metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: target } } }], ...extra },
});
function problems(h, d = deployment(), p = [pdb({ maxUnavailable: 1 })]) {
  const out = [];
  checkHpaCapacity(h, d, [d, ...p], out);
  return out;
}

test("scaled rounds percentages as the API does", () => {
  assert.equal(scaled(1, 3, true), 1);
  assert.equal(scaled("2", 3, true), 2);
  assert.equal(scaled("25%", 3, true), 1);
  assert.equal(scaled("25%", 3, false), 0);
  assert.equal(scaled("50%", 3, true), 2);
  assert.ok(Number.isNaN(scaled("one", 3, true)));
  assert.ok(Number.isNaN(scaled(1.5, 3, true)));
});

test("pdbDisruptions and rolloutUnavailable at n replicas", () => {
  assert.equal(pdbDisruptions(pdb({ maxUnavailable: 1 }), 3), 1);
  assert.equal(pdbDisruptions(pdb({ maxUnavailable: "50%" }), 3), 2);
  assert.equal(pdbDisruptions(pdb({ minAvailable: 2 }), 3), 1);
  assert.equal(pdbDisruptions(pdb({ minAvailable: "50%" }), 3), 1);
  assert.equal(pdbDisruptions(pdb({}), 3), undefined);
  assert.equal(rolloutUnavailable(deployment(), 3), 0);
  assert.equal(rolloutUnavailable(deployment({ type: "RollingUpdate" }), 4), 1); // the API's 25%
  assert.equal(rolloutUnavailable(deployment({ type: "Recreate" }), 3), 3);
});

test("the ceiling is floor(100 x (min - out) / min / 1.1), and the minReplicas that reach 50%", () => {
  assert.equal(targetCeiling(3, 1), 60);
  assert.equal(targetCeiling(2, 1), 45);
  assert.equal(targetCeiling(4, 1), 68);
  assert.equal(targetCeiling(10, 1), 81);
  assert.equal(targetCeiling(3, 1, 0.05), 63);
  assert.equal(minReplicasFor(1), 3);
  assert.equal(minReplicasFor(2), 5);
});

test("the base's HPA passes; a target above the ceiling, below the floor, or minReplicas 2 does not", () => {
  assert.deepEqual(problems(hpa(3, 60)), []);
  assert.deepEqual(problems(hpa(3, 50)), []);
  assert.match(problems(hpa(3, 70))[0], /CPU target 70% is above 60%.*run at 116% of their CPU request/);
  assert.match(problems(hpa(3, 40))[0], /below the 50% floor \(50–60% for minReplicas 3\)/);
  assert.match(problems(hpa(2, 45))[0], /minReplicas 2 with 1 pod\(s\) away \(PodDisruptionBudget\/h2gate\) needs a CPU target of at most 45%.*raise minReplicas to 3/);
  assert.deepEqual(problems(hpa(4, 68)), []);
});

test("the most pods away decide: a PDB percentage, the rollout's maxUnavailable", () => {
  assert.match(problems(hpa(4, 60), deployment(), [pdb({ maxUnavailable: "50%" })])[0], /minReplicas 4 with 2 pod\(s\) away \(PodDisruptionBudget\/h2gate\).*raise minReplicas to 5/);
  assert.match(problems(hpa(3, 60), deployment({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 3 } }), [])[0], /minReplicas 3 is not above the 3 pod\(s\) Deployment\/h2gate rollingUpdate.maxUnavailable lets go/);
  assert.deepEqual(problems(hpa(3, 60), deployment(), []), []); // a rolling update's one pod
});

test("minReplicas must exceed the PDB's disruptions, which must be at least one", () => {
  const run = (spec, min) => {
    const out = [];
    checkPdbAgainstHpa(pdb(spec), hpa(min, 60), out);
    return out;
  };
  assert.deepEqual(run({ maxUnavailable: 1 }, 3), []);
  assert.match(run({ maxUnavailable: 3 }, 3)[0], /maxUnavailable 3 lets a drain take 3 of HorizontalPodAutoscaler\/h2gate minReplicas 3: every pod at once/);
  assert.match(run({ maxUnavailable: 0 }, 3)[0], /allows no disruption.*node drains would block/);
  assert.match(run({ minAvailable: 3 }, 3)[0], /minAvailable 3 allows no disruption/);
  assert.match(run({ minAvailable: "100%" }, 3)[0], /minAvailable 100% allows no disruption/);
  assert.match(run({ maxUnavailable: "many" }, 3)[0], /is not a count or a percentage/);
});

test("behavior: scale-down steps within the headroom, room to scale, a tolerance of its own", () => {
  const down = (value) => ({ behavior: { scaleDown: { policies: [{ type: "Pods", value, periodSeconds: 60 }] } } });
  assert.deepEqual(problems(hpa(3, 60, down(1))), []);
  assert.match(problems(hpa(3, 60, down(2)))[0], /scaleDown removes 2 pods per 60s, more than the 1/);
  assert.match(problems(hpa(3, 60, { maxReplicas: 3 }))[0], /maxReplicas 3 leaves no room/);
  assert.deepEqual(problems(hpa(3, 63, { behavior: { scaleUp: { tolerance: 0.05 } } })), []);
  assert.match(problems({ ...hpa(3, 60), spec: { minReplicas: 3, maxReplicas: 10, metrics: [] } })[0], /no CPU Utilization metric/);
});
