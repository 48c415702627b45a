"""A development OpenID Connect issuer, for `make run` and development clusters only.

Shoppers sign in with an email address and no password: anyone can be anyone. It exists so
that the store's sign-in (authorization code flow with PKCE, ID tokens signed with RS256 and
checked against a JWKS) runs end to end on a laptop; on EKS the issuer is an Amazon Cognito
user pool. The signing key is made at start-up and lives in memory, as do the one-time codes:
run it as one process (`WEB_CONCURRENCY=1`), and a restart signs everyone out.

    gunicorn -c python:emporium.gunicorn_conf 'devstack.issuer.app:create_app()'

It is kept out of the images (`.dockerignore`).
"""
