# h2gate container image: gRPC over h2c and HTTP/1.1 on one port (8080).
#   podman build -t h2gate .          (or: docker build -t h2gate .)
#   podman run --rm -p 8080:8080 h2gate
# Graceful stop: SIGTERM -> readiness off for H2GATE_SHUTDOWN_DELAY -> drain up to
# H2GATE_DRAIN_TIMEOUT (default 20s) -> exit 0. Give the runtime a stop timeout longer than both
# (`podman stop --time 30`, `docker stop -t 30`); Docker's default of 10s is too short.
# deploy/container/build-and-smoke.sh builds this file and smoke-tests the image.

# ---- build -------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# The project's own list of build dependencies; copied alone so this layer stays cached while
# only sources change.
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh build && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DH2GATE_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && strip -o /h2gate build/server/h2gate

# ---- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Shared libraries only (ldd of the binary; libgrpc++1.51 carries libgrpc++_reflection). Their
# dependencies (abseil, re2, c-ares, OpenSSL, zlib) come along.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libspdlog1.10 libfmt9 libnghttp2-14 libssl3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 h2gate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin h2gate
COPY --from=build /h2gate /usr/local/bin/h2gate
# Fail the build, not the first start, if a shared library is missing.
RUN ! ldd /usr/local/bin/h2gate | grep 'not found' && /usr/local/bin/h2gate --help >/dev/null

ENV H2GATE_LISTEN=0.0.0.0:8080
# Numeric user, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/h2gate"]
