# The DynamoDB emulator for the tests and for kind: moto's server, one call at a time
# (services/devstack/dynamodb_emulator.py says why not plain moto_server). On EKS the store uses
# Amazon DynamoDB. BASE_IMAGE as in docker/Dockerfile.
ARG BASE_IMAGE=python:3.12-slim
# The base of the stages that install (pip); the same Python as BASE_IMAGE. Only a site whose
# package index sits behind its own TLS proxy needs another (`make base-images` makes one).
ARG BUILD_IMAGE=${BASE_IMAGE}

# moto and its dependencies, exactly as locked (the `emulator` dependency group, with hashes).
FROM ${BUILD_IMAGE} AS requirements
ARG UV_VERSION=0.13.9
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock /src/
RUN cd /src && /opt/uv/bin/uv export --frozen --only-group emulator --no-emit-project \
        --format requirements-txt --output-file /requirements.txt

FROM ${BUILD_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r /tmp/requirements.txt
# The project for its devstack package (the emulator's entry point); its dependencies stay out.
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /src \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 emporium \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin emporium
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
ARG BASE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.base.name=${BASE_IMAGE} \
      org.opencontainers.image.source=${SOURCE} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.title=emporium-dynamodb
# The tables live in memory: a restart starts empty (the services create their tables).
CMD ["python", "-m", "devstack.dynamodb_emulator", "--host", "0.0.0.0", "--port", "8000"]
