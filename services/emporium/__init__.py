"""The shared library of Emporium's services.

Every service builds its Flask app with `emporium.app.create_service_app` and gets, from this
package: configuration from the environment (`config`), JSON logs (`logs`), problem documents
(`problems`), validated routes with an OpenAPI document (`api`), page cursors (`pagination`),
health and readiness (`health`), Prometheus metrics (`metrics`), the DynamoDB and Redis clients
(`dynamodb`, `redis`), calls to other services (`outbound`), what each gunicorn worker needs of
its own (`background`), and the shared gunicorn configuration (`gunicorn_conf`).
"""
