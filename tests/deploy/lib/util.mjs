// Small pure helpers: durations, sizes, address ranges, label selectors, ports. No I/O.
import { isIPv4, isIPv6 } from "node:net";

const UNIT_SECONDS = { ns: 1e-9, us: 1e-6, "µs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

// Go-style duration ("5s", "1m30s", "250ms", or "0") -> seconds. Throws on anything else,
// including a bare non-zero number: h2gate's flags take a unit, and "30" in a manifest is a bug.
export function parseDuration(text) {
  const s = String(text).trim();
  if (s === "0") return 0;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) throw new Error(`not a duration: "${text}"`);
  let total = 0;
  for (const [, num, , unit] of s.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(num) * UNIT_SECONDS[unit];
  return total;
}

// A Kubernetes memory quantity ("256Mi", "1Gi", "512k", "1.5G", or plain bytes) -> bytes,
// rounded up as the API does. Throws on anything else: "256K" (the API's kilo is "k") or
// "256m" (millibytes) in a memory limit is a bug.
const QUANTITY_BYTES = { "": 1n, k: 10n ** 3n, M: 10n ** 6n, G: 10n ** 9n, T: 10n ** 12n, Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n };

export function parseQuantity(text) {
  const m = String(text).trim().match(/^(\d+)(\.(\d+))?([a-zA-Z]*)$/);
  if (!m || !Object.hasOwn(QUANTITY_BYTES, m[4])) throw new Error(`not a memory quantity (like 256Mi or 1Gi): "${text}"`);
  const frac = m[3] ?? "";
  const scale = 10n ** BigInt(frac.length); // exact, so "1.1G" is 1100000000, not one more
  return Number((BigInt(m[1] + frac) * QUANTITY_BYTES[m[4]] + scale - 1n) / scale);
}

// An h2gate size, as --memory-limit takes it ("200Mi", "1Gi", "512Ki", plain bytes, "0" for
// none, or "auto") -> bytes, or "auto". Throws on anything else, as h2gate refuses to start.
const SIZE_SHIFT = { "": 0, Ki: 10, Mi: 20, Gi: 30 };

export function parseSize(text) {
  const s = String(text);
  if (s === "auto") return "auto";
  const m = s.match(/^(\d+)(Ki|Mi|Gi)?$/);
  if (!m) throw new Error(`not a size (like 200Mi, 1Gi, 0 or auto): "${text}"`);
  const bytes = Number(m[1]) * 2 ** SIZE_SHIFT[m[2] ?? ""];
  if (bytes > 2 ** 50) throw new Error(`larger than 1 PiB: "${text}"`);
  return bytes;
}

// An h2gate list of sources, as --http2-route-per-request and --http2-guard-exempt take it:
// "none" or "" (no source), "all", or comma-separated IPv4/IPv6 addresses, each with an optional
// /prefix. Spaces around entries are ignored. -> { all, ranges: [{ address, prefix }] }. Throws on
// anything else, with h2gate's own reason, as h2gate refuses to start.
export function parseCidrList(text) {
  const trim = (s) => s.replace(/^ +| +$/g, "");
  let rest = trim(String(text));
  if (rest === "" || rest === "none") return { all: false, ranges: [] };
  if (rest === "all") return { all: true, ranges: [] };
  const ranges = [];
  while (rest !== "") {
    const comma = rest.indexOf(",");
    const entry = trim(comma < 0 ? rest : rest.slice(0, comma));
    rest = comma < 0 ? "" : rest.slice(comma + 1);
    const slash = entry.indexOf("/");
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const v6 = isIPv6(address);
    if (!v6 && !isIPv4(address)) throw new Error(`"${entry}" is not an IP address or range (like 10.0.0.0/8 or ::1)`);
    const max = v6 ? 128 : 32;
    let prefix = max;
    if (slash >= 0) {
      const bits = entry.slice(slash + 1);
      prefix = /^\d+$/.test(bits) ? Number(bits) : NaN;
      if (!(prefix <= max)) throw new Error(`"${entry}": the prefix length must be 0 to ${max}`);
    }
    ranges.push({ address, prefix });
  }
  return { all: false, ranges };
}

// Kubernetes LabelSelector (matchLabels + matchExpressions) against a label map.
// An empty or missing selector matches everything, as the API defines for these objects.
export function selectorMatches(selector, labels = {}) {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const vals = e.values || [];
    switch (e.operator) {
      case "In": if (!has || !vals.includes(labels[e.key])) return false; break;
      case "NotIn": if (has && vals.includes(labels[e.key])) return false; break;
      case "Exists": if (!has) return false; break;
      case "DoesNotExist": if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

// A Service's plain map selector.
export function mapSelectorMatches(selector, labels = {}) {
  return Object.entries(selector || {}).every(([k, v]) => labels[k] === v);
}

export function isEmptySelector(selector) {
  return !selector || (Object.keys(selector.matchLabels || {}).length === 0 && (selector.matchExpressions || []).length === 0);
}

// Does `port` (number, numeric string or name) name one of the container's ports?
export function containerHasPort(container, port) {
  const ports = container.ports || [];
  if (typeof port === "number" || /^\d+$/.test(String(port))) return ports.some((p) => p.containerPort === Number(port));
  return ports.some((p) => p.name === port);
}

// The container port number a Service targetPort (number, numeric string or name) reaches in a
// container; undefined when it names none.
export function containerPortNumber(container, port) {
  const ports = container.ports || [];
  if (typeof port === "number" || /^\d+$/.test(String(port))) return ports.some((p) => p.containerPort === Number(port)) ? Number(port) : undefined;
  return ports.find((p) => p.name === port)?.containerPort;
}

// The port of an h2gate HOST:PORT ("0.0.0.0:8080", "[::]:8080"); NaN if there is none.
export function listenPort(hostPort) {
  const m = String(hostPort).match(/:(\d{1,5})$/);
  return m ? Number(m[1]) : NaN;
}

// "--flag=value" or "--flag value" in an argv list; undefined when absent.
export function flagValue(argv, flag) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  return undefined;
}
