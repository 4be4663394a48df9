# meme-gateway: the HPA-scaled HTTP tier.
#   make images                      (or, from the top of the tree:)
#   docker build -f docker/gateway.Dockerfile --build-arg VERSION=0.1.0 -t meme-gateway:dev .
# Same two stages as the worker's image. No HEALTHCHECK: Kubernetes probes
# /healthz and /readyz on port 8080.
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
RUN make OUT=/out VERSION="$VERSION" /out/meme-gateway \
    && strip /out/meme-gateway \
    && ldd /out/meme-gateway | awk '$3 ~ /^\// { print $3 }' \
        | while read -r lib; do \
            dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
                || dpkg -S "$(readlink -f "$lib")"; \
        done | cut -d: -f1 | sort -u >/out/runtime-packages \
    && test -s /out/runtime-packages

FROM debian:${DEBIAN_RELEASE}-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
# The packages that own the libraries the binary links (found with ldd in
# the build stage). The gateway draws no text, so no fonts.
RUN apt-get update \
    && xargs -r -a /tmp/runtime-packages apt-get install -y --no-install-recommends \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && groupadd --system --gid 10001 meme \
    && useradd --system --uid 10001 --gid meme --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin meme
COPY --from=build /out/meme-gateway /usr/local/bin/meme-gateway
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/meme-gateway"]
