#!/usr/bin/env bash
# Builds h2gate's container image with podman (no daemon) and smoke-tests it on the local host.
#   deploy/container/build-and-smoke.sh
# 1. installs podman, runc, debootstrap, fuse-overlayfs, uidmap, curl, openssl, python3-grpcio if
#    missing
# 2. makes docker.io/library/debian:bookworm-slim locally (debootstrap minbase + the slim image's
#    dpkg excludes) when podman does not have it: no registry but Debian's is reachable here
# 3. podman build --pull=never --network host; prints the image size
# 4. runs the image as Kubernetes would (uid 10001, read-only root, no capabilities), on
#    127.0.0.1:<free port>, and checks: gRPC Echo, gRPC health SERVING, GET /healthz 200,
#    GET /readyz 200, GET /metrics, HTTP/1.1 POST to a gRPC path -> 426
# 5. SIGTERM (podman kill): readiness turns off while serving goes on, an in-flight stream
#    finishes, the container exits 0 promptly; then `podman stop` on a second run, same checks
# 6. TLS, as the Kubernetes overlay (deploy/k8s/overlays/tls) delivers it: openssl makes a
#    throwaway CA and a server certificate for localhost and 127.0.0.1 (SANs) in a temp dir
#    (removed on exit; the CA key is never mounted), laid out as the kubelet lays out a
#    kubernetes.io/tls Secret volume (tls.crt and tls.key as links through ..data, mode 0644 in
#    0755 dirs: readable by uid 10001 without fsGroup), mounted read-only at /etc/h2gate/tls,
#    H2GATE_TLS_CERT/H2GATE_TLS_KEY pointing there, /tmp a small tmpfs. Checks, on the one port:
#    gRPC over TLS trusting only that CA (Echo, health SERVING), HTTPS GET /healthz and /readyz
#    200, HTTPS HTTP/1.1 POST to a gRPC path -> 426 with Upgrade: HTTP/2.0, plaintext HTTP and h2c
#    gRPC still answered, `openssl s_client -alpn h2` negotiates h2, HTTPS GET /metrics has
#    h2gate_tls_certificate_expiry_timestamp_seconds = the certificate's notAfter; then SIGTERM
#    with a TLS stream in flight: readiness off, the stream finishes, exit 0 within the bound
# Every wait is bounded. Exits non-zero with a message on the first failure.
# Environment: H2GATE_PODMAN_DIR (podman storage, default /var/tmp/h2gate-podman),
#              H2GATE_IMAGE (tag to build, default localhost/h2gate:smoke),
#              H2GATE_CONTEXT=head (build the last commit, not the work tree),
#              SKIP_BUILD=1 (smoke-test an image already built).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${H2GATE_PODMAN_DIR:-/var/tmp/h2gate-podman}
image=${H2GATE_IMAGE:-localhost/h2gate:smoke}
base=docker.io/library/debian:bookworm-slim
py=/usr/bin/python3 # Debian's, which has python3-grpcio
shutdown_delay_s=3  # the smoke run's H2GATE_SHUTDOWN_DELAY
drain_timeout_s=5   # the smoke run's H2GATE_DRAIN_TIMEOUT
hold_ms=4000        # an in-flight stream outlives the shutdown delay, ends within the drain
containers=()
tls_dir= # the TLS run's certificates (a temp dir under $work), removed on exit

step() { printf '\n== %s\n' "$*"; }
die() {
  printf 'build-and-smoke: FAIL: %s\n' "$*" >&2
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
  local c
  for c in "${containers[@]}"; do
    timeout 30 podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
  done
  if [[ -n $tls_dir ]]; then rm -rf "$tls_dir"; fi
}
trap cleanup EXIT

# ---- tools --------------------------------------------------------------------------------------
step "tools"
need=()
for pair in podman:podman runc:runc debootstrap:debootstrap fuse-overlayfs:fuse-overlayfs \
  newuidmap:uidmap curl:curl openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
"$py" -c 'import grpc' 2>/dev/null || need+=(python3-grpcio)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
fi
podman --version

mkdir -p "$work"
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
export CONTAINERS_CONF=$here/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf

# ---- base image ---------------------------------------------------------------------------------
step "base image $base"
if timeout 60 podman image exists "$base"; then
  echo "present"
else
  # The mirror this machine's apt already uses.
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '^(deb |URIs:)' | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
  [[ -n $mirror ]] || die "no Debian mirror found in /etc/apt"
  echo "debootstrap --variant=minbase bookworm from $mirror"
  rootfs=$work/rootfs
  rm -rf "$rootfs"
  timeout 1200 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap (log: $work/debootstrap.log)"; }
  # What makes Debian's official image "slim": no docs, man pages or locales (dropped now and
  # on later installs), and apt keeps no package caches in image layers.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  # Same apt sources as the official image: bookworm, bookworm-updates and security.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror%/}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian*}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | timeout 600 podman import -q \
    --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$base" >/dev/null || die "podman import"
  rm -rf "$rootfs"
  echo "imported"
fi

# ---- build --------------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  context=$root
  if [[ ${H2GATE_CONTEXT:-tree} == head ]]; then
    # The last commit only (plus this work tree's Dockerfile), not whatever is being edited.
    context=$work/context
    rm -rf "$context" && mkdir -p "$context"
    git -C "$root" archive HEAD | tar -x -C "$context" || die "git archive HEAD"
    cp "$root/Dockerfile" "$root/.dockerignore" "$context/"
  fi
  step "podman build $image (context: $context)"
  t0=$(now)
  timeout 3600 podman build --pull=never --network host -f "$context/Dockerfile" -t "$image" "$context" \
    >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "podman build (log: $work/build.log)"; }
  echo "built in $(elapsed "$t0")s (log: $work/build.log)"
fi
timeout 60 podman image exists "$image" || die "no image $image"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image $image: $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
cfg=$(podman image inspect --format 'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} stopsignal={{.Config.StopSignal}} ports={{.Config.ExposedPorts}}' "$image")
echo "$cfg"
[[ $cfg == *"user=10001:10001"* ]] || die "image does not run as uid 10001: $cfg"
[[ $cfg == *"entrypoint=[/usr/local/bin/h2gate]"* ]] || die "unexpected entrypoint: $cfg"
[[ $cfg == *"stopsignal=SIGTERM"* || $cfg == *"stopsignal=15"* ]] || die "stop signal is not SIGTERM: $cfg"
[[ $cfg == *8080* ]] || die "port 8080 not exposed: $cfg"

# ---- run ----------------------------------------------------------------------------------------
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME [PODMAN_RUN_ARG...]: runs the image as the Deployment's securityContext does; sets
# $port. The extra arguments (mounts, -e settings) go to `podman run` before the image. A port
# taken between picking and binding makes the container exit; then retry with another (bounded).
start() {
  local name=$1 attempt
  shift
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    timeout 30 podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    containers+=("$name")
    timeout 60 podman run -d --name "$name" --network host \
      --user 10001:10001 --read-only --cap-drop ALL --security-opt no-new-privileges \
      -e H2GATE_LISTEN="127.0.0.1:$port" -e H2GATE_SHUTDOWN_DELAY="${shutdown_delay_s}s" \
      -e H2GATE_DRAIN_TIMEOUT="${drain_timeout_s}s" -e H2GATE_LOG_LEVEL=debug \
      "$@" "$image" >/dev/null || die "podman run"
    for _ in $(seq 1 50); do # up to ~10s for the first answer
      if curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
        echo "$name listening on 127.0.0.1:$port (attempt $attempt)"
        return 0
      fi
      [[ $(podman inspect --format '{{.State.Running}}' "$name") == true ]] || break
      sleep 0.2
    done
    echo "$name did not come up on port $port; its log:"
    timeout 30 podman logs "$name" 2>&1 | tail -20
  done
  die "container did not start after 5 attempts"
}

http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@" || true; }

# wait_exit NAME LIMIT_S: waits for the container to exit; prints its exit code.
wait_exit() {
  local code
  code=$(timeout "$2" podman wait "$1") || die "$1 still running ${2}s after SIGTERM"
  echo "$code"
}

step "smoke test"
start h2gate-smoke
target=127.0.0.1:$port
"$py" "$here/smoke_client.py" "$target" echo || die "gRPC Echo"
"$py" "$here/smoke_client.py" "$target" health SERVING || die "gRPC health before SIGTERM"
[[ $(http_code "http://$target/healthz") == 200 ]] || die "GET /healthz is not 200"
echo "GET /healthz: 200"
[[ $(http_code "http://$target/readyz") == 200 ]] || die "GET /readyz is not 200"
echo "GET /readyz: 200"
code=$(http_code --http1.1 -X POST -H 'Content-Type: application/json' -d '{}' "http://$target/echo.v1.Echo/Echo")
[[ $code == 426 ]] || die "HTTP/1.1 POST /echo.v1.Echo/Echo answered $code, not 426"
echo "HTTP/1.1 POST /echo.v1.Echo/Echo: 426"
curl -fsS -m 5 -o "$work/metrics.txt" "http://$target/metrics" || die "GET /metrics failed"
grep -q '^# TYPE ' "$work/metrics.txt" || die "GET /metrics is not Prometheus text"
# No control bytes: a NUL or the like means a label was built from freed or unset memory.
if LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f]' "$work/metrics.txt"; then
  LC_ALL=C grep -naP '[\x00-\x08\x0b-\x1f\x7f]' "$work/metrics.txt" | head -3 | cat -v >&2
  die "GET /metrics holds non-printable bytes (lines above; whole body: $work/metrics.txt)"
fi
bad=$(grep -oE 'grpc_service="[^"]*"' "$work/metrics.txt" | sort -u | grep -vE '^grpc_service="([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*"$' || true)
[[ -z $bad ]] || die "GET /metrics has grpc_service labels that are no service names: $bad"
grep -qE '^h2gate_http1_rejections_total\{[^}]*grpc_service="echo\.v1\.Echo",grpc_method="Echo"[^}]*\} [1-9]' "$work/metrics.txt" ||
  die "GET /metrics does not count the 426 above (h2gate_http1_rejections_total for echo.v1.Echo/Echo)"
echo "GET /metrics: $(grep -c '^# TYPE ' "$work/metrics.txt") metric families, the 426 counted"

step "SIGTERM with an RPC in flight (shutdown delay ${shutdown_delay_s}s, drain timeout ${drain_timeout_s}s)"
marker=$(mktemp -u "$work/hold.XXXXXX")
timeout 30 "$py" "$here/smoke_client.py" "$target" hold "$hold_ms" "$marker" >"$work/hold.out" 2>&1 &
hold_pid=$!
for _ in $(seq 1 50); do [[ -e $marker ]] && break; sleep 0.1; done
[[ -e $marker ]] || die "the held stream did not start: $(cat "$work/hold.out")"
t0=$(now)
timeout 30 podman kill --signal TERM h2gate-smoke >/dev/null || die "podman kill --signal TERM"
# Inside the shutdown delay: not ready, still serving.
[[ $(http_code "http://$target/readyz") == 503 ]] || die "GET /readyz is not 503 after SIGTERM"
echo "GET /readyz after SIGTERM: 503 (at +$(elapsed "$t0")s)"
"$py" "$here/smoke_client.py" "$target" health NOT_SERVING || die "gRPC health after SIGTERM"
[[ $(http_code "http://$target/healthz") == 200 ]] || die "GET /healthz stopped answering during the shutdown delay"
"$py" "$here/smoke_client.py" "$target" echo || die "gRPC Echo during the shutdown delay"
limit=$((shutdown_delay_s + drain_timeout_s + 5))
code=$(wait_exit h2gate-smoke "$limit")
took=$(elapsed "$t0")
wait "$hold_pid" || die "the in-flight stream did not survive the drain: $(cat "$work/hold.out")"
cat "$work/hold.out"
[[ $code == 0 ]] || { podman logs h2gate-smoke 2>&1 | tail -20; die "exit code $code after SIGTERM, not 0"; }
echo "exited 0, ${took}s after SIGTERM (limit ${limit}s)"
echo "--- container log (last lines):"
timeout 30 podman logs h2gate-smoke 2>&1 | tail -8

step "podman stop --time 30"
start h2gate-smoke-stop
"$py" "$here/smoke_client.py" "127.0.0.1:$port" health SERVING || die "gRPC health"
t0=$(now)
timeout 45 podman stop --time 30 h2gate-smoke-stop >/dev/null || die "podman stop"
took=$(elapsed "$t0")
code=$(podman inspect --format '{{.State.ExitCode}}' h2gate-smoke-stop)
[[ $code == 0 ]] || die "exit code $code after podman stop, not 0"
awk -v t="$took" -v l="$((shutdown_delay_s + 3))" 'BEGIN { exit !(t < l) }' ||
  die "podman stop took ${took}s; an idle h2gate should exit within ${shutdown_delay_s}s + 3s"
echo "exited 0, ${took}s after podman stop (idle: the shutdown delay, then an empty drain)"

# ---- TLS ----------------------------------------------------------------------------------------
step "TLS: a throwaway CA and a server certificate for localhost and 127.0.0.1"
tls_dir=$(mktemp -d "$work/tls.XXXXXX")
ca=$tls_dir/ca/ca.crt
mkdir -m 0700 "$tls_dir/ca" # the CA's key stays out of the container
cat >"$tls_dir/ca/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = h2gate smoke-test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
cat >"$tls_dir/ca/server.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
# The kubelet's layout of a Secret volume: the files in a timestamped directory, `..data` a link
# to it, and each key a link through `..data` (what it swaps when the Secret changes). Mode 0644,
# the Secret volume's default: without fsGroup the files are root's and uid 10001 reads them so.
secret=$tls_dir/secret
data="..$(date -u +%Y_%m_%d_%H_%M_%S.%N)"
mkdir -p "$secret/$data"
{
  timeout 60 openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -config "$tls_dir/ca/ca.cnf" -extensions v3_ca -days 2 \
    -keyout "$tls_dir/ca/ca.key" -out "$ca" &&
    timeout 60 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj /CN=localhost -keyout "$secret/$data/tls.key" -out "$tls_dir/ca/server.csr" &&
    timeout 60 openssl x509 -req -in "$tls_dir/ca/server.csr" -CA "$ca" -CAkey "$tls_dir/ca/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 1 -extfile "$tls_dir/ca/server.ext" \
      -out "$secret/$data/tls.crt"
} >"$tls_dir/openssl.log" 2>&1 || { cat "$tls_dir/openssl.log" >&2; die "openssl could not make the certificates"; }
ln -s "$data" "$secret/..data"
ln -s ..data/tls.crt "$secret/tls.crt"
ln -s ..data/tls.key "$secret/tls.key"
chmod 0755 "$tls_dir" "$secret" "$secret/$data"
chmod 0644 "$secret/$data/tls.crt" "$secret/$data/tls.key"
openssl verify -CAfile "$ca" "$secret/tls.crt" || die "the server certificate does not verify against the CA"
openssl x509 -in "$secret/tls.crt" -noout -subject -issuer -enddate -ext subjectAltName
not_after=$(date -u -d "$(openssl x509 -in "$secret/tls.crt" -noout -enddate | cut -d= -f2)" +%s)
find "$secret" -mindepth 1 \( -type l -printf '  %M %u %P -> %l\n' \) -o -printf '  %M %u %P\n'

step "TLS run: the Secret's directory read-only at /etc/h2gate/tls"
# /tmp as the overlay's 1Mi in-memory emptyDir: h2gate writes gRPC's copies of the pair there.
start h2gate-smoke-tls -v "$secret:/etc/h2gate/tls:ro" --tmpfs /tmp:rw,size=1m,mode=1777 \
  -e H2GATE_TLS_CERT=/etc/h2gate/tls/tls.crt -e H2GATE_TLS_KEY=/etc/h2gate/tls/tls.key
target=127.0.0.1:$port
https=https://localhost:$port

# tls_grpc HOST:PORT MODE [ARG...]: smoke_client.py's checks over TLS, trusting only the test CA.
tls_grpc() {
  SMOKE_DIR=$here SMOKE_CA=$ca PYTHONDONTWRITEBYTECODE=1 timeout 30 "$py" -c '
import os, sys
import grpc
sys.path.insert(0, os.environ["SMOKE_DIR"])
import smoke_client

creds = grpc.ssl_channel_credentials(root_certificates=open(os.environ["SMOKE_CA"], "rb").read())

def channel(target):
    ch = grpc.secure_channel(target, creds)
    grpc.channel_ready_future(ch).result(timeout=smoke_client.DEADLINE_S)
    return ch

smoke_client.channel = channel
smoke_client.main(sys.argv)
' "$@"
}
# tls_curl ARG...: curl over HTTPS, HTTP/1.1 (ALPN http/1.1 only), trusting only the test CA;
# prints what -w asks for (000 when there was no answer; curl's error in $work/curl.err).
tls_curl() {
  curl -sS -m 5 --http1.1 --cacert "$ca" --resolve "localhost:$port:127.0.0.1" "$@" 2>"$work/curl.err" || true
}

# 1. gRPC over TLS: by name (SAN DNS:localhost) and by address (SAN IP:127.0.0.1, no SNI).
tls_grpc "localhost:$port" echo || die "gRPC Echo over TLS (localhost:$port)"
tls_grpc "$target" health SERVING || die "gRPC health over TLS ($target)"
# 2. HTTPS, answered by h2gate as HTTP/1.1.
code=$(tls_curl -o /dev/null -w '%{http_code}' "$https/healthz")
[[ $code == 200 ]] || die "GET $https/healthz answered $code, not 200: $(cat "$work/curl.err")"
echo "GET $https/healthz (HTTP/1.1 over TLS): 200"
code=$(tls_curl -o /dev/null -w '%{http_code}' "$https/readyz")
[[ $code == 200 ]] || die "GET $https/readyz answered $code, not 200: $(cat "$work/curl.err")"
echo "GET $https/readyz (HTTP/1.1 over TLS): 200"
# 3. A gRPC path over HTTPS: 426, and HTTP/2 over TLS is reached with ALPN, not h2c.
code=$(tls_curl -D "$work/tls-426.headers" -o "$work/tls-426.body" -w '%{http_code}' -X POST \
  -H 'content-type: application/json' -d '{}' "$https/echo.v1.Echo/Echo")
[[ $code == 426 ]] || die "HTTPS POST /echo.v1.Echo/Echo answered $code, not 426: $(cat "$work/curl.err")"
upgrade=$(grep -i '^upgrade:' "$work/tls-426.headers" | tr -d '\r' || true)
echo "HTTP/1.1 POST $https/echo.v1.Echo/Echo: 426, ${upgrade:-no Upgrade header}"
[[ ${upgrade,,} == 'upgrade: http/2.0' ]] || die "the 426 over TLS has '${upgrade:-no Upgrade header}', not 'Upgrade: HTTP/2.0'"
echo "  body: $(head -c 400 "$work/tls-426.body")"
# 4. Plaintext on the same port of the same container.
[[ $(http_code "http://$target/healthz") == 200 ]] || die "plaintext GET /healthz on the TLS container is not 200"
echo "GET http://$target/healthz (plaintext, same port): 200"
code=$(curl -s -m 5 -D "$work/h2c-426.headers" -o /dev/null -w '%{http_code}' --http1.1 -X POST \
  -H 'content-type: application/json' -d '{}' "http://$target/echo.v1.Echo/Echo" || true)
upgrade=$(grep -i '^upgrade:' "$work/h2c-426.headers" | tr -d '\r' || true)
[[ $code == 426 && ${upgrade,,} == 'upgrade: h2c' ]] ||
  die "plaintext POST /echo.v1.Echo/Echo on the TLS container: $code, '${upgrade:-no Upgrade header}' (want 426, Upgrade: h2c)"
echo "HTTP/1.1 POST http://$target/echo.v1.Echo/Echo (plaintext): 426, $upgrade"
"$py" "$here/smoke_client.py" "$target" health SERVING || die "gRPC health over h2c on the TLS container"
# 5. ALPN h2 alone, as gRPC clients offer it.
timeout 15 openssl s_client -connect "$target" -servername localhost -alpn h2 -CAfile "$ca" \
  -verify_hostname localhost -verify_return_error </dev/null >"$work/s_client.out" 2>&1 ||
  { tail -20 "$work/s_client.out" >&2; die "openssl s_client -alpn h2 to $target failed"; }
grep -qx 'ALPN protocol: h2' "$work/s_client.out" ||
  { grep -iE 'alpn|protocol|verif' "$work/s_client.out" >&2; die "openssl s_client -alpn h2: no 'ALPN protocol: h2'"; }
grep -q 'Verify return code: 0 (ok)' "$work/s_client.out" || die "openssl s_client: the certificate did not verify"
echo "openssl s_client -alpn h2: $(grep -m1 -E '^(New|Protocol)' "$work/s_client.out" | sed 's/^ *//'), $(grep -x 'ALPN protocol: h2' "$work/s_client.out"), $(grep -m1 'Verify return code' "$work/s_client.out" | sed 's/^ *//')"
# 6. /metrics over HTTPS: the certificate's expiry, and the TLS connections above.
code=$(tls_curl -o "$work/tls-metrics.txt" -w '%{http_code}' "$https/metrics")
[[ $code == 200 ]] || die "GET $https/metrics answered $code, not 200: $(cat "$work/curl.err")"
expiry=$(awk '$1 == "h2gate_tls_certificate_expiry_timestamp_seconds" { print $2 }' "$work/tls-metrics.txt")
[[ -n $expiry ]] || die "GET $https/metrics has no h2gate_tls_certificate_expiry_timestamp_seconds"
awk -v a="$expiry" -v b="$not_after" 'BEGIN { exit !(a + 0 == b + 0) }' ||
  die "h2gate_tls_certificate_expiry_timestamp_seconds is $expiry, the certificate's notAfter is $not_after"
echo "GET $https/metrics: h2gate_tls_certificate_expiry_timestamp_seconds $expiry (the certificate's notAfter, $(date -u -d "@$not_after" '+%F %T UTC'))"
grep -E '^h2gate_tls_(connections|handshakes)_total\{' "$work/tls-metrics.txt" | grep -v ' 0$' | sed 's/^/  /' || true
grep -qE '^h2gate_tls_handshakes_total\{result="ok"\} [1-9]' "$work/tls-metrics.txt" ||
  die "GET $https/metrics counts no handshake h2gate ran itself (h2gate_tls_handshakes_total{result=\"ok\"})"

# 7. SIGTERM with a gRPC stream over TLS in flight.
step "TLS run: SIGTERM with an RPC over TLS in flight"
marker=$(mktemp -u "$work/hold.XXXXXX")
tls_grpc "localhost:$port" hold "$hold_ms" "$marker" >"$work/hold.out" 2>&1 &
hold_pid=$!
for _ in $(seq 1 50); do [[ -e $marker ]] && break; sleep 0.1; done
[[ -e $marker ]] || die "the held stream over TLS did not start: $(cat "$work/hold.out")"
t0=$(now)
timeout 30 podman kill --signal TERM h2gate-smoke-tls >/dev/null || die "podman kill --signal TERM"
code=$(tls_curl -o /dev/null -w '%{http_code}' "$https/readyz")
[[ $code == 503 ]] || die "GET $https/readyz answered $code after SIGTERM, not 503: $(cat "$work/curl.err")"
echo "GET $https/readyz after SIGTERM: 503 (at +$(elapsed "$t0")s)"
tls_grpc "localhost:$port" health NOT_SERVING || die "gRPC health over TLS after SIGTERM"
limit=$((shutdown_delay_s + drain_timeout_s + 5))
code=$(wait_exit h2gate-smoke-tls "$limit")
took=$(elapsed "$t0")
wait "$hold_pid" || die "the in-flight stream over TLS did not survive the drain: $(cat "$work/hold.out")"
cat "$work/hold.out"
[[ $code == 0 ]] || { podman logs h2gate-smoke-tls 2>&1 | tail -20; die "exit code $code after SIGTERM, not 0"; }
echo "exited 0, ${took}s after SIGTERM (limit ${limit}s)"
echo "--- container log (TLS lines and the last ones):"
timeout 30 podman logs h2gate-smoke-tls 2>&1 | grep -m6 -iE 'tls|listening' || true
timeout 30 podman logs h2gate-smoke-tls 2>&1 | tail -4

step "PASS: image $image ($(numfmt --to=iec-i --suffix=B "$size")) builds, serves (h2c, HTTP/1.1, TLS) and stops cleanly"
