// The example cert-manager Certificate (deploy/k8s/overlays/tls/certificate.yaml), which the TLS
// overlay does not apply by default, against the overlay it is for: node --test certificate.test.mjs
// It must make the Secret the pods mount, for the names in-cluster callers dial, with a key and
// usages a TLS server needs, renewed well before it expires.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseYamlStream, render } from "./lib/render.mjs";
import { parseDuration } from "./lib/util.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const overlay = join(root, "deploy/k8s/overlays/tls");
const [cert] = parseYamlStream(readFileSync(join(overlay, "certificate.yaml"), "utf8"));
const { objects } = render(overlay);

test("it is a cert-manager v1 Certificate, not applied by default", () => {
  assert.equal(cert.apiVersion, "cert-manager.io/v1");
  assert.equal(cert.kind, "Certificate");
  assert.ok(!objects.some((o) => o.kind === "Certificate"), "the overlay applies it; the README says it does not");
  assert.match(readFileSync(join(overlay, "kustomization.yaml"), "utf8"), /^\s*# - certificate\.yaml/m);
});

test("it makes the Secret the pods mount for H2GATE_TLS_CERT", () => {
  const d = objects.find((o) => o.kind === "Deployment");
  const secrets = (d.spec.template.spec.volumes || []).filter((v) => v.secret).map((v) => v.secret.secretName);
  assert.deepEqual(secrets, [cert.spec.secretName]);
});

test("it names every in-cluster form of each Service", () => {
  for (const svc of objects.filter((o) => o.kind === "Service")) {
    const n = svc.metadata.name;
    for (const name of [n, `${n}.NAMESPACE`, `${n}.NAMESPACE.svc`, `${n}.NAMESPACE.svc.cluster.local`]) assert.ok(cert.spec.dnsNames.includes(name), `${name} missing`);
  }
});

test("a server certificate, renewed well before it expires", () => {
  assert.ok(cert.spec.usages.includes("server auth"));
  assert.ok(["ECDSA", "RSA", "Ed25519"].includes(cert.spec.privateKey.algorithm));
  assert.equal(cert.spec.issuerRef.group, "cert-manager.io");
  const life = parseDuration(cert.spec.duration);
  const before = parseDuration(cert.spec.renewBefore);
  assert.ok(before >= 7 * 86400 && before < life / 2, `renewBefore ${cert.spec.renewBefore} of ${cert.spec.duration}`);
});
