// The HorizontalPodAutoscaler against the pods that can be out at once. The derivation, with the
// measured figures it rests on, is in deploy/README.md ("Capacity and autoscaling"); in short:
//
//   out     = pods that can be away at once at minReplicas: the most of one (a rolling update
//             moves one pod's long-lived connections at a time even with maxUnavailable 0), the
//             PodDisruptionBudget's disruptions and the Deployment's rollingUpdate.maxUnavailable
//   ceiling = floor(100 × (minReplicas − out) / minReplicas / (1 + tolerance))
//
// The HPA does not act until utilisation is `tolerance` (10%) above its target, so pods can run
// at target × 1.1 without a scale-out. At that point, with `out` pods gone, the rest carry their
// load too: at most 100% of their CPU request, the share the scheduler guarantees, when the
// target is at most the ceiling. Below TARGET_FLOOR the pods would reserve more than twice the
// CPU they use at the scale-out point. Pure: objects in, problem strings out.
import { id, ns } from "./pod.mjs";
import { selectorMatches } from "./util.mjs";

export const HPA_TOLERANCE = 0.1; // kube-controller-manager --horizontal-pod-autoscaler-tolerance
export const TARGET_FLOOR = 50; // percent of the CPU request

// An IntOrString (3, "25%") against n replicas, as the API rounds it; NaN when malformed.
export function scaled(value, n, roundUp) {
  if (typeof value === "number") return Number.isInteger(value) ? value : NaN;
  const m = String(value).match(/^(\d+)%$/);
  if (!m) return /^\d+$/.test(String(value)) ? Number(value) : NaN;
  const x = (n * Number(m[1])) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

// Pods a PodDisruptionBudget lets a drain take at once out of n (percentages round up, as the
// disruption controller computes them); undefined when it sets neither field.
export function pdbDisruptions(pdb, n) {
  const { maxUnavailable, minAvailable } = pdb.spec || {};
  if (maxUnavailable !== undefined) return scaled(maxUnavailable, n, true);
  if (minAvailable !== undefined) return n - scaled(minAvailable, n, true);
  return undefined;
}

// Pods a Deployment's rolling update may take away at once out of n (maxUnavailable rounds down;
// the API's default is 25%).
export function rolloutUnavailable(deployment, n) {
  const s = deployment.spec?.strategy;
  if (s?.type === "Recreate") return n;
  return scaled(s?.rollingUpdate?.maxUnavailable ?? "25%", n, false);
}

export function targetCeiling(minReplicas, out, tolerance = HPA_TOLERANCE) {
  return Math.floor((100 * (minReplicas - out)) / minReplicas / (1 + tolerance) + 1e-9);
}

// The smallest minReplicas whose ceiling reaches TARGET_FLOOR with `out` pods away.
export function minReplicasFor(out, tolerance = HPA_TOLERANCE) {
  let m = out + 1;
  while (targetCeiling(m, out, tolerance) < TARGET_FLOOR) m++;
  return m;
}

function pdbsOf(objects, w) {
  const labels = w.spec?.template?.metadata?.labels || {};
  return objects.filter((o) => o.kind === "PodDisruptionBudget" && ns(o) === ns(w) && selectorMatches(o.spec?.selector, labels));
}

// A PDB must let a drain take at least one pod at minReplicas, and never all of them.
export function checkPdbAgainstHpa(pdb, hpa, out) {
  const min = hpa.spec?.minReplicas ?? 1;
  const d = pdbDisruptions(pdb, min);
  const field = pdb.spec?.maxUnavailable !== undefined ? `maxUnavailable ${pdb.spec.maxUnavailable}` : `minAvailable ${pdb.spec?.minAvailable}`;
  if (d === undefined) return;
  if (Number.isNaN(d)) return out.push(`${id(pdb)}: ${field} is not a count or a percentage`);
  if (d <= 0) out.push(`${id(pdb)}: ${field} allows no disruption at ${id(hpa)} minReplicas ${min}: node drains would block`);
  else if (d >= min) out.push(`${id(pdb)}: ${field} lets a drain take ${d} of ${id(hpa)} minReplicas ${min}: every pod at once; minReplicas must exceed what the PodDisruptionBudget lets go`);
}

// The HPA's CPU target and minReplicas against the pods that can be out (see the top).
export function checkHpaCapacity(hpa, target, objects, out) {
  const min = hpa.spec?.minReplicas ?? 1;
  const pdbs = pdbsOf(objects, target);
  // The largest wins; on a tie the first named, so a PodDisruptionBudget is named before the rest.
  const parts = [...pdbs.map((p) => [`${id(p)}`, pdbDisruptions(p, min)]), [`${id(target)} rollingUpdate.maxUnavailable`, rolloutUnavailable(target, min)], ["a rolling update's one pod", 1]];
  const [why, away] = parts.filter(([, n]) => Number.isFinite(n)).reduce((a, b) => (b[1] > a[1] ? b : a));
  if (hpa.spec?.maxReplicas !== undefined && hpa.spec.maxReplicas <= min) out.push(`${id(hpa)}: maxReplicas ${hpa.spec.maxReplicas} leaves no room above minReplicas ${min}: it can never scale out`);
  if (min - away < 1) return out.push(`${id(hpa)}: minReplicas ${min} is not above the ${away} pod(s) ${why} lets go at once: every pod could be away; raise minReplicas to at least ${minReplicasFor(away)}`);
  const cpu = (hpa.spec?.metrics || []).find((m) => m.type === "Resource" && m.resource?.name === "cpu" && m.resource?.target?.type === "Utilization");
  const tolerance = hpa.spec?.behavior?.scaleUp?.tolerance !== undefined ? Number(hpa.spec.behavior.scaleUp.tolerance) : HPA_TOLERANCE;
  const ceiling = targetCeiling(min, away, tolerance);
  if (cpu) {
    const t = cpu.resource.target.averageUtilization;
    const loaded = Math.round((t * (1 + tolerance) * min) / (min - away));
    if (ceiling < TARGET_FLOOR) {
      out.push(`${id(hpa)}: minReplicas ${min} with ${away} pod(s) away (${why}) needs a CPU target of at most ${ceiling}%, below the ${TARGET_FLOOR}% floor (deploy/README.md, "Capacity and autoscaling"): raise minReplicas to ${minReplicasFor(away, tolerance)}`);
    } else if (t > ceiling) {
      out.push(`${id(hpa)}: CPU target ${t}% is above ${ceiling}%, the most that minReplicas ${min} with ${away} pod(s) away (${why}) allows: at the scale-out point (${t}% × ${1 + tolerance}, the HPA's tolerance: ${Math.round(t * (1 + tolerance))}%) the pods left would run at ${loaded}% of their CPU request (deploy/README.md, "Capacity and autoscaling")`);
    } else if (t < TARGET_FLOOR) {
      out.push(`${id(hpa)}: CPU target ${t}% is below the ${TARGET_FLOOR}% floor (${TARGET_FLOOR}–${ceiling}% for minReplicas ${min}): the pods would reserve more than twice the CPU they use when the HPA scales out`);
    }
  } else {
    out.push(`${id(hpa)}: no CPU Utilization metric: the capacity figures in deploy/README.md are CPU per request`);
  }
  for (const p of hpa.spec?.behavior?.scaleDown?.policies || []) {
    if (p.type === "Pods" && p.value > away) out.push(`${id(hpa)}: scaleDown removes ${p.value} pods per ${p.periodSeconds}s, more than the ${away} the target's headroom covers: their connections would land on the rest at once`);
  }
}
