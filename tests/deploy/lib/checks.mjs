// Checks across the rendered objects that no schema can express: selectors that must select
// something, ports that must exist, Service ports for gRPC and HTTP routes that reach the port
// h2gate serves on, drain timing that must fit the grace period, a memory limit below the
// container's, settings h2gate would refuse at start-up, TLS files from a Secret mounted as a
// directory (tls.mjs), probes and scrapes the main port would answer, PROXY protocol and load
// balancers (proxy.mjs), autoscaling with headroom for a pod out (autoscaling.mjs), and the
// security settings h2gate's pods promise. Pure: objects in, problem strings out.
import { checkHpaCapacity, checkPdbAgainstHpa } from "./autoscaling.mjs";
import { checkLoadBalancer, checkProbeTargets, checkProxySettings, checkScrapeTarget, failsWhileDraining, sendsProxyHeader, wantsProxy } from "./proxy.mjs";
import { checkTls } from "./tls.mjs";
import { adminPort, configMapsOf, DEFAULTS, envValue, id, ns, podsOf, servingPort, WORKLOAD_KINDS } from "./pod.mjs";
import { containerHasPort, containerPortNumber, flagValue, isEmptySelector, mapSelectorMatches, parseCidrList, parseDuration, parseQuantity, parseSize, selectorMatches } from "./util.mjs";

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass"]);
const H2C = "kubernetes.io/h2c";
const DEFAULT_GRACE_SECONDS = 30; // the API's default terminationGracePeriodSeconds

function checkNamespaces(objects, out) {
  const seen = new Set(objects.filter((o) => !CLUSTER_SCOPED.has(o.kind)).map(ns));
  if (seen.size > 1) out.push(`namespaces: objects are spread over ${[...seen].map((n) => `"${n}"`).join(", ")}`);
  const names = new Set();
  for (const o of objects) {
    if (!o.metadata?.name) out.push(`${o.kind}: metadata.name is missing`);
    const key = `${o.apiVersion}/${o.kind}/${ns(o)}/${o.metadata?.name}`;
    if (names.has(key)) out.push(`${id(o)}: defined twice`);
    names.add(key);
  }
}

function checkWorkload(w, objects, options, out) {
  const sel = w.spec?.selector;
  const labels = w.spec?.template?.metadata?.labels || {};
  if (isEmptySelector(sel)) out.push(`${id(w)}: spec.selector is empty`);
  else if (!selectorMatches(sel, labels)) out.push(`${id(w)}: spec.selector does not match the pod template labels ${JSON.stringify(labels)}`);
  const spec = w.spec?.template?.spec || {};
  const cms = configMapsOf(objects, w);
  const configMaps = new Set(cms.keys());
  for (const c of spec.containers || []) {
    for (const ef of c.envFrom || []) {
      const ref = ef.configMapRef;
      if (ref && !ref.optional && !configMaps.has(ref.name)) out.push(`${id(w)}: container ${c.name} envFrom ConfigMap "${ref.name}" is not among the manifests`);
    }
    checkProbes(w, c, out);
    checkProbeTargets(w, c, cms, out);
    checkProxySettings(w, c, cms, out);
    if (options.proxy && !wantsProxy(c, cms)) out.push(`${id(w)}: container ${c.name} reads no PROXY protocol header: H2GATE_PROXY_PROTOCOL is off`);
    checkResources(w, c, out);
    checkImage(w, c, out);
  }
  if (spec.serviceAccountName && spec.serviceAccountName !== "default") {
    const sas = objects.filter((o) => o.kind === "ServiceAccount" && ns(o) === ns(w)).map((o) => o.metadata.name);
    if (!sas.includes(spec.serviceAccountName)) out.push(`${id(w)}: serviceAccountName "${spec.serviceAccountName}" is not among the manifests`);
  }
  for (const t of spec.topologySpreadConstraints || []) {
    if (!selectorMatches(t.labelSelector, labels)) out.push(`${id(w)}: topologySpreadConstraints labelSelector does not match the pod's own labels`);
  }
  checkSecurity(w, spec, out);
  checkDrainTiming(w, spec, objects, out);
  checkMemoryLimit(w, spec, objects, out);
  checkRoutePerRequest(w, spec, objects, out);
  checkTlsSettings(w, spec, objects, options, out);
}

function checkProbes(w, c, out) {
  for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const p = c[kind];
    if (!p) continue;
    const where = `${id(w)}: container ${c.name} ${kind}`;
    if (p.grpc) {
      // A gRPC probe takes a port number only, and must hit the port gRPC is served on.
      if (!containerHasPort(c, p.grpc.port) || typeof p.grpc.port !== "number") out.push(`${where} grpc.port ${p.grpc.port} is not a containerPort of ${c.name}`);
    }
    for (const h of ["httpGet", "tcpSocket"]) {
      if (p[h] && !containerHasPort(c, p[h].port)) out.push(`${where} ${h}.port ${JSON.stringify(p[h].port)} is not a port of ${c.name}`);
    }
  }
  if (!c.readinessProbe) out.push(`${id(w)}: container ${c.name} has no readinessProbe`);
  if (!c.livenessProbe) out.push(`${id(w)}: container ${c.name} has no livenessProbe`);
}

function checkResources(w, c, out) {
  const r = c.resources || {};
  for (const res of ["cpu", "memory"]) if (!r.requests?.[res]) out.push(`${id(w)}: container ${c.name} has no resources.requests.${res}`);
  if (!r.limits?.memory) out.push(`${id(w)}: container ${c.name} has no resources.limits.memory`);
}

function checkImage(w, c, out) {
  const img = String(c.image || "");
  const tag = img.includes("@") ? "digest" : img.slice(img.lastIndexOf("/") + 1).split(":")[1];
  if (!tag || tag === "latest") out.push(`${id(w)}: container ${c.name} image "${img}" is not pinned to a tag or digest`);
}

function checkSecurity(w, spec, out) {
  const pod = spec.securityContext || {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push(`${id(w)}: uses host namespaces`);
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    const sc = c.securityContext || {};
    const eff = (k) => (sc[k] !== undefined ? sc[k] : pod[k]);
    const where = `${id(w)}: container ${c.name} securityContext`;
    if (eff("runAsNonRoot") !== true) out.push(`${where}: runAsNonRoot is not true`);
    if (eff("runAsUser") === 0) out.push(`${where}: runAsUser is 0`);
    if (sc.privileged === true) out.push(`${where}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem is not true`);
    if (!(sc.capabilities?.drop || []).includes("ALL")) out.push(`${where}: capabilities.drop does not include ALL`);
    if ((sc.capabilities?.add || []).length) out.push(`${where}: adds capabilities ${sc.capabilities.add.join(",")}`);
    const seccomp = eff("seccompProfile")?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${where}: seccompProfile is not RuntimeDefault`);
  }
}

function preStopSeconds(c) {
  const ps = c.lifecycle?.preStop;
  if (!ps) return 0;
  if (ps.sleep) return Number(ps.sleep.seconds) || 0;
  const cmd = (ps.exec?.command || []).join(" ");
  const m = cmd.match(/\bsleep\s+(\d+(\.\d+)?)/);
  return m ? Number(m[1]) : 0;
}

// SIGTERM -> (preStop) -> shutdown delay -> drain timeout -> exit must fit the grace period,
// and liveness must not kill a pod that drains on purpose.
function checkDrainTiming(w, spec, objects, out) {
  const configMaps = configMapsOf(objects, w);
  const grace = spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  for (const c of spec.containers || []) {
    const argv = [...(c.command || []), ...(c.args || [])];
    const pick = (flag, env, dflt) => {
      const v = flagValue(argv, flag) ?? envValue(c, env, configMaps) ?? dflt;
      try {
        return parseDuration(v);
      } catch (e) {
        out.push(`${id(w)}: container ${c.name} ${env}/${flag}: ${e.message}`);
        return NaN;
      }
    };
    const delay = pick("--shutdown-delay", "H2GATE_SHUTDOWN_DELAY", DEFAULTS.shutdownDelay);
    const drain = pick("--drain-timeout", "H2GATE_DRAIN_TIMEOUT", DEFAULTS.drainTimeout);
    if (Number.isNaN(delay) || Number.isNaN(drain)) continue;
    const need = preStopSeconds(c) + delay + drain;
    if (!(need < grace)) {
      out.push(`${id(w)}: terminationGracePeriodSeconds ${grace} is not longer than preStop ${preStopSeconds(c)}s + shutdown delay ${delay}s + drain timeout ${drain}s = ${need}s: draining RPCs would be SIGKILLed`);
    }
    const lp = c.livenessProbe;
    if (failsWhileDraining(lp)) {
      const window = (lp.periodSeconds ?? 10) * (lp.failureThreshold ?? 3);
      if (window < delay + drain) out.push(`${id(w)}: container ${c.name} livenessProbe fails after ${window}s, shorter than the ${delay + drain}s drain: liveness would kill a draining pod`);
    }
  }
}

// h2gate refuses new connections once its resident memory passes --memory-limit ("auto": 90% of
// the cgroup's limit). That limit must be set, and below the container's limits.memory, or the
// kernel's OOM killer acts first and kills the pod with every connection on it.
function checkMemoryLimit(w, spec, objects, out) {
  const configMaps = configMapsOf(objects, w);
  for (const c of spec.containers || []) {
    const quantity = c.resources?.limits?.memory;
    if (quantity === undefined) continue; // checkResources reports it
    const where = `${id(w)}: container ${c.name}`;
    const argv = [...(c.command || []), ...(c.args || [])];
    const setting = flagValue(argv, "--memory-limit") ?? envValue(c, "H2GATE_MEMORY_LIMIT", configMaps) ?? DEFAULTS.memoryLimit;
    const parse = (what, fn, v) => {
      try {
        return fn(v);
      } catch (e) {
        out.push(`${where} ${what}: ${e.message}`);
        return NaN;
      }
    };
    const max = parse("resources.limits.memory", parseQuantity, quantity);
    const size = parse("H2GATE_MEMORY_LIMIT/--memory-limit", parseSize, setting);
    if (Number.isNaN(max) || Number.isNaN(size)) continue;
    const bytes = size === "auto" ? Math.floor(max / 10) * 9 : size; // as h2gate computes auto
    if (bytes <= 0) {
      out.push(`${where} H2GATE_MEMORY_LIMIT/--memory-limit is ${setting} (${bytes} bytes): no memory limit: a flood reaches the OOM killer`);
    } else if (!(bytes < max)) {
      out.push(`${where} H2GATE_MEMORY_LIMIT/--memory-limit is ${setting} (${bytes} bytes), not below resources.limits.memory ${quantity} (${max} bytes): the OOM killer would act before h2gate refuses connections`);
    }
  }
}

// --http2-route-per-request takes none, all or CIDR ranges; anything else stops h2gate at start-up
// (exit 2), so every pod of the rollout would crash-loop.
function checkRoutePerRequest(w, spec, objects, out) {
  const configMaps = configMapsOf(objects, w);
  for (const c of spec.containers || []) {
    const argv = [...(c.command || []), ...(c.args || [])];
    const setting = flagValue(argv, "--http2-route-per-request") ?? envValue(c, "H2GATE_HTTP2_ROUTE_PER_REQUEST", configMaps);
    if (setting === undefined) continue; // h2gate's default, none
    try {
      parseCidrList(setting);
    } catch (e) {
      out.push(`${id(w)}: container ${c.name} H2GATE_HTTP2_ROUTE_PER_REQUEST/--http2-route-per-request: ${e.message}; it takes none, all or CIDR ranges such as the ingress pods' 10.0.0.0/8 (h2gate would not start)`);
    }
  }
}

// --tls-* files: from a Secret mounted read-only as a directory, so rotations reach the pod.
function checkTlsSettings(w, spec, objects, options, out) {
  const configMaps = configMapsOf(objects, w);
  const secrets = new Map(objects.filter((o) => o.kind === "Secret" && ns(o) === ns(w)).map((o) => [o.metadata.name, o]));
  for (const c of spec.containers || []) {
    const argv = [...(c.command || []), ...(c.args || [])];
    const setting = (flag, env) => (flag && flagValue(argv, flag)) ?? envValue(c, env, configMaps);
    for (const p of checkTls(c, spec, setting, { secrets, configMaps }, options)) out.push(`${id(w)}: container ${c.name} ${p}`);
  }
}

// An ingress picks the protocol it speaks to the pods from the Service port's appProtocol. gRPC
// routes need a port with kubernetes.io/h2c. HTTP routes need one without it: sent over h2c, an
// ingress's pooled connection that opened with a gRPC call is handed to gRPC whole, and the JSON
// callers it carries next get gRPC's answers instead of the 426 or their transcoded call. Both must
// reach the one port h2gate serves on; its admin port, if any, answers operator pages only.
function checkServiceProtocols(svc, selected, objects, out) {
  // A port onto the admin port (a scrape's) carries no routes.
  const ports = (svc.spec.ports || []).filter((port) => !targetsAdmin(port, selected, objects));
  const isHttp = (p) => p.appProtocol === undefined || p.appProtocol.toLowerCase() === "http";
  const h2c = ports.filter((p) => p.appProtocol === H2C);
  const http = ports.filter(isHttp);
  const listing = ports.map((p) => `${p.name ?? p.port} ${p.appProtocol ?? "(no appProtocol)"}`).join(", ");
  if (h2c.length === 0) out.push(`${id(svc)}: no port with appProtocol ${H2C} for gRPC routes (h2gate speaks h2c with prior knowledge); ports: ${listing}`);
  if (http.length === 0) out.push(`${id(svc)}: no port for HTTP routes (appProtocol http or none): an ingress would send them over h2c, where JSON callers on a connection opened by a gRPC call get gRPC's answers; ports: ${listing}`);
  for (const port of [...h2c, ...http]) {
    const target = port.targetPort ?? port.port;
    for (const p of selected) {
      const configMaps = configMapsOf(objects, p.workload);
      for (const c of p.spec.containers || []) {
        const number = containerPortNumber(c, target);
        if (number === undefined) continue; // checkService reports a target no container has
        const serving = servingPort(c, configMaps);
        if (number !== serving) {
          out.push(`${id(svc)}: port ${port.name ?? port.port} (${port.appProtocol ?? "no appProtocol"}) targets container port ${number} of ${id(p.workload)}, not the port h2gate serves on (${serving}, H2GATE_LISTEN/--listen)`);
        }
      }
    }
  }
}

// Does a Service port target an admin port (--admin-listen) of every pod it selects?
function targetsAdmin(port, selected, objects) {
  return selected.every((p) => (p.spec.containers || []).some((c) => {
    const number = containerPortNumber(c, port.targetPort ?? port.port);
    return number !== undefined && number === adminPort(c, configMapsOf(objects, p.workload));
  }));
}

const onlyAdminPorts = (svc, selected, objects) => (svc.spec.ports || []).every((port) => targetsAdmin(port, selected, objects));

function checkService(svc, pods, objects, out) {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return out.push(`${id(svc)}: has no selector`);
  const selected = pods.filter((p) => ns(p.workload) === ns(svc) && mapSelectorMatches(sel, p.labels));
  if (selected.length === 0) return out.push(`${id(svc)}: selector ${JSON.stringify(sel)} matches no pod template`);
  // A load balancer speaks TCP to the main port (proxy.mjs); a Service of admin ports only is for
  // operators and scrapes. Every other Service is one ingresses and callers route to.
  if (svc.spec.type === "LoadBalancer") checkLoadBalancer(svc, selected, objects, out);
  else if (!onlyAdminPorts(svc, selected, objects)) checkServiceProtocols(svc, selected, objects, out);
  for (const port of svc.spec.ports || []) {
    const target = port.targetPort ?? port.port;
    for (const p of selected) {
      if (!(p.spec.containers || []).some((c) => containerHasPort(c, target))) {
        out.push(`${id(svc)}: port ${port.name ?? port.port} targetPort ${JSON.stringify(target)} is not a container port of ${id(p.workload)}`);
      }
    }
    if (port.name === "grpc" && port.appProtocol !== "kubernetes.io/h2c") out.push(`${id(svc)}: port grpc must have appProtocol kubernetes.io/h2c (h2gate speaks h2c with prior knowledge)`);
  }
}

function checkSelectsPods(o, selector, pods, out, what) {
  if (isEmptySelector(selector)) {
    out.push(`${id(o)}: ${what} is empty (it would select every pod)`);
    return [];
  }
  const hit = pods.filter((p) => ns(p.workload) === ns(o) && selectorMatches(selector, p.labels));
  if (hit.length === 0) out.push(`${id(o)}: ${what} matches no pod template`);
  return hit;
}

function checkNetworkPolicy(np, pods, out) {
  const hit = checkSelectsPods(np, np.spec?.podSelector, pods, out, "spec.podSelector");
  for (const rule of np.spec?.ingress || []) {
    for (const port of rule.ports || []) {
      if (port.port === undefined) continue;
      for (const p of hit) {
        if (!(p.spec.containers || []).some((c) => containerHasPort(c, port.port))) out.push(`${id(np)}: ingress port ${JSON.stringify(port.port)} is not a container port of ${id(p.workload)}`);
      }
    }
  }
}

function checkServiceMonitor(sm, objects, out) {
  // A ServiceMonitor selects Services (by their labels), then names one of their ports.
  const sameNs = !sm.spec?.namespaceSelector || (!sm.spec.namespaceSelector.any && !(sm.spec.namespaceSelector.matchNames || []).length);
  const services = objects.filter((o) => o.kind === "Service" && (!sameNs || ns(o) === ns(sm)) && selectorMatches(sm.spec?.selector, o.metadata?.labels || {}));
  if (isEmptySelector(sm.spec?.selector)) out.push(`${id(sm)}: spec.selector is empty`);
  if (services.length === 0) return out.push(`${id(sm)}: spec.selector matches no Service's labels`);
  for (const ep of sm.spec.endpoints || []) {
    if (ep.port !== undefined && !services.some((s) => (s.spec.ports || []).some((p) => p.name === ep.port))) {
      out.push(`${id(sm)}: endpoint port "${ep.port}" is not a port name of the selected Service(s)`);
    }
    if ((ep.path ?? "/metrics") !== "/metrics") out.push(`${id(sm)}: endpoint path ${ep.path} is not h2gate's /metrics`);
  }
  checkScrapeTarget(sm, services, objects, out);
}

function checkHpa(hpa, objects, out) {
  const ref = hpa.spec?.scaleTargetRef || {};
  const target = objects.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name && ns(o) === ns(hpa));
  if (!target) return out.push(`${id(hpa)}: scaleTargetRef ${ref.kind}/${ref.name} is not among the manifests`);
  if ((hpa.spec.minReplicas ?? 1) > hpa.spec.maxReplicas) out.push(`${id(hpa)}: minReplicas > maxReplicas`);
  for (const m of hpa.spec.metrics || []) {
    const res = m.resource?.name;
    if (m.type === "Resource" && m.resource?.target?.type === "Utilization") {
      for (const c of target.spec?.template?.spec?.containers || []) {
        if (!c.resources?.requests?.[res]) out.push(`${id(hpa)}: ${res} utilization needs resources.requests.${res} on ${id(target)} container ${c.name}`);
      }
    }
  }
  if (target.spec?.replicas !== undefined) out.push(`${id(hpa)}: ${id(target)} also sets spec.replicas; every apply would fight the autoscaler`);
  checkHpaCapacity(hpa, target, objects, out);
}

function checkPdb(pdb, pods, objects, out) {
  checkSelectsPods(pdb, pdb.spec?.selector, pods, out, "spec.selector");
  const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && ns(o) === ns(pdb));
  if (hpa) checkPdbAgainstHpa(pdb, hpa, out);
  else if (pdb.spec?.maxUnavailable === 0 || pdb.spec?.maxUnavailable === "0%") out.push(`${id(pdb)}: maxUnavailable 0 blocks every node drain`);
}

// options.tls: every container must serve TLS (the TLS overlay and its fixtures).
// options.proxy: every container must read PROXY headers, from a load balancer that sends them
// (the PROXY protocol overlay and its fixtures).
export function checkAll(objects, options = {}) {
  const out = [];
  const pods = podsOf(objects);
  checkNamespaces(objects, out);
  if (pods.length === 0) out.push("no Deployment among the manifests");
  if (options.proxy && !objects.some((o) => o.kind === "Service" && o.spec?.type === "LoadBalancer" && sendsProxyHeader(o))) {
    out.push("no Service of type LoadBalancer whose balancer sends PROXY protocol headers");
  }
  for (const o of objects) {
    if (WORKLOAD_KINDS.has(o.kind)) checkWorkload(o, objects, options, out);
    else if (o.kind === "Service") checkService(o, pods, objects, out);
    else if (o.kind === "PodDisruptionBudget") checkPdb(o, pods, objects, out);
    else if (o.kind === "NetworkPolicy") checkNetworkPolicy(o, pods, out);
    else if (o.kind === "ServiceMonitor") checkServiceMonitor(o, objects, out);
    else if (o.kind === "HorizontalPodAutoscaler") checkHpa(o, objects, out);
  }
  return out;
}
