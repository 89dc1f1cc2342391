# Dijk container image.
#
#   docker build --build-arg VERSION=1.2.3 -t dijk:1.2.3 .
#
# Needs BuildKit (the default builder since Docker 23): the build stage runs on
# the build host's platform and cross-compiles for the target platform, and
# BuildKit's COPY --from keeps the file capability (security.capability xattr)
# set on the binary below.
#
# Base image choice: gcr.io/distroless/static-debian12:nonroot rather than
# scratch. It is a static, shell-less image just like scratch, but it already
# carries CA certificates, tzdata and /etc/passwd + /etc/group entries for the
# "nonroot" user (uid/gid 65532), and it is rebuilt upstream when Debian ships
# fixes for those files. With scratch we would have to copy and keep all of that
# current ourselves. For reproducible builds pin both FROM images by digest
# (image@sha256:...) in your release pipeline.
#
# Port 53 as a non-root user
# --------------------------
# The process runs as uid 65532 and must bind port 53, which is below 1024.
# The binary is given a file capability in the build stage:
#
#   setcap cap_net_bind_service=+ep /usr/local/bin/dijk
#
# (the same approach as the upstream CoreDNS image). A file capability only
# works if CAP_NET_BIND_SERVICE is in the container's bounding set. Docker's
# default set includes it; when you drop capabilities, add it back:
#
#   docker run --cap-drop ALL --cap-add NET_BIND_SERVICE ...
#   Kubernetes: securityContext.capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
#
# If the capability is missing from the bounding set the kernel refuses to run
# the binary at all ("exec /usr/local/bin/dijk: operation not permitted"), for
# every subcommand, so that error means "add NET_BIND_SERVICE".
# --cap-add on its own is not enough for a non-root user: Docker and Kubernetes
# put the capability in the bounding set but not in the ambient set, so
# execve() would drop it without the file capability.
# no_new_privs (docker --security-opt no-new-privileges, Kubernetes
# allowPrivilegeEscalation: false) also defeats the file capability when the
# runtime starts the process with an empty permitted set: then bind fails with
# "permission denied". The sysctl net.ipv4.ip_unprivileged_port_start=53 in the
# container's network namespace needs no capability at all; Docker 20.10+ on a
# bridge network and containerd 2.x set it to 0 by default, and the Kubernetes
# and compose files in config/ set it explicitly. The file capability covers
# the remaining cases (host networking, older runtimes).

ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build

# setcap comes from libcap2-bin.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Module download in its own layer: it is only rebuilt when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dijk ./cmd/dijk \
 && setcap cap_net_bind_service=+ep /out/dijk \
 && getcap /out/dijk \
 && install -d -o 65532 -g 65532 -m 0750 /out/state

FROM ${BASE_IMAGE}

ARG VERSION=dev
LABEL org.opencontainers.image.title="dijk" \
      org.opencontainers.image.description="Dijk DNS firewall: a forwarding DNS resolver that sinkholes DeepSeek and related domains, logs blocks as JSON lines and exports Prometheus metrics." \
      org.opencontainers.image.source="https://github.com/dijk-dns/dijk" \
      org.opencontainers.image.version="${VERSION}"

# Binary and configuration are owned by root and read-only for the service
# user; only the state directory belongs to uid 65532.
COPY --from=build /out/dijk /usr/local/bin/dijk
COPY config/container/dijk.yaml /etc/dijk/dijk.yaml
COPY --from=build --chown=65532:65532 /out/state /var/lib/dijk

# Downloaded lists and other state. A new named volume starts out owned by
# 65532 because the image's directory is.
VOLUME /var/lib/dijk
WORKDIR /var/lib/dijk

USER 65532:65532

# DNS on UDP and TCP, HTTP (/metrics, /healthz, /readyz) on 9153.
EXPOSE 53/udp 53/tcp 9153/tcp

# The image has no shell and no curl: the binary checks its own /healthz,
# using the HTTP address from the same config (and DIJK_* environment).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/dijk", "healthcheck", "--config", "/etc/dijk/dijk.yaml"]

ENTRYPOINT ["/usr/local/bin/dijk"]
CMD ["serve", "--config", "/etc/dijk/dijk.yaml"]
