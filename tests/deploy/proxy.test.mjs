// Unit tests of the PROXY protocol, probe, load balancer and scrape checks (lib/proxy.mjs):
// node --test proxy.test.mjs. The fixtures bad-proxy-* test them through kustomize; these reach
// the cases no fixture does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkLoadBalancer, checkProbeTargets, checkProxySettings, checkScrapeTarget, failsWhileDraining, parseStringMap, sendsProxyHeader } from "./lib/proxy.mjs";

const AWS = "service.beta.kubernetes.io/aws-load-balancer-";
const labels = { app: "h2gate" };
const PROXY_ENV = {
  H2GATE_LISTEN: "0.0.0.0:8080",
  H2GATE_ADMIN_LISTEN: "0.0.0.0:9090",
  H2GATE_PROXY_PROTOCOL: "required",
  H2GATE_PROXY_PROTOCOL_FROM: "10.0.0.0/16",
  H2GATE_METRICS: "false",
};
const probe = (path, port = "admin") => ({ httpGet: { path, port } });

// The PROXY overlay's container, its env changed by `env` (undefined deletes), then `edit`.
function container(env = {}, edit = () => {}) {
  const all = { ...PROXY_ENV, ...env };
  const c = {
    name: "h2gate",
    env: Object.entries(all).filter(([, v]) => v !== undefined).map(([name, value]) => ({ name, value })),
    ports: [{ name: "grpc", containerPort: 8080 }, { name: "admin", containerPort: 9090 }],
    startupProbe: probe("/readyz"),
    readinessProbe: probe("/readyz"),
    livenessProbe: probe("/healthz"),
  };
  edit(c);
  return c;
}
const workload = (c) => ({ kind: "Deployment", metadata: { name: "h2gate" }, spec: { template: { metadata: { labels }, spec: { containers: [c] } } } });
const pods = (c) => [{ workload: workload(c), labels, spec: workload(c).spec.template.spec }];

function settings(env, edit) {
  const c = container(env, edit);
  const out = [];
  checkProxySettings(workload(c), c, new Map(), out);
  checkProbeTargets(workload(c), c, new Map(), out);
  return out;
}

const NLB = {
  [`${AWS}type`]: "external",
  [`${AWS}nlb-target-type`]: "ip",
  [`${AWS}proxy-protocol`]: "*",
  [`${AWS}healthcheck-protocol`]: "http",
  [`${AWS}healthcheck-port`]: "traffic-port",
  [`${AWS}healthcheck-path`]: "/readyz",
};
const lb = (annotations = NLB, spec = {}) => ({
  kind: "Service",
  metadata: { name: "h2gate-nlb", annotations },
  spec: { type: "LoadBalancer", selector: labels, ports: [{ name: "tcp", port: 443, targetPort: "grpc" }], ...spec },
});
function lbProblems(svc, env) {
  const c = container(env);
  const out = [];
  checkLoadBalancer(svc, pods(c), [workload(c)], out);
  return out;
}
const one = (problems, re) => {
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], re);
};

test("parseStringMap reads the controller's k=v,k=v annotations", () => {
  assert.deepEqual([...parseStringMap("a=1, b=x=y,,c")], [["a", "1"], ["b", "x=y"]]);
  assert.equal(parseStringMap(undefined).size, 0);
});

test("sendsProxyHeader: the annotation, the target group attribute, and providers it does not know", () => {
  assert.equal(sendsProxyHeader(lb()), true);
  assert.equal(sendsProxyHeader(lb({ [`${AWS}target-group-attributes`]: "proxy_protocol_v2.enabled=true" })), true);
  assert.equal(sendsProxyHeader(lb({ [`${AWS}target-group-attributes`]: "proxy_protocol_v2.enabled=false", [`${AWS}proxy-protocol`]: "*" })), true);
  assert.equal(sendsProxyHeader(lb({ [`${AWS}target-group-attributes`]: "proxy_protocol_v2.enabled=false" })), false);
  assert.equal(sendsProxyHeader(lb({ [`${AWS}type`]: "external" })), false);
  assert.equal(sendsProxyHeader(lb({}, { loadBalancerClass: "service.k8s.aws/nlb" })), false);
  assert.equal(sendsProxyHeader(lb({})), undefined);
});

test("the PROXY overlay's container passes; settings h2gate refuses or that defeat it do not", () => {
  assert.deepEqual(settings(), []);
  assert.deepEqual(settings({ H2GATE_PROXY_PROTOCOL: "optional" }), []);
  assert.deepEqual(settings({ H2GATE_PROXY_PROTOCOL_FROM: undefined }), []); // required: any source
  one(settings({ H2GATE_PROXY_PROTOCOL: "on" }), /"on" is not off, optional or required \(h2gate would not start\)/);
  one(settings({ H2GATE_PROXY_PROTOCOL: "optional", H2GATE_PROXY_PROTOCOL_FROM: undefined }), /optional without H2GATE_PROXY_PROTOCOL_FROM: h2gate would not start/);
  one(settings({ H2GATE_PROXY_PROTOCOL: "optional", H2GATE_PROXY_PROTOCOL_FROM: "all" }), /optional with H2GATE_PROXY_PROTOCOL_FROM=all: any client/);
  one(settings({ H2GATE_PROXY_PROTOCOL_FROM: "none" }), /no source is trusted, so every main-port connection would be refused/);
  one(settings({ H2GATE_PROXY_PROTOCOL_FROM: "vpc" }), /H2GATE_PROXY_PROTOCOL_FROM\/--proxy-protocol-from: "vpc" is not an IP address/);
});

test("probes: the admin port under required or --tls-required, HTTP/1.1 there, and where h2gate listens", () => {
  one(settings({}, (c) => { c.readinessProbe = { grpc: { port: 8080 } }; }), /readinessProbe targets the main port 8080, which refuses it under H2GATE_PROXY_PROTOCOL=required.*admin port 9090/);
  const optional = { H2GATE_PROXY_PROTOCOL: "optional" };
  assert.deepEqual(settings(optional, (c) => { c.readinessProbe = { grpc: { port: 8080 } }; }), []); // the kubelet sends no header: absent
  one(settings({ H2GATE_PROXY_PROTOCOL: "off", H2GATE_TLS_REQUIRED: "true" }, (c) => { c.livenessProbe = { grpc: { port: 8080 } }; }), /livenessProbe targets the main port 8080, which refuses it under H2GATE_TLS_REQUIRED=true/);
  one(settings({}, (c) => { c.livenessProbe = { grpc: { port: 9090 } }; }), /livenessProbe is a gRPC probe on the admin port 9090, which speaks HTTP\/1.1 only: use httpGet \/healthz/);
  one(settings({}, (c) => { c.readinessProbe = probe("/metrics"); }), /httpGet path \/metrics on the admin port is a 404/);
  one(settings({}, (c) => { c.readinessProbe = { httpGet: { path: "/readyz", port: 9090, scheme: "HTTPS" } }; }), /scheme HTTPS on the admin port, which is plaintext only/);
  one(settings({}, (c) => { c.ports.push({ name: "other", containerPort: 7000 }); c.readinessProbe = { tcpSocket: { port: "other" } }; }), /targets container port 7000, where h2gate does not listen \(main 8080, admin 9090\)/);
  const noAdmin = settings({ H2GATE_ADMIN_LISTEN: undefined }, (c) => { c.ports.pop(); for (const k of ["startupProbe", "readinessProbe", "livenessProbe"]) c[k] = { grpc: { port: 8080 } }; });
  assert.equal(noAdmin.length, 4, noAdmin.join("\n"));
  assert.match(noAdmin[0], /main port refuses the kubelet.s probes under H2GATE_PROXY_PROTOCOL=required .*, and H2GATE_ADMIN_LISTEN\/--admin-listen is not set/);
  assert.match(noAdmin[1], /startupProbe targets the main port 8080.*\(set H2GATE_ADMIN_LISTEN\)/);
});

test("failsWhileDraining: gRPC health and /readyz turn failing, /healthz and TCP do not", () => {
  assert.equal(failsWhileDraining({ grpc: { port: 8080 } }), true);
  assert.equal(failsWhileDraining(probe("/readyz")), true);
  assert.equal(failsWhileDraining(probe("/healthz")), false);
  assert.equal(failsWhileDraining({ tcpSocket: { port: 9090 } }), false);
  assert.equal(failsWhileDraining(undefined), false);
});

test("the PROXY overlay's NLB passes", () => {
  assert.deepEqual(lbProblems(lb()), []);
});

test("a load balancer: the main port only, headers both ends agree on, no operator pages", () => {
  one(lbProblems(lb(NLB, { ports: [{ name: "admin", port: 9090, targetPort: "admin" }] })), /port admin exposes the admin port 9090 through the load balancer/);
  assert.deepEqual(lbProblems(lb(NLB, { ports: [{ name: "x", port: 80, targetPort: 7000 }] })), []); // no container port: checkService reports it
  one(lbProblems(lb(), { H2GATE_PROXY_PROTOCOL: "off" }), /the balancer sends PROXY headers, but Deployment\/h2gate has H2GATE_PROXY_PROTOCOL=off/);
  one(lbProblems(lb({ ...NLB, [`${AWS}proxy-protocol`]: undefined })), /H2GATE_PROXY_PROTOCOL=required, but the balancer sends no PROXY header/);
  one(lbProblems(lb({})), /no annotation known to make its balancer send PROXY headers/);
  one(lbProblems(lb(), { H2GATE_METRICS: undefined }), /serves \/metrics and \/debug\/legacy-callers .* unless H2GATE_METRICS=false/);
  assert.deepEqual(lbProblems(lb(), { H2GATE_METRICS: "no" }), []);
});

test("an AWS NLB: controller, traffic policy and health check", () => {
  one(lbProblems(lb({ ...NLB, [`${AWS}type`]: "nlb" })), /in-tree controller's, which ignores proxy protocol for NLBs/);
  one(lbProblems(lb(NLB, { externalTrafficPolicy: "Local" })), /externalTrafficPolicy Local with PROXY headers/);
  one(lbProblems(lb({ ...NLB, [`${AWS}healthcheck-port`]: "9090" })), /healthcheck-port 9090 is the admin port, which never reads the PROXY header/);
  assert.deepEqual(lbProblems(lb({ ...NLB, [`${AWS}healthcheck-port`]: "8080" })), []);
  one(lbProblems(lb({ ...NLB, [`${AWS}healthcheck-protocol`]: undefined })), /healthcheck-protocol tcp: a TCP check passes while h2gate drains/);
  one(lbProblems(lb({ ...NLB, [`${AWS}healthcheck-path`]: "/healthz" })), /healthcheck-path \/healthz is not \/readyz/);
  one(lbProblems(lb(), { H2GATE_TLS_REQUIRED: "true" }), /healthcheck-protocol http, and H2GATE_TLS_REQUIRED=true answers plaintext with 426/);
  assert.deepEqual(lbProblems(lb({ ...NLB, [`${AWS}healthcheck-protocol`]: "HTTPS" }), { H2GATE_TLS_REQUIRED: "true" }), []);
});

test("a ServiceMonitor must scrape the admin port when the main port refuses it or serves no /metrics", () => {
  const sm = { kind: "ServiceMonitor", metadata: { name: "h2gate" }, spec: { endpoints: [{ port: "grpc" }] } };
  const svc = (name, targetPort) => ({ kind: "Service", metadata: { name: "h2gate" }, spec: { selector: labels, ports: [{ name, port: 1, targetPort }] } });
  const run = (s, env) => {
    const c = container(env);
    const out = [];
    checkScrapeTarget({ ...sm, spec: { endpoints: [{ port: s.spec.ports[0].name }] } }, [s], [workload(c)], out);
    return out;
  };
  assert.deepEqual(run(svc("admin", "admin")), []);
  one(run(svc("grpc", "grpc")), /endpoint port "grpc" reaches the main port 8080 of Deployment\/h2gate, which refuses the scrape under H2GATE_PROXY_PROTOCOL=required/);
  one(run(svc("grpc", "grpc"), { H2GATE_PROXY_PROTOCOL: "off" }), /which does not serve \/metrics \(H2GATE_METRICS=false\)/);
  assert.deepEqual(run(svc("grpc", "grpc"), { H2GATE_PROXY_PROTOCOL: "off", H2GATE_METRICS: undefined }), []);
});
