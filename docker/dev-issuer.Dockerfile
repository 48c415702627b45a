# The development OpenID issuer (services/devstack/issuer) for clusters with no real issuer: the
# chart's local.oidcIssuer, on kind. It signs anyone in by email alone, without a password:
# never run it where real customers shop. The store's code and dependencies are already in every
# service image; this adds the one package that .dockerignore keeps out of them, so it builds on
# a service image (`make images` builds ui first, then this):
#   docker build -f docker/dev-issuer.Dockerfile --build-arg SERVICE_IMAGE=emporium/ui:dev \
#     -t emporium/dev-issuer:dev .
# Its build context is cut down by dev-issuer.Dockerfile.dockerignore (BuildKit reads the
# ignore file named after the Dockerfile instead of the top-level .dockerignore).
ARG SERVICE_IMAGE=emporium/ui:dev
FROM ${SERVICE_IMAGE}
USER 0
COPY services/devstack/issuer /tmp/issuer
# Into the installed devstack package, owned by root like the rest of the code.
RUN target="$(python -c 'import devstack, os; print(os.path.dirname(devstack.__file__))')/issuer" \
    && mv /tmp/issuer "$target" \
    && chown -R 0:0 "$target" \
    && python -c 'import devstack.issuer.app'
USER 10001:10001
# One process: its signing key and its one-time codes live in its memory.
ENV WEB_CONCURRENCY=1 \
    SERVICE_NAME=oidc-issuer
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title=emporium-dev-issuer \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION}
CMD ["gunicorn", "-c", "python:emporium.gunicorn_conf", "devstack.issuer.app:create_app()"]
