# meme-gateway: the HPA-scaled HTTP tier.
#   make images                      (or, from the top of the tree:)
#   docker build -f docker/gateway.Dockerfile --build-arg VERSION=0.1.0 -t meme-gateway:dev .
# The build stage is docker/worker.Dockerfile's, line for line, so one
# build serves both images. The runtime image is FROM scratch with only
# meme-gateway, the shared libraries it links, CA certificates (for NATS
# over TLS), the user 10001, and /bin/sleep for the Deployment's preStop
# hook (docker/rootfs lays it out): no shell, no package manager, no fonts
# (the gateway draws nothing). No HEALTHCHECK: Kubernetes probes /healthz
# and /readyz on port 8080.
ARG BASE_IMAGE=debian:bookworm

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config \
        libnats-dev libjansson-dev libsixel-dev libfreetype-dev libharfbuzz-dev \
        libfribidi-dev libpng-dev libjpeg-dev \
        libdeflate-dev libssl-dev libhiredis-dev libcurl4-openssl-dev libyaml-dev \
        libmicrohttpd-dev libncurses-dev libgnutls28-dev \
        ca-certificates fonts-bebas-neue fonts-dejavu-core \
        fonts-noto-core \
    && rm -rf /var/lib/apt/lists/*
# make images keeps the newest build stage (meme-build:cache) and prunes
# earlier ones, and earlier runtime images no tag names, by this label.
LABEL org.memectl.stage=build
WORKDIR /src
COPY . .
ARG VERSION=0.1.0
RUN make -j"$(nproc)" OUT=/out VERSION="$VERSION" /out/meme-worker /out/meme-gateway \
    && strip /out/meme-worker /out/meme-gateway \
    && docker/rootfs /rootfs/meme-worker /out/meme-worker \
        /usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf \
        /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansHebrew-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansDevanagari-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansBengali-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansTamil-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansThai-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansGeorgian-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansArmenian-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansEthiopic-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSans-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansSymbols-Bold.ttf \
        /usr/share/fonts/truetype/noto/NotoSansSymbols2-Regular.ttf \
    && docker/rootfs /rootfs/meme-gateway /out/meme-gateway --also /bin/sleep

FROM scratch
COPY --from=build /rootfs/meme-gateway /
ARG VERSION=0.1.0
ARG SOURCE=
ARG REVISION=
ARG LICENSES=NOASSERTION
LABEL org.memectl.stage=runtime \
      org.opencontainers.image.title="meme-gateway" \
      org.opencontainers.image.description="memectl's HTTP gateway to the meme workers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/meme-gateway"]
