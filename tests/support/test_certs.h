// Test support: a throwaway PKI made with the openssl command line, so no key is ever checked in.
#pragma once

#include <string>

namespace h2gate::testing {

// Paths of PEM files in `dir`, a fresh directory under $TMPDIR (or /tmp):
//  - ca_cert: a self-signed CA, EC P-256, valid for 1 day;
//  - server_cert/server_key: signed by the CA, subjectAltName DNS:localhost, IP:127.0.0.1,
//    extendedKeyUsage serverAuth;
//  - client_cert/client_key: signed by the CA, CN=legacy-caller.test, extendedKeyUsage
//    clientAuth.
// Keys are unencrypted PKCS#8. The caller removes `dir` (RemoveTestCerts).
struct TestCerts {
  std::string dir, ca_cert, server_cert, server_key, client_cert, client_key;
  std::string ca_pem() const;  // contents of ca_cert
};

// Makes the files. On any failure (no openssl, a command that fails within 10 s) it records a
// test failure naming the command and its output, and returns a TestCerts whose paths are empty.
TestCerts MakeTestCerts();

// A new P-256 key in certs.dir (file `name`) that matches none of the certificates: for start-up
// tests with a key that does not belong to the cert. Empty, with a test failure, if it fails.
std::string MakeMismatchedKey(const TestCerts& certs, const std::string& name = "other.key");

// Another server certificate and key like server_cert's (same names, its own key and `serial`),
// as certs.dir/NAME.pem and NAME.key: what a rotation installs. Empty paths, with a test failure,
// if it fails.
struct CertAndKey {
  std::string cert, key;
};
CertAndKey MakeServerCert(const TestCerts& certs, const std::string& name, int serial);

// Writes `contents` to certs.dir/name and returns the path (bad-file tests).
std::string WriteTestFile(const TestCerts& certs, const std::string& name,
                          const std::string& contents);

// Deletes certs.dir and everything in it; does nothing if it is empty.
void RemoveTestCerts(const TestCerts& certs);

// The whole file at `path`, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace h2gate::testing
