#include "test_certs.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

// Our own config, so neither the system's openssl.cnf nor OPENSSL_CONF changes what is made:
// each certificate gets exactly the extensions named here.
constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
)";

// Runs one openssl command; a test failure with its output if it does not exit 0.
bool Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  const ProcessResult r = RunProcess(args, 10s);
  if (r.exit_code == 0) return true;
  std::string command;
  for (const auto& a : args) command += a + " ";
  ADD_FAILURE() << "failed (exit " << r.exit_code << (r.timed_out ? ", timed out" : "")
                << "): " << command << "\n"
                << r.output;
  return false;
}

bool NewKey(const std::string& path) {
  return Openssl(
      {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path});
}

// A certificate for `key` with `subject`, signed by the CA, with the extensions of `section`.
bool SignedCert(const TestCerts& c, const std::string& config, const std::string& name,
                const std::string& key, const std::string& subject, const std::string& section,
                int serial) {
  const std::string csr = c.dir + "/" + name + ".csr";
  return Openssl({"req", "-new", "-config", config, "-key", key, "-subj", subject, "-out", csr}) &&
         Openssl({"x509", "-req", "-in", csr, "-CA", c.ca_cert, "-CAkey", c.dir + "/ca.key",
                  "-set_serial", std::to_string(serial), "-days", "1", "-sha256", "-extfile",
                  config, "-extensions", section, "-out", c.dir + "/" + name + ".pem"});
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TestCerts::ca_pem() const { return ReadFile(ca_cert); }

TestCerts MakeTestCerts() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/h2gate-certs-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
    return {};
  }
  TestCerts c;
  c.dir = tmpl;
  c.ca_cert = c.dir + "/ca.pem";
  c.server_cert = c.dir + "/server.pem";
  c.server_key = c.dir + "/server.key";
  c.client_cert = c.dir + "/client.pem";
  c.client_key = c.dir + "/client.key";
  const std::string config = WriteTestFile(c, "openssl.cnf", kConfig);
  const bool ok =
      !config.empty() && NewKey(c.dir + "/ca.key") &&
      Openssl({"req", "-x509", "-new", "-config", config, "-extensions", "ca", "-key",
               c.dir + "/ca.key", "-subj", "/CN=h2gate test CA", "-days", "1", "-sha256", "-out",
               c.ca_cert}) &&
      NewKey(c.server_key) &&
      SignedCert(c, config, "server", c.server_key, "/CN=localhost", "server", 2) &&
      NewKey(c.client_key) &&
      SignedCert(c, config, "client", c.client_key, "/CN=legacy-caller.test", "client", 3);
  if (!ok) {
    RemoveTestCerts(c);
    return {};
  }
  return c;
}

CertAndKey MakeServerCert(const TestCerts& certs, const std::string& name, int serial) {
  const CertAndKey out{certs.dir + "/" + name + ".pem", certs.dir + "/" + name + ".key"};
  if (NewKey(out.key) && SignedCert(certs, certs.dir + "/openssl.cnf", name, out.key,
                                    "/CN=localhost", "server", serial)) {
    return out;
  }
  return {};
}

std::string MakeMismatchedKey(const TestCerts& certs, const std::string& name) {
  const std::string path = certs.dir + "/" + name;
  return NewKey(path) ? path : "";
}

std::string WriteTestFile(const TestCerts& certs, const std::string& name,
                          const std::string& contents) {
  const std::string path = certs.dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) {
    ADD_FAILURE() << "cannot write " << path;
    return "";
  }
  return path;
}

void RemoveTestCerts(const TestCerts& certs) {
  if (certs.dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(certs.dir, ignored);
}

}  // namespace h2gate::testing
