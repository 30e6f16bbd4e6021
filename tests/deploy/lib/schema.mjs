// Schema validation of one rendered object with the kubernetes-models packages (Kubernetes
// OpenAPI schema; prometheus-operator CRD schema), plus a strict unknown-field check.
//
// The OpenAPI schemas do not forbid unknown properties, so a misspelled field ("periodSecond")
// validates and is then silently dropped by the API server. To catch it we run the package's
// compiled validator over a Proxy of the object that records which keys the validator looked
// up: a key the validator never asked about is one the schema does not know. Objects the
// validator enumerates (label maps, resource quantities: schemas with additionalProperties)
// accept any key and are not checked.

const MODULES = {
  "": "kubernetes-models/v1",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
};

async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") throw new Error("missing apiVersion or kind");
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  let spec;
  if (group === "") spec = MODULES[""];
  else if (MODULES[group]) spec = `${MODULES[group]}/${version}`;
  else spec = `kubernetes-models/${group}/${version}`;
  let mod;
  try {
    mod = await import(spec);
  } catch {
    throw new Error(`unknown apiVersion "${apiVersion}"`);
  }
  const cls = mod[kind];
  if (typeof cls !== "function" || typeof cls.prototype?.validate !== "function") {
    throw new Error(`unknown kind "${kind}" in ${apiVersion}`);
  }
  return cls;
}

// Wraps `value` so reads are recorded. Children are wrapped lazily, when the validator reads
// them, so a subtree under an unknown key (never visited) is reported once, at its root.
function tracked(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  const rec = { path, keys: Array.isArray(value) ? [] : Object.keys(value), read: new Set(), enumerated: Array.isArray(value) };
  records.push(rec);
  const cache = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return v;
      rec.read.add(key);
      if (!Object.prototype.hasOwnProperty.call(target, key)) return v;
      if (!cache.has(key)) cache.set(key, tracked(v, `${path}/${key}`, records));
      return cache.get(key);
    },
    has(target, key) {
      if (typeof key === "string") rec.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      rec.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

// Returns a list of problem strings (empty when the object is valid and strict-clean).
export async function validateObject(obj) {
  let cls;
  try {
    cls = await modelClass(obj.apiVersion, obj.kind);
  } catch (e) {
    return [e.message];
  }
  const problems = [];
  // 1. The packages' own check: new Model(data).validate() against the schema.
  try {
    new cls(obj).validate();
  } catch (e) {
    problems.push(`schema: ${e.message}`);
  }
  // 2. Strict: the same compiled validator over a recording Proxy.
  const records = [];
  try {
    cls.prototype.validate.call(tracked(obj, "", records));
  } catch {
    // Already reported above; only the recorded reads matter here.
  }
  for (const rec of records) {
    if (rec.enumerated) continue;
    for (const k of rec.keys) if (!rec.read.has(k)) problems.push(`unknown field "${rec.path}/${k}" (not in the ${obj.apiVersion} ${obj.kind} schema)`);
  }
  return problems;
}
