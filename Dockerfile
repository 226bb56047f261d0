# svcdns container image.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t svcdns .
#   docker run --rm -p 127.0.0.1:1053:1053/udp -p 127.0.0.1:1053:1053/tcp svcdns
#   dig @127.0.0.1 -p 1053 SRV _rets._tcp.ports.local
#
# The server runs as an unprivileged user (uid 10053) and so listens on
# 1053, not 53: publish it on 53 with -p 53:1053/udp -p 53:1053/tcp. Its
# configuration is /etc/svcdns/svcdns.yaml (below); mount your own over it,
# or pass flags after the image name (docker run svcdns --registry /data/x.xml).
# Only the classic builder's features are used, so docker-compose 1.x and
# podman build it as they are.

# ---- build -----------------------------------------------------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: a change to the sources does not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
# Static (CGO_ENABLED=0): the runtime image needs no libc of a given version.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/svcdns ./cmd/svcdns \
    && /out/svcdns version

# ---- run -------------------------------------------------------------------
FROM debian:bookworm-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="svcdns" \
      org.opencontainers.image.description="Authoritative DNS for the IANA service name and port number registry" \
      org.opencontainers.image.version="${VERSION}"

# A fixed numeric uid, so that `runAsNonRoot` checks can verify it.
# /var/cache/svcdns is where `svcdns registry update` writes and serve looks
# first (XDG_CACHE_HOME below); make it a volume to keep an update.
# /var/lib/svcdns is the state directory (STATE_DIRECTORY below: the IXFR
# journal); make it a volume so that a new container still answers IXFR.
RUN groupadd --system --gid 10053 svcdns \
    && useradd --system --uid 10053 --gid svcdns --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin svcdns \
    && mkdir -p /etc/svcdns /var/cache/svcdns /var/lib/svcdns \
    && chown svcdns:svcdns /var/cache/svcdns /var/lib/svcdns \
    && chmod 0700 /var/lib/svcdns \
    && printf '%s\n' \
        '# svcdns in a container: every address, an unprivileged port (publish' \
        '# it as 53 with -p 53:1053/udp -p 53:1053/tcp). The keys and defaults' \
        '# are in config/example.yaml of the source.' \
        'listen: [":1053"]' \
        '# Metrics, /healthz and /readyz on every address of the container so' \
        '# that Prometheus can scrape it; publish 9153 only where it should be.' \
        'metrics_listen: ":9153"' \
        > /etc/svcdns/svcdns.yaml

COPY --from=build /out/svcdns /usr/local/bin/svcdns
ENV SVCDNS_CONFIG=/etc/svcdns/svcdns.yaml \
    XDG_CACHE_HOME=/var/cache \
    STATE_DIRECTORY=/var/lib/svcdns

USER 10053:10053
EXPOSE 1053/udp 1053/tcp 9153/tcp

# /readyz answers 200 once the zone is loaded and the listeners are bound.
# bash's /dev/tcp does the HTTP request: the image carries no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9153 && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/svcdns", "serve"]
