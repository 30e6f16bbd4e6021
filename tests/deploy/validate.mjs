#!/usr/bin/env node
// Usage: node validate.mjs [--tls] [--proxy] KUSTOMIZATION_DIR...
// Renders each directory with kustomize, validates every object against its schema (strictly:
// unknown fields fail), then checks what a schema cannot (lib/checks.mjs). With --tls, every
// container must also have TLS on (H2GATE_TLS_CERT and H2GATE_TLS_KEY); with --proxy, PROXY
// protocol on, behind a LoadBalancer Service that sends the header. Prints every problem and
// one PASS/FAIL line per directory; exits 0 only if every directory passes.
import { render, chooseRenderer } from "./lib/render.mjs";
import { validateObject } from "./lib/schema.mjs";
import { checkAll } from "./lib/checks.mjs";

export async function validateDir(dir, renderer, options = {}) {
  let objects;
  try {
    ({ objects } = render(dir, renderer));
  } catch (e) {
    return { objects: [], problems: [`render: ${e.message}`] };
  }
  const problems = [];
  for (const o of objects) {
    for (const p of await validateObject(o)) problems.push(`${o.kind ?? "?"}/${o.metadata?.name ?? "?"}: ${p}`);
  }
  problems.push(...checkAll(objects, options));
  return { objects, problems };
}

async function main(args) {
  const options = { tls: args.includes("--tls"), proxy: args.includes("--proxy") };
  const dirs = args.filter((a) => a !== "--tls" && a !== "--proxy");
  if (dirs.length === 0 || dirs.some((d) => d.startsWith("-"))) {
    console.error("usage: node validate.mjs [--tls] [--proxy] KUSTOMIZATION_DIR...");
    return 2;
  }
  const renderer = chooseRenderer();
  let failed = 0;
  for (const dir of dirs) {
    const { objects, problems } = await validateDir(dir, renderer, options);
    for (const p of problems) console.log(`  ${dir}: ${p}`);
    if (problems.length) {
      failed++;
      console.log(`FAIL ${dir}: ${problems.length} problem(s)`);
    } else {
      console.log(`PASS ${dir}: ${objects.length} objects valid (${[...new Set(objects.map((o) => o.kind))].join(", ")}; rendered by ${renderer.name})`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
