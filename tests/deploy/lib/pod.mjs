// What an h2gate container is configured with, read as h2gate reads it: a flag in command/args
// wins over an env var (env, then envFrom ConfigMaps), which wins over h2gate's default. Shared
// by checks.mjs, proxy.mjs and autoscaling.mjs. Pure: objects in, values out.
import { flagValue, listenPort } from "./util.mjs";

export const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);
// h2gate's defaults when neither flag nor env var sets them (see README.md).
export const DEFAULTS = { listen: "0.0.0.0:8080", shutdownDelay: "0s", drainTimeout: "20s", memoryLimit: "auto" };

export const id = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
export const ns = (o) => o.metadata?.namespace ?? "";

export function podsOf(objects) {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind)).map((w) => ({
    workload: w,
    labels: w.spec?.template?.metadata?.labels || {},
    spec: w.spec?.template?.spec || {},
  }));
}

// The ConfigMaps in a workload's namespace, by name.
export function configMapsOf(objects, w) {
  return new Map(objects.filter((o) => o.kind === "ConfigMap" && ns(o) === ns(w)).map((o) => [o.metadata.name, o]));
}

// The value a container sees for an env var: env beats envFrom, later envFrom beats earlier.
export function envValue(c, name, configMaps) {
  for (const e of c.env || []) {
    if (e.name !== name) continue;
    if (e.value !== undefined) return e.value;
    const ref = e.valueFrom?.configMapKeyRef;
    if (ref) return configMaps.get(ref.name)?.data?.[ref.key];
    return undefined;
  }
  let found;
  for (const ef of c.envFrom || []) {
    const cm = ef.configMapRef && configMaps.get(ef.configMapRef.name);
    const key = name.startsWith(ef.prefix || "") ? name.slice((ef.prefix || "").length) : undefined;
    if (cm && key !== undefined && cm.data?.[key] !== undefined) found = cm.data[key];
  }
  return found;
}

export const argvOf = (c) => [...(c.command || []), ...(c.args || [])];

// (flag, env) -> the value the container sees, or undefined: the flag if given, else the env var.
export function settingOf(c, configMaps) {
  const argv = argvOf(c);
  return (flag, env) => (flag && flagValue(argv, flag)) ?? envValue(c, env, configMaps);
}

// The port h2gate serves everything on (--listen, H2GATE_LISTEN).
export function servingPort(c, configMaps) {
  return listenPort(settingOf(c, configMaps)("--listen", "H2GATE_LISTEN") ?? DEFAULTS.listen);
}

// The admin listener's port (--admin-listen, H2GATE_ADMIN_LISTEN), or undefined when it is off
// (unset or empty). HTTP/1.1 only: /healthz, /readyz, /metrics, /debug/legacy-callers. It never
// reads a PROXY protocol header and never refuses plaintext, whatever the main port does.
export function adminPort(c, configMaps) {
  const v = settingOf(c, configMaps)("--admin-listen", "H2GATE_ADMIN_LISTEN");
  return v ? listenPort(v) : undefined;
}
