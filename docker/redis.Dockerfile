# Redis for the tests and for kind: Debian's redis-server, the same one the laptop stack runs.
# On EKS the store uses ElastiCache instead. Where no registry can be reached, BASE_IMAGE is
# the Debian base that `make base-images` bootstraps (emporium/debian:bookworm).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 emporium \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin emporium
USER 10001:10001
WORKDIR /tmp
EXPOSE 6379
ARG BASE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.base.name=${BASE_IMAGE} \
      org.opencontainers.image.source=${SOURCE} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.title=emporium-redis
# A cache and a stream for tests: nothing is persisted, so the root filesystem can be read-only.
CMD ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", \
     "--save", "", "--appendonly", "no", "--dir", "/tmp"]
