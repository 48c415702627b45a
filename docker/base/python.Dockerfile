# A stand-in for python:3.12-slim where no registry can be reached (an air-gapped site, or the
# build machine): Debian's Python 3.11 on the Debian base that `make base-images` bootstraps.
# The project's Dockerfiles get it through their BASE_IMAGE build argument; nothing else
# changes. Built by docker/build-base-images, whose build context holds the site's CA bundle.
ARG DEBIAN_IMAGE=emporium/debian:bookworm
FROM ${DEBIAN_IMAGE}

ENV LANG=C.UTF-8
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv python-is-python3 \
    && rm -rf /var/lib/apt/lists/*

# The site's CA bundle (its TLS proxy included), so pip in the builds that start from this
# image reaches the package index. Copied after ca-certificates, which rewrites the system
# bundle. Only this stand-in carries it: production builds start from python:3.12-slim.
COPY site-ca-bundle.crt /usr/local/share/ca-certificates-site/bundle.crt
ENV PIP_CERT=/usr/local/share/ca-certificates-site/bundle.crt \
    SSL_CERT_FILE=/usr/local/share/ca-certificates-site/bundle.crt

CMD ["python3"]
