"""The shared library of Emporium's services.

Every service builds its Flask app with `emporium.app.create_service_app` and gets, from this
package: configuration from the environment (`config`), JSON logs (`logs`), problem documents
(`problems`), validated routes with an OpenAPI document (`api`), health and readiness (`health`),
Prometheus metrics (`metrics`), and the DynamoDB and Redis clients (`dynamodb`, `redis`).
"""
