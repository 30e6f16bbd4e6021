// Checks of h2gate's TLS settings against the pod that no schema can make. h2gate reads the
// files of --tls-cert, --tls-key and --tls-client-ca at start-up (and again when they change,
// with the reload), so each must be a file of a Secret (a ConfigMap will do for the CA) mounted
// read-only as a directory, and readable by h2gate's user. The kubelet updates such a mount in
// place when the Secret changes; a subPath mount it never updates, so a renewed certificate would
// never reach the pod. Settings h2gate refuses at start-up are reported as such. Pure: one
// container in, problem strings out.
import { posix } from "node:path";
import { parseDuration } from "./util.mjs";

const TLS_SECRET = "kubernetes.io/tls";
// Each file setting and the key a kubernetes.io/tls Secret holds it under (cert-manager writes
// ca.crt too; `kubectl create secret tls` only the first two).
const FILES = [
  { flag: "--tls-cert", env: "H2GATE_TLS_CERT", key: "tls.crt", what: "the certificate chain" },
  { flag: "--tls-key", env: "H2GATE_TLS_KEY", key: "tls.key", what: "the private key" },
  { flag: "--tls-client-ca", env: "H2GATE_TLS_CLIENT_CA", key: "ca.crt", what: "the CA", configMapToo: true },
];
const TLS_KEYS = new Map(FILES.map((f) => [f.key, f.what]));
const DEFAULT_MODE = 0o644; // the API's default for secret, configMap and projected volumes
const DEFAULT_TMPDIR = "/tmp";
const CHOICES = [
  { flag: "--tls-client-auth", env: "H2GATE_TLS_CLIENT_AUTH", values: ["off", "request", "require"] },
  { flag: "--tls-min-version", env: "H2GATE_TLS_MIN_VERSION", values: ["1.2", "1.3"] },
];
const READ_ONLY_VOLUMES = new Set(["secret", "configMap", "projected", "downwardAPI"]);

const named = (f) => `${f.env}/${f.flag}`;
const octal = (mode) => `0${mode.toString(8)}`;

// The mount that holds `path`: the deepest mountPath that is it or a directory above it.
export function mountHolding(mounts, path) {
  let best;
  for (const m of mounts || []) {
    const dir = m.mountPath.replace(/\/+$/, "");
    if ((path === dir || path.startsWith(`${dir}/`)) && (!best || dir.length > best.mountPath.replace(/\/+$/, "").length)) best = m;
  }
  return best;
}

// The Secrets and ConfigMaps a volume's files come from, each with its items and file mode.
function volumeSources(vol) {
  if (vol.secret) return [{ kind: "Secret", name: vol.secret.secretName, items: vol.secret.items, optional: vol.secret.optional, mode: vol.secret.defaultMode }];
  if (vol.configMap) return [{ kind: "ConfigMap", name: vol.configMap.name, items: vol.configMap.items, optional: vol.configMap.optional, mode: vol.configMap.defaultMode }];
  if (vol.projected) {
    return (vol.projected.sources || []).flatMap((s) => {
      const src = s.secret ? ["Secret", s.secret] : s.configMap ? ["ConfigMap", s.configMap] : undefined;
      return src ? [{ kind: src[0], name: src[1].name, items: src[1].items, optional: src[1].optional, mode: vol.projected.defaultMode }] : [];
    });
  }
  return undefined;
}

// The type and keys of a volume source's object. A Secret that is not among the manifests (made
// by `kubectl create secret tls` or cert-manager) is taken to be kubernetes.io/tls, with its
// keys; a ConfigMap that is not has unknown keys (undefined).
function keysOf(source, objects) {
  const o = (source.kind === "Secret" ? objects.secrets : objects.configMaps).get(source.name);
  if (!o) return source.kind === "Secret" ? { type: TLS_SECRET, keys: new Set(TLS_KEYS.keys()) } : { type: undefined, keys: undefined };
  return { type: o.type ?? "Opaque", keys: new Set([...Object.keys(o.data || {}), ...Object.keys(o.stringData || {}), ...Object.keys(o.binaryData || {})]), defined: true };
}

// Which source and key a file of the mount comes from, with its mode; undefined when none has it.
function fileOf(sources, rel, objects) {
  for (const s of sources) {
    if (s.items) {
      const item = s.items.find((i) => posix.normalize(i.path) === rel);
      if (item) return { source: s, key: item.key, mode: item.mode ?? s.mode ?? DEFAULT_MODE, item: true };
      continue;
    }
    if (rel.includes("/")) continue; // without items every key is a file at the top of the mount
    const { keys } = keysOf(s, objects);
    if (!keys || keys.has(rel) || sources.length === 1) return { source: s, key: rel, mode: s.mode ?? DEFAULT_MODE, item: false };
  }
  return undefined;
}

// Can h2gate's user read a file of a Secret or ConfigMap volume? The kubelet writes those files
// as root:root with the volume's mode; with a pod fsGroup it makes them group fsGroup and adds
// group read, and the process is in that group.
export function volumeFileReadable(mode, c, pod) {
  const podSc = pod.securityContext || {};
  if (podSc.fsGroup !== undefined) return true;
  const uid = c.securityContext?.runAsUser ?? podSc.runAsUser;
  const gid = c.securityContext?.runAsGroup ?? podSc.runAsGroup;
  if (mode & 0o004) return true;
  if (uid === 0 && mode & 0o400) return true;
  return Boolean(mode & 0o040) && (gid === 0 || (podSc.supplementalGroups || []).includes(0));
}

function checkFile(f, path, c, pod, objects, out) {
  const name = `${named(f)} ${path}`;
  if (!posix.isAbsolute(path) || posix.normalize(path) !== path) return out.push(`${name} is not a plain absolute path`);
  const mount = mountHolding(c.volumeMounts, path);
  if (!mount) {
    const mounts = (c.volumeMounts || []).map((m) => m.mountPath).join(", ") || "none";
    return out.push(`${name} is in no volume mount of container ${c.name} (mounts: ${mounts}): the file would not exist, and h2gate would not start`);
  }
  const where = `volume "${mount.name}"`;
  if (mount.subPath || mount.subPathExpr) {
    return out.push(`${name} comes from ${where} mounted with subPath ${mount.subPath ?? mount.subPathExpr}: the kubelet never updates a subPath mount, so a renewed certificate would never reach the pod; mount the Secret as a directory and point ${f.env} into it`);
  }
  const dir = mount.mountPath.replace(/\/+$/, "");
  if (path === dir) return out.push(`${name} is where ${where} is mounted, not a file in it`);
  if (mount.readOnly !== true) out.push(`${name}: ${where} at ${mount.mountPath} is not mounted readOnly`);
  const vol = (pod.volumes || []).find((v) => v.name === mount.name);
  if (!vol) return out.push(`${name}: volumeMount "${mount.name}" names no volume of the pod`);
  const sources = volumeSources(vol);
  if (!sources || sources.length === 0 || (!f.configMapToo && sources.every((s) => s.kind !== "Secret"))) {
    const kind = Object.keys(vol).find((k) => k !== "name") ?? "no";
    return out.push(`${name}: ${where} is ${kind === "projected" ? "a projected volume of no Secret" : `a ${kind} volume`}, not ${f.configMapToo ? "a Secret or ConfigMap" : "a Secret"}: nothing would put ${f.what} there or renew it`);
  }
  const rel = path.slice(dir.length + 1);
  const file = fileOf(sources, rel, objects);
  if (!file) return out.push(`${name}: no item of ${where} is ${rel}, so the file would not exist`);
  const { source, key, mode } = file;
  if (source.kind === "ConfigMap" && !f.configMapToo) return out.push(`${name}: comes from ConfigMap "${source.name}", not a Secret: every reader of ConfigMaps would see ${f.what}`);
  const { type, keys, defined } = keysOf(source, objects);
  const obj = `${source.kind} "${source.name}"${source.kind === "Secret" && !defined ? ` (not among the manifests, so taken to be ${TLS_SECRET})` : ""}`;
  if (source.kind === "Secret" && type !== TLS_SECRET) {
    out.push(`${name}: Secret/${source.name} is type ${type}, not ${TLS_SECRET} (which holds tls.crt and tls.key, as \`kubectl create secret tls\` and cert-manager make it)`);
  } else if (source.kind === "Secret" && key !== f.key) {
    out.push(TLS_KEYS.has(key)
      ? `${name} is key ${key} of ${obj}, ${TLS_KEYS.get(key)}; ${f.what} is ${f.key}`
      : `${name} is key ${key} of ${obj}, which has no such key: ${f.what} is ${f.key}`);
  } else if (keys && !keys.has(key)) {
    out.push(`${name}: ${obj} has no key ${key}`);
  }
  if (source.optional === true) out.push(`${name}: ${obj} is optional in ${where}: a pod would start without the file, and h2gate would not`);
  if (!volumeFileReadable(mode, c, pod)) {
    const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? "of the image";
    out.push(`${name}: mode ${octal(mode)} (${file.item ? "its item's mode" : `defaultMode of ${where}`}), owner and group root, and the pod has no fsGroup: h2gate (uid ${uid}) cannot read it; set the pod's securityContext.fsGroup (the kubelet makes the files readable by that group) or leave the mode at 0644`);
  }
}

// With the root filesystem read-only, h2gate's TMPDIR must be a writable mount: h2gate writes
// there the copies of the certificate and key that gRPC's TLS acceptor watches.
function checkTmpDir(c, pod, setting, out) {
  if (c.securityContext?.readOnlyRootFilesystem !== true) return;
  const tmp = setting(undefined, "TMPDIR") || DEFAULT_TMPDIR;
  const mount = mountHolding(c.volumeMounts, tmp);
  const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
  const writable = vol && mount.readOnly !== true && !Object.keys(vol).some((k) => READ_ONLY_VOLUMES.has(k));
  if (!writable) {
    out.push(`TLS is on and the root filesystem is read-only, but ${tmp} (TMPDIR) is in no writable volume mount: h2gate writes the copies of the certificate and key that gRPC reads there, and would not start; mount an emptyDir (medium: Memory) at ${tmp}`);
  }
}

// `setting(flag, env)`: the value the container sees (flag, else env, else undefined).
// `objects`: { secrets, configMaps }, each a Map name -> object of the pod's namespace.
// `options.tls`: TLS must be on.
export function checkTls(c, pod, setting, objects, options = {}) {
  const out = [];
  for (const ch of CHOICES) {
    const v = setting(ch.flag, ch.env);
    if (v !== undefined && !ch.values.includes(v)) out.push(`${named(ch)}: "${v}" is not ${ch.values.join(", ").replace(/, ([^,]*)$/, " or $1")} (h2gate would not start)`);
  }
  const timeout = setting("--tls-handshake-timeout", "H2GATE_TLS_HANDSHAKE_TIMEOUT");
  if (timeout !== undefined) {
    try {
      parseDuration(timeout);
    } catch (e) {
      out.push(`H2GATE_TLS_HANDSHAKE_TIMEOUT/--tls-handshake-timeout: ${e.message} (h2gate would not start)`);
    }
  }
  // An empty value is no file, as h2gate reads it.
  const [cert, key, ca] = FILES.map((f) => setting(f.flag, f.env) || undefined);
  if (!cert && !key) {
    if (options.tls) out.push(`serves no TLS: ${named(FILES[0])} and ${named(FILES[1])} are not set`);
    if (ca) out.push(`${named(FILES[2])} needs ${named(FILES[0])} and ${named(FILES[1])} (h2gate would not start)`);
    return out;
  }
  if (!cert || !key) {
    const [has, lacks] = cert ? [FILES[0], FILES[1]] : [FILES[1], FILES[0]];
    out.push(`${named(has)} needs ${named(lacks)} (h2gate would not start)`);
    return out;
  }
  const auth = setting("--tls-client-auth", "H2GATE_TLS_CLIENT_AUTH") ?? "off";
  if ((auth === "request" || auth === "require") && !ca) out.push(`H2GATE_TLS_CLIENT_AUTH/--tls-client-auth=${auth} needs ${named(FILES[2])} (h2gate would not start)`);
  FILES.forEach((f, i) => {
    const path = [cert, key, ca][i];
    if (path) checkFile(f, path, c, pod, objects, out);
  });
  checkTmpDir(c, pod, setting, out);
  return out;
}
