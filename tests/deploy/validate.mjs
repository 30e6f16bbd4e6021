#!/usr/bin/env node
// Usage: node validate.mjs KUSTOMIZATION_DIR...
// Renders each directory with kustomize, validates every object against its schema (strictly:
// unknown fields fail), then checks what a schema cannot (lib/checks.mjs). Prints every
// problem and one PASS/FAIL line per directory; exits 0 only if every directory passes.
import { render, chooseRenderer } from "./lib/render.mjs";
import { validateObject } from "./lib/schema.mjs";
import { checkAll } from "./lib/checks.mjs";

export async function validateDir(dir, renderer) {
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
  problems.push(...checkAll(objects));
  return { objects, problems };
}

async function main(dirs) {
  if (dirs.length === 0) {
    console.error("usage: node validate.mjs KUSTOMIZATION_DIR...");
    return 2;
  }
  const renderer = chooseRenderer();
  let failed = 0;
  for (const dir of dirs) {
    const { objects, problems } = await validateDir(dir, renderer);
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
