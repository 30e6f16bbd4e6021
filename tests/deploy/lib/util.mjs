// Small pure helpers: durations, label selectors, ports. No I/O.

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

// "--flag=value" or "--flag value" in an argv list; undefined when absent.
export function flagValue(argv, flag) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  return undefined;
}
