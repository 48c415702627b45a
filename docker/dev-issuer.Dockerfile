# The development OpenID issuer (services/devstack/issuer) for clusters with no real issuer: the
# chart's local.oidcIssuer, on kind. It signs anyone in by email alone, without a password:
# never run it where real customers shop. Built like the services' images (docker/Dockerfile:
# the locked runtime dependencies, then the project), with the one package that the top-level
# .dockerignore keeps out of them: its build context is cut down by
# dev-issuer.Dockerfile.dockerignore, which BuildKit and skaffold read instead.
#   DOCKER_BUILDKIT=1 docker build -f docker/dev-issuer.Dockerfile -t emporium/dev-issuer:dev .
# (It does not build on the ui image, though it could: skaffold computes the inputs of an
# artifact built FROM another one with a stand-in name, "image:latest", and looks that up in a
# registry, which fails offline.)
ARG BASE_IMAGE=python:3.12-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS requirements
ARG UV_VERSION=0.13.9
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock /src/
RUN cd /src && /opt/uv/bin/uv export --frozen --no-default-groups --no-emit-project \
        --format requirements-txt --output-file /requirements.txt

FROM ${BUILD_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r /tmp/requirements.txt
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /src \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && /opt/venv/bin/python -c 'import devstack.issuer.app'

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 emporium \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin emporium
COPY --from=build /opt/venv /opt/venv
# One process: its signing key and its one-time codes live in its memory.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-metrics \
    WEB_CONCURRENCY=1 \
    SERVICE_NAME=oidc-issuer
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ARG BASE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.base.name=${BASE_IMAGE} \
      org.opencontainers.image.source=${SOURCE} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.title=emporium-dev-issuer
CMD ["gunicorn", "-c", "python:emporium.gunicorn_conf", "devstack.issuer.app:create_app()"]
