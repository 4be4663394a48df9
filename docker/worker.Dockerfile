# meme-worker: the KEDA-scaled JetStream consumer.
#   make images                      (or, from the top of the tree:)
#   docker build -f docker/worker.Dockerfile --build-arg VERSION=0.1.0 -t meme-worker:dev .
# Two stages: Debian with the -dev packages builds both programs (the same
# stage as docker/gateway.Dockerfile, so the second image reuses it); the
# runtime image is FROM scratch with only meme-worker, the shared libraries
# it links, the caption fonts (Bebas Neue, then of lib/render/text.c's
# fallback chain DejaVu and Noto for Arabic, Hebrew, Indic, Thai, Georgian,
# Armenian, Ethiopic and symbols; Noto CJK (20 MB) and colour emoji (11 MB)
# would put the image past its 60 MB budget: see docs/deploy.md), CA
# certificates and the user 10001 (docker/rootfs lays it out): no shell,
# no package manager. No HEALTHCHECK: Kubernetes probes /healthz and /readyz
# on the metrics port (METRICS_ADDR).
#
# BASE_IMAGE: the official Debian image, or the one scripts/image-base
# makes from Debian's packages where no registry answers.
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
COPY --from=build /rootfs/meme-worker /
ARG VERSION=0.1.0
ARG SOURCE=
ARG REVISION=
ARG LICENSES=NOASSERTION
LABEL org.memectl.stage=runtime \
      org.opencontainers.image.title="meme-worker" \
      org.opencontainers.image.description="memectl's JetStream meme worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"
USER 10001:10001
ENV METRICS_ADDR=0.0.0.0:9090
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/meme-worker"]
