// Unit tests of the TLS checks (lib/tls.mjs) on hand-made pods: node --test tls.test.mjs
// The fixtures under fixtures/bad-tls-*/ test them through kustomize; these reach the cases no
// fixture does (items, projected volumes, defined Secrets, modes, settings h2gate refuses).
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkTls, mountHolding, volumeFileReadable } from "./lib/tls.mjs";

const TLS_ENV = { H2GATE_TLS_CERT: "/etc/h2gate/tls/tls.crt", H2GATE_TLS_KEY: "/etc/h2gate/tls/tls.key" };

// The TLS overlay's pod, changed by `edit(container, pod)`.
function pod(edit = () => {}) {
  const c = {
    name: "h2gate",
    securityContext: { runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true },
    volumeMounts: [
      { name: "tls", mountPath: "/etc/h2gate/tls", readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
    ],
  };
  const p = {
    securityContext: { fsGroup: 10001 },
    containers: [c],
    volumes: [
      { name: "tls", secret: { secretName: "h2gate-tls", defaultMode: 0o440 } },
      { name: "tmp", emptyDir: { medium: "Memory" } },
    ],
  };
  edit(c, p);
  return { c, p };
}

function run({ env = {}, edit, secrets = [], configMaps = [], options } = {}) {
  const { c, p } = pod(edit);
  const all = { ...TLS_ENV, ...env };
  const setting = (_flag, name) => all[name];
  const byName = (list) => new Map(list.map((o) => [o.metadata.name, o]));
  return checkTls(c, p, setting, { secrets: byName(secrets), configMaps: byName(configMaps) }, options);
}

const one = (problems, re) => {
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], re);
};

test("the TLS overlay's pod passes, and TLS off passes unless it is expected", () => {
  assert.deepEqual(run(), []);
  assert.deepEqual(run({ env: { H2GATE_TLS_CERT: "", H2GATE_TLS_KEY: undefined } }), []);
  one(run({ env: { H2GATE_TLS_CERT: "", H2GATE_TLS_KEY: "" }, options: { tls: true } }), /serves no TLS/);
});

test("mountHolding picks the deepest mount, by path components", () => {
  const mounts = [{ mountPath: "/etc" }, { mountPath: "/etc/h2gate/tls/" }, { mountPath: "/etc/h2" }];
  assert.equal(mountHolding(mounts, "/etc/h2gate/tls/tls.crt").mountPath, "/etc/h2gate/tls/");
  assert.equal(mountHolding(mounts, "/etc/h2gatex").mountPath, "/etc");
  assert.equal(mountHolding(mounts, "/var/x"), undefined);
});

test("the file must be a key a kubernetes.io/tls Secret has, in its role", () => {
  one(run({ env: { H2GATE_TLS_CERT: "/etc/h2gate/tls/tls.cert" } }), /is key tls\.cert of Secret "h2gate-tls" \(not among the manifests, so taken to be kubernetes\.io\/tls\), which has no such key: the certificate chain is tls\.crt/);
  one(run({ env: { H2GATE_TLS_KEY: "/etc/h2gate/tls/tls.crt" } }), /H2GATE_TLS_KEY\/--tls-key \/etc\/h2gate\/tls\/tls\.crt is key tls\.crt .*the certificate chain; the private key is tls\.key/);
  one(run({ env: { H2GATE_TLS_CERT: "/etc/h2gate/tls/sub/tls.crt" } }), /no item of volume "tls" is sub\/tls\.crt/);
  one(run({ env: { H2GATE_TLS_CERT: "/etc/h2gate/tls/../tls.crt" } }), /is not a plain absolute path/);
  one(run({ env: { H2GATE_TLS_CERT: "/etc/h2gate/tls" } }), /is where volume "tls" is mounted, not a file in it/);
});

test("a Secret among the manifests must be kubernetes.io/tls and hold the key", () => {
  const secret = (type, data) => ({ kind: "Secret", metadata: { name: "h2gate-tls" }, ...(type && { type }), data });
  const both = { "tls.crt": "eA==", "tls.key": "eA==" };
  assert.deepEqual(run({ secrets: [secret("kubernetes.io/tls", both)] }), []);
  const opaque = run({ secrets: [secret(undefined, both)] });
  assert.equal(opaque.length, 2);
  assert.match(opaque[0], /Secret\/h2gate-tls is type Opaque, not kubernetes\.io\/tls/);
  one(run({ env: { H2GATE_TLS_CLIENT_CA: "/etc/h2gate/tls/ca.crt" }, secrets: [secret("kubernetes.io/tls", both)] }), /H2GATE_TLS_CLIENT_CA\/--tls-client-ca \/etc\/h2gate\/tls\/ca\.crt: Secret "h2gate-tls" has no key ca\.crt/);
});

test("items map files to keys, and projected volumes are followed", () => {
  const items = (c, p) => {
    p.volumes[0].secret.items = [{ key: "tls.crt", path: "cert.pem" }, { key: "tls.key", path: "key.pem", mode: 0o400 }];
  };
  assert.deepEqual(run({ env: { H2GATE_TLS_CERT: "/etc/h2gate/tls/cert.pem", H2GATE_TLS_KEY: "/etc/h2gate/tls/key.pem" }, edit: items }), []);
  const unmapped = run({ edit: items });
  assert.equal(unmapped.length, 2);
  assert.match(unmapped[0], /H2GATE_TLS_CERT\/--tls-cert \/etc\/h2gate\/tls\/tls\.crt: no item of volume "tls" is tls\.crt/);
  const projected = (c, p) => {
    p.volumes[0] = { name: "tls", projected: { sources: [{ secret: { name: "h2gate-tls" } }, { configMap: { name: "client-ca", items: [{ key: "bundle.pem", path: "clients.pem" }] } }] } };
  };
  const mtls = { H2GATE_TLS_CLIENT_CA: "/etc/h2gate/tls/clients.pem", H2GATE_TLS_CLIENT_AUTH: "require" };
  assert.deepEqual(run({ env: mtls, edit: projected }), []);
  one(run({ env: mtls, edit: projected, configMaps: [{ kind: "ConfigMap", metadata: { name: "client-ca" }, data: {} }] }), /ConfigMap "client-ca" has no key bundle\.pem/);
});

test("the certificate and key come from a Secret, read-only, not optional", () => {
  one(run({ edit: (c, p) => (p.volumes[0] = { name: "tls", configMap: { name: "h2gate-tls" } }) }).slice(0, 1), /volume "tls" is a configMap volume, not a Secret/);
  one(run({ edit: (c, p) => (p.volumes[0] = { name: "tls", emptyDir: {} }) }).slice(1), /H2GATE_TLS_KEY.*is a emptyDir volume, not a Secret/);
  const rw = run({ edit: (c) => delete c.volumeMounts[0].readOnly });
  assert.equal(rw.length, 2);
  assert.match(rw[0], /volume "tls" at \/etc\/h2gate\/tls is not mounted readOnly/);
  assert.match(run({ edit: (c, p) => (p.volumes[0].secret.optional = true) })[0], /is optional in volume "tls": a pod would start without the file/);
  one(run({ edit: (c, p) => (p.volumes = p.volumes.slice(1)) }).slice(0, 1), /volumeMount "tls" names no volume of the pod/);
});

test("volumeFileReadable follows the kubelet's ownership of Secret files", () => {
  const c = { securityContext: { runAsUser: 10001, runAsGroup: 10001 } };
  assert.ok(volumeFileReadable(0o644, c, {}));
  assert.ok(!volumeFileReadable(0o400, c, {}));
  assert.ok(!volumeFileReadable(0o440, c, {}));
  assert.ok(volumeFileReadable(0o400, c, { securityContext: { fsGroup: 10001 } }));
  assert.ok(volumeFileReadable(0o440, c, { securityContext: { supplementalGroups: [0] } }));
  assert.ok(volumeFileReadable(0o400, { securityContext: { runAsUser: 0 } }, {}));
});

test("TLS settings h2gate refuses at start-up", () => {
  one(run({ env: { H2GATE_TLS_KEY: undefined } }), /H2GATE_TLS_CERT\/--tls-cert needs H2GATE_TLS_KEY\/--tls-key/);
  one(run({ env: { H2GATE_TLS_CERT: undefined, H2GATE_TLS_KEY: undefined, H2GATE_TLS_CLIENT_CA: "/etc/h2gate/tls/ca.crt" } }), /--tls-client-ca needs H2GATE_TLS_CERT/);
  one(run({ env: { H2GATE_TLS_CLIENT_AUTH: "require" } }), /--tls-client-auth=require needs H2GATE_TLS_CLIENT_CA/);
  one(run({ env: { H2GATE_TLS_CLIENT_AUTH: "true" } }), /"true" is not off, request or require/);
  one(run({ env: { H2GATE_TLS_MIN_VERSION: "TLSv1.3" } }), /"TLSv1\.3" is not 1\.2 or 1\.3/);
  one(run({ env: { H2GATE_TLS_HANDSHAKE_TIMEOUT: "10" } }), /not a duration: "10"/);
});

test("TMPDIR must be writable when the root filesystem is read-only", () => {
  one(run({ env: { TMPDIR: "/run/h2gate" } }), /\/run\/h2gate \(TMPDIR\) is in no writable volume mount/);
  assert.deepEqual(run({ env: { TMPDIR: "/tmp/h2gate" } }), []);
  one(run({ edit: (c) => (c.volumeMounts[1].readOnly = true) }), /\/tmp \(TMPDIR\) is in no writable volume mount/);
  assert.deepEqual(run({ edit: (c, p) => ((c.securityContext.readOnlyRootFilesystem = false), c.volumeMounts.pop(), p.volumes.pop()) }), []);
});
