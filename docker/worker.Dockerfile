# meme-worker: the KEDA-scaled JetStream consumer.
#   make images                      (or, from the top of the tree:)
#   docker build -f docker/worker.Dockerfile --build-arg VERSION=0.1.0 -t meme-worker:dev .
# Two stages: Debian with the -dev packages builds it; Debian slim with only
# the shared libraries it links, the meme fonts and CA certificates runs it,
# as an unprivileged user. No HEALTHCHECK: Kubernetes probes /healthz and
# /readyz on the metrics port (METRICS_ADDR).
ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config \
        libnats-dev libjansson-dev libsixel-dev libfreetype-dev libharfbuzz-dev \
        libfribidi-dev libpng-dev libjpeg-dev \
        libdeflate-dev libssl-dev libhiredis-dev libcurl4-openssl-dev libyaml-dev \
        libmicrohttpd-dev libncurses-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG VERSION=0.1.0
RUN make OUT=/out VERSION="$VERSION" /out/meme-worker \
    && strip /out/meme-worker \
    && ldd /out/meme-worker | awk '$3 ~ /^\// { print $3 }' \
        | while read -r lib; do \
            dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
                || dpkg -S "$(readlink -f "$lib")"; \
        done | cut -d: -f1 | sort -u >/out/runtime-packages \
    && test -s /out/runtime-packages

FROM debian:${DEBIAN_RELEASE}-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
# The packages that own the libraries the binary links (found with ldd in
# the build stage), the caption fonts (Bebas Neue, DejaVu as fallback) and
# CA certificates and libcurl for the Hugging Face API.
RUN apt-get update \
    && xargs -r -a /tmp/runtime-packages apt-get install -y --no-install-recommends \
        fonts-bebas-neue fonts-dejavu-core ca-certificates libcurl4 \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && groupadd --system --gid 10001 meme \
    && useradd --system --uid 10001 --gid meme --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin meme
COPY --from=build /out/meme-worker /usr/local/bin/meme-worker
USER 10001:10001
ENV METRICS_ADDR=0.0.0.0:9090
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/meme-worker"]
