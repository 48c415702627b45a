# A stand-in for python:3.12-slim where no registry can be reached (an air-gapped site, or the
# build machine): Debian's Python 3.11 on the Debian base that `make base-images` bootstraps.
# Two targets, built by docker/build-base-images:
#   python  the runtime base (BASE_IMAGE): Python and nothing of this site's
#   build   the build base (BUILD_IMAGE): the same plus the site's CA bundle, so pip in the
#           build stages reaches the package index through the site's TLS proxy
# The project's Dockerfiles build on `build` and run on `python`, so no image that runs carries
# the site's CA or PIP_CERT/SSL_CERT_FILE. Production builds use python:3.12-slim for both.
# checkov:skip=CKV_DOCKER_3:a base image, as python:3.12-slim is: each image built on it adds its own user
ARG DEBIAN_IMAGE=emporium/debian:bookworm
FROM ${DEBIAN_IMAGE} AS python

ENV LANG=C.UTF-8
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv python-is-python3 \
    && rm -rf /var/lib/apt/lists/*
CMD ["python3"]

FROM python AS build
# Copied after ca-certificates, which rewrites the system bundle.
COPY site-ca-bundle.crt /usr/local/share/ca-certificates-site/bundle.crt
ENV PIP_CERT=/usr/local/share/ca-certificates-site/bundle.crt \
    SSL_CERT_FILE=/usr/local/share/ca-certificates-site/bundle.crt
