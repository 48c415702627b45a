"""The local edge: Emporium's one entry point on a laptop, a small reverse proxy.

The route table is in `routes.json` (read by `routes.py`), the forwarding in `proxy.py`, the
settings and wiring in `app.py`. On EKS the ALB and API Gateway do this job instead, from the
same route table.
"""
