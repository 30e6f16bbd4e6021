// Checks of where the kubelet, Prometheus and a cloud load balancer connect, against what the
// port they reach will take. h2gate's main port may refuse a connection that carries no PROXY
// protocol header (--proxy-protocol=required) or no TLS (--tls-required); the admin port
// (--admin-listen) never reads a PROXY header, speaks HTTP/1.1 only and never refuses plaintext.
// An AWS NLB with proxy protocol v2 on sends the header on every connection to its targets, its
// own health checks included, whatever port they go to. Pure: objects in, problem strings out.
// Why each rule: deploy/README.md, "Behind a cloud load balancer: PROXY protocol".
import { adminPort, configMapsOf, id, ns, servingPort, settingOf } from "./pod.mjs";
import { containerPortNumber, mapSelectorMatches, parseCidrList } from "./util.mjs";

const AWS = "service.beta.kubernetes.io/aws-load-balancer-";
const AWS_LB_CLASS = "service.k8s.aws/nlb";
const PROXY_MODES = ["off", "optional", "required"];
const ADMIN_PATHS = new Set(["/healthz", "/readyz"]);
const PROBES = ["startupProbe", "readinessProbe", "livenessProbe"];

const TRUE = new Set(["true", "1", "yes"]);
const FALSE = new Set(["false", "0", "no"]);

// --proxy-protocol and --proxy-protocol-from as the container sees them.
export function proxySettings(setting) {
  return {
    mode: setting("--proxy-protocol", "H2GATE_PROXY_PROTOCOL") ?? "off",
    from: setting("--proxy-protocol-from", "H2GATE_PROXY_PROTOCOL_FROM") ?? "",
  };
}

// Does the main port refuse a connection that comes straight from the kubelet or Prometheus
// (no PROXY header, plaintext)? Returns the reason, or undefined.
export function mainPortRefusesDirect(setting) {
  if (proxySettings(setting).mode === "required") return "H2GATE_PROXY_PROTOCOL=required (a connection without a PROXY header is closed)";
  if (TRUE.has(setting("--tls-required", "H2GATE_TLS_REQUIRED") ?? "")) return "H2GATE_TLS_REQUIRED=true (plaintext is refused)";
  return undefined;
}

export function wantsProxy(c, configMaps) {
  return proxySettings(settingOf(c, configMaps)).mode !== "off";
}

// The settings h2gate refuses at start-up, and the ones it takes that defeat their purpose.
export function checkProxySettings(w, c, configMaps, out) {
  const where = `${id(w)}: container ${c.name}`;
  const { mode, from } = proxySettings(settingOf(c, configMaps));
  if (!PROXY_MODES.includes(mode)) return out.push(`${where} H2GATE_PROXY_PROTOCOL/--proxy-protocol: "${mode}" is not off, optional or required (h2gate would not start)`);
  let list;
  if (from !== "") {
    try {
      list = parseCidrList(from);
    } catch (e) {
      return out.push(`${where} H2GATE_PROXY_PROTOCOL_FROM/--proxy-protocol-from: ${e.message} (h2gate would not start)`);
    }
  }
  if (mode === "optional" && from === "") {
    out.push(`${where} H2GATE_PROXY_PROTOCOL=optional without H2GATE_PROXY_PROTOCOL_FROM: h2gate would not start (any client could send a header and name any address); set it to the load balancers' range, such as the VPC's CIDR`);
  } else if (mode === "optional" && list?.all) {
    out.push(`${where} H2GATE_PROXY_PROTOCOL=optional with H2GATE_PROXY_PROTOCOL_FROM=all: any client may send a header and name any address; list the load balancers' range`);
  } else if (mode === "required" && list && !list.all && list.ranges.length === 0) {
    out.push(`${where} H2GATE_PROXY_PROTOCOL=required with H2GATE_PROXY_PROTOCOL_FROM=${from}: no source is trusted, so every main-port connection would be refused`);
  }
}

// Which port a probe connects to, as a container port number (undefined: not a port of c).
function probePort(c, probe) {
  const handler = probe.grpc ?? probe.httpGet ?? probe.tcpSocket;
  return handler ? containerPortNumber(c, handler.port) : undefined;
}

// Probes must go where they are answered: the admin port answers HTTP/1.1 /healthz and /readyz
// only (a gRPC probe there fails its handshake, another path is a 404), and a main port that
// refuses direct connections refuses the kubelet too: every pod would stay unready.
export function checkProbeTargets(w, c, configMaps, out) {
  const setting = settingOf(c, configMaps);
  const admin = adminPort(c, configMaps);
  const serving = servingPort(c, configMaps);
  const refuses = mainPortRefusesDirect(setting);
  if (refuses && admin === undefined) {
    out.push(`${id(w)}: container ${c.name} main port refuses the kubelet's probes under ${refuses}, and H2GATE_ADMIN_LISTEN/--admin-listen is not set: give the probes the admin port`);
  }
  for (const kind of PROBES) {
    const p = c[kind];
    if (!p) continue;
    const where = `${id(w)}: container ${c.name} ${kind}`;
    const port = probePort(c, p);
    if (port === undefined) continue; // checkProbes reports a port the container does not have
    if (admin !== undefined && port === admin) {
      if (p.grpc) out.push(`${where} is a gRPC probe on the admin port ${admin}, which speaks HTTP/1.1 only: use httpGet ${kind === "livenessProbe" ? "/healthz" : "/readyz"}`);
      if (p.httpGet && !ADMIN_PATHS.has(p.httpGet.path ?? "/")) out.push(`${where} httpGet path ${p.httpGet.path ?? "/"} on the admin port is a 404: use /readyz (503 while draining) or /healthz`);
      if (p.httpGet && (p.httpGet.scheme ?? "HTTP") !== "HTTP") out.push(`${where} httpGet scheme ${p.httpGet.scheme} on the admin port, which is plaintext only`);
    } else if (port === serving && refuses) {
      out.push(`${where} targets the main port ${serving}, which refuses it under ${refuses}: probes must target the admin port${admin === undefined ? " (set H2GATE_ADMIN_LISTEN)" : ` ${admin}`}`);
    } else if (port !== serving && port !== admin) {
      out.push(`${where} targets container port ${port}, where h2gate does not listen (main ${serving}${admin === undefined ? "" : `, admin ${admin}`})`);
    }
  }
}

// Does a probe turn failing once h2gate drains? gRPC health answers NOT_SERVING and /readyz 503;
// /healthz and a TCP connect stay healthy while the process runs.
export function failsWhileDraining(probe) {
  if (!probe) return false;
  if (probe.grpc) return true;
  return probe.httpGet !== undefined && (probe.httpGet.path ?? "/") === "/readyz";
}

// "k1=v1,k2=v2" (the AWS controller's stringMap annotations) -> Map.
export function parseStringMap(text) {
  const m = new Map();
  for (const part of String(text ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) m.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return m;
}

// Does this LoadBalancer Service make its balancer send PROXY protocol headers? true, false (an
// AWS balancer without it), or undefined (a provider this validator knows no annotation of).
// The AWS Load Balancer Controller's proxy-protocol "*" takes precedence over the target group
// attribute, as its documentation says.
export function sendsProxyHeader(svc) {
  const a = svc.metadata?.annotations || {};
  if (a[`${AWS}proxy-protocol`] === "*") return true;
  const v = parseStringMap(a[`${AWS}target-group-attributes`]).get("proxy_protocol_v2.enabled");
  if (v !== undefined) return v === "true";
  const aws = svc.spec?.loadBalancerClass === AWS_LB_CLASS || Object.keys(a).some((k) => k.startsWith(AWS));
  return aws ? false : undefined;
}

// A Service of type LoadBalancer puts h2gate's main port outside the cluster (or the VPC).
export function checkLoadBalancer(svc, selected, objects, out) {
  const a = svc.metadata?.annotations || {};
  const sends = sendsProxyHeader(svc);
  const aws = sends !== undefined;
  if (sends && a[`${AWS}type`] === "nlb") {
    out.push(`${id(svc)}: ${AWS}type "nlb" is the in-tree controller's, which ignores proxy protocol for NLBs (kubernetes/kubernetes#101608): use "external" (the AWS Load Balancer Controller) or loadBalancerClass ${AWS_LB_CLASS}`);
  }
  if (sends && svc.spec?.externalTrafficPolicy === "Local") {
    out.push(`${id(svc)}: externalTrafficPolicy Local with PROXY headers: its health checks go to kube-proxy's healthCheckNodePort, which cannot read the header the balancer sends on every check (all targets unhealthy), and in instance mode the TCP source is the client, not a load balancer in H2GATE_PROXY_PROTOCOL_FROM; use Cluster (the header names the client)`);
  }
  for (const p of selected) {
    const configMaps = configMapsOf(objects, p.workload);
    for (const c of p.spec.containers || []) {
      const serving = servingPort(c, configMaps);
      const admin = adminPort(c, configMaps);
      const setting = settingOf(c, configMaps);
      const { mode } = proxySettings(setting);
      for (const port of svc.spec.ports || []) {
        const number = containerPortNumber(c, port.targetPort ?? port.port);
        if (number === undefined || number === serving) continue;
        out.push(number === admin
          ? `${id(svc)}: port ${port.name ?? port.port} exposes the admin port ${admin} through the load balancer: it never reads a PROXY header and serves /debug/legacy-callers (and DELETE on it) to anyone; a load balancer must target the main port ${serving} only`
          : `${id(svc)}: port ${port.name ?? port.port} targets container port ${number} of ${id(p.workload)}, not the main port ${serving}: a load balancer must target the main port only`);
      }
      if (sends === true && mode === "off") out.push(`${id(svc)}: the balancer sends PROXY headers, but ${id(p.workload)} has H2GATE_PROXY_PROTOCOL=off: the header would be read as the request, and every connection closed; set required (or optional) and H2GATE_PROXY_PROTOCOL_FROM`);
      if (sends !== true && mode === "required") {
        out.push(aws
          ? `${id(svc)}: ${id(p.workload)} has H2GATE_PROXY_PROTOCOL=required, but the balancer sends no PROXY header (${AWS}proxy-protocol: "*" or target-group-attributes proxy_protocol_v2.enabled=true): every connection through it would be refused`
          : `${id(svc)}: ${id(p.workload)} has H2GATE_PROXY_PROTOCOL=required, and this Service has no annotation known to make its balancer send PROXY headers (AWS: ${AWS}proxy-protocol: "*"): every connection through it would be refused`);
      }
      if (!FALSE.has(setting("--metrics", "H2GATE_METRICS") ?? "true")) {
        out.push(`${id(svc)}: exposes the main port of ${id(p.workload)}, which serves /metrics and /debug/legacy-callers (callers' addresses; DELETE resets it) unless H2GATE_METRICS=false: set it, and scrape the admin port`);
      }
      if (aws) checkAwsHealthCheck(svc, a, { serving, admin, tlsRequired: TRUE.has(setting("--tls-required", "H2GATE_TLS_REQUIRED") ?? "") }, out);
    }
  }
}

// The NLB's own health check: it must reach the main port (the admin port never reads the PROXY
// header the balancer sends on health checks too) and ask /readyz, which turns 503 when h2gate
// drains; a TCP check passes during the shutdown delay and while h2gate refuses connections over
// its memory limit (the kernel completes the handshake), so the balancer would go on sending.
// Under --tls-required a plaintext check gets the 426: it must be HTTPS then.
function checkAwsHealthCheck(svc, a, { serving, admin, tlsRequired }, out) {
  const port = a[`${AWS}healthcheck-port`] ?? "traffic-port";
  if (port !== "traffic-port" && Number(port) !== serving) {
    out.push(Number(port) === admin
      ? `${id(svc)}: ${AWS}healthcheck-port ${port} is the admin port, which never reads the PROXY header the balancer sends on its health checks too: every target would be unhealthy; use traffic-port`
      : `${id(svc)}: ${AWS}healthcheck-port ${port} is not h2gate's main port ${serving}: use traffic-port`);
  }
  const protocol = String(a[`${AWS}healthcheck-protocol`] ?? "tcp").toLowerCase();
  if (protocol !== "http" && protocol !== "https") {
    out.push(`${id(svc)}: ${AWS}healthcheck-protocol ${protocol}: a TCP check passes while h2gate drains and while it refuses connections over its memory limit; use http with ${AWS}healthcheck-path /readyz`);
  } else if (protocol === "http" && tlsRequired) {
    out.push(`${id(svc)}: ${AWS}healthcheck-protocol http, and H2GATE_TLS_REQUIRED=true answers plaintext with 426: every target would be unhealthy; use https`);
  } else if ((a[`${AWS}healthcheck-path`] ?? "/") !== "/readyz") {
    out.push(`${id(svc)}: ${AWS}healthcheck-path ${a[`${AWS}healthcheck-path`] ?? "/"} is not /readyz, the one path that turns 503 when h2gate drains`);
  }
}

// A ServiceMonitor's endpoint must reach a port that serves /metrics to a plaintext scrape
// without a PROXY header: the admin port, or the main port when it takes direct connections and
// H2GATE_METRICS is not false.
export function checkScrapeTarget(sm, services, objects, out) {
  const workloads = objects.filter((o) => o.spec?.template?.spec && ns(o) === ns(sm));
  for (const ep of sm.spec?.endpoints || []) {
    for (const svc of services) {
      const port = (svc.spec?.ports || []).find((p) => p.name === ep.port);
      if (!port) continue;
      for (const w of workloads.filter((o) => mapSelectorMatches(svc.spec?.selector, o.spec.template.metadata?.labels || {}))) {
        const configMaps = configMapsOf(objects, w);
        for (const c of w.spec.template.spec.containers || []) {
          const number = containerPortNumber(c, port.targetPort ?? port.port);
          if (number === undefined || number === adminPort(c, configMaps) || number !== servingPort(c, configMaps)) continue;
          const setting = settingOf(c, configMaps);
          const refuses = mainPortRefusesDirect(setting);
          const off = FALSE.has(setting("--metrics", "H2GATE_METRICS") ?? "true");
          if (refuses || off) {
            out.push(`${id(sm)}: endpoint port "${ep.port}" reaches the main port ${number} of ${id(w)}, which ${refuses ? `refuses the scrape under ${refuses}` : "does not serve /metrics (H2GATE_METRICS=false)"}: scrape a Service port that targets the admin port`);
          }
        }
      }
    }
  }
}
