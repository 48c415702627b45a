# The load generator: locust and the shopper journeys of tests/load, for the chart's load Job
# (load.enabled) or any host that can reach the store's entry point:
#   DOCKER_BUILDKIT=1 docker build -f docker/load.Dockerfile -t emporium/load:dev .
#   docker run --rm --network host emporium/load:dev --url http://localhost:8080 --users 5 --duration 30
# Only the `load` dependency group (locust, gevent, ZeroMQ), none of the services' packages: the
# journeys reach the store through its public API alone. Its build context is cut down by
# load.Dockerfile.dockerignore (the top-level .dockerignore keeps tests/ out of every image).
ARG BASE_IMAGE=python:3.12-slim
# The base of the stages that install (pip); the same Python as BASE_IMAGE. Only a site whose
# package index sits behind its own TLS proxy needs another (`make base-images` makes one).
ARG BUILD_IMAGE=${BASE_IMAGE}

# locust and its dependencies, exactly as locked (the `load` dependency group, with hashes).
FROM ${BUILD_IMAGE} AS requirements
ARG UV_VERSION=0.13.9
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock /src/
RUN cd /src && /opt/uv/bin/uv export --frozen --only-group load --no-emit-project \
        --format requirements-txt --output-file /requirements.txt

FROM ${BUILD_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && /opt/venv/bin/python -c 'import locust'

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 emporium \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin emporium
# Owned by root, like the services' code.
COPY --from=build /opt/venv /opt/venv
COPY tests/load/locustfile.py tests/load/run.py /opt/load/
# The root filesystem is read-only in the cluster: locust's statistics and errors go to a
# temporary directory under /tmp (an emptyDir).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
ARG BASE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.base.name=${BASE_IMAGE} \
      org.opencontainers.image.source=${SOURCE} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.title=emporium-load
# run.py's options follow: --url, --users, --duration, --spawn-rate (tests/load/run.py --help).
# It prints req/s, p50/p95/p99 per endpoint and the errors, and exits 1 on any error.
ENTRYPOINT ["python", "/opt/load/run.py"]
