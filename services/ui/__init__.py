"""The ui service: the single-page app of the store, its static files and product images.

The app itself is plain HTML, CSS and JavaScript modules under `static/`, with no build step;
the browser calls the APIs on the same origin (`/api/...`), which the edge routes, and, when
sign-in is configured, the OpenID issuer's token endpoint.
"""
