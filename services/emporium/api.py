"""Routes declared with their schemas: one declaration validates requests and documents them.

A service declares each operation on an `Api` with pydantic models for its query and body and
the model of its response. The wrapper validates the request against those models before the
view runs (a violation is a 422 problem naming the field), and `Api.openapi()` renders the same
models as the service's OpenAPI 3.1 document, served at `<prefix>/openapi.json`. Every answer
is checked against the statuses the document lists (`UndocumentedStatus`).

    api = Api("catalog", prefix="/api/catalog", title="Catalog", version="1.0.0")

    @api.get("/products/<product_id>", response=Product, path={"product_id": PRODUCT_ID})
    def get_product(product_id: str) -> Product: ...

Why our own, and not a maintained library (measured by `tests/bench/web_layer.py`, which serves
catalog's read and create with catalog's models on each; 2-core build machine, under load from
other builds, so read the figures side by side, not alone):

    per request, µs      read   write  refused   start, ms  bad body          bad id
    bare Flask            209     232      285           6  (no validation)   200
    emporium.api          201     289      380          33  422 problem+json  404
    flask-openapi3 4.3    200     269      462         206  422 JSON list     422
    spectree 3.0          360     483      599         128  422 JSON list     200
    APIFlask 3.1          232     312      292         240  422 JSON object   200

- Request time: ours, flask-openapi3 and APIFlask are within noise of each other and of bare
  Flask for a read; spectree costs about 150 µs more per request. Speed decides nothing here.
- Start: each library adds 100 to 200 ms more than ours to import and document (a cold pod
  start and every gunicorn worker pay it).
- Contracts: none answers a problem document (`application/problem+json`, RFC 9457) by
  default, none refuses a path value outside its pattern with a 404 (flask-openapi3 answers
  422, the others do not check it), none states `allowEmptyValue` for the optional query
  parameters that the store reads `?x=` as absent, and none derives the other error statuses
  (400, 413 and 415 of a body, 401 and 403 of a token, 404 of a path pattern) or checks the
  answers against them. Each can be taught most of it (flask-openapi3's
  `validation_error_callback` and `responses`, APIFlask's `error_processor`, spectree's
  `before` hooks), with about as much code as it would replace: the wrapper and the document
  builder below, about 250 lines; `problems.py`, the bearer check and the models stay either
  way. The documents' operation ids and schema
  names would change, and the UI, the schemathesis runs and users' clients depend on them.

So ours stays: the same speed, a faster start, every contract as it is, and no dependency
whose defaults contradict the store's error format. Revisit if one of them offers RFC 9457
problems and path patterns as options.
"""

from __future__ import annotations

import functools
import hmac
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema

from emporium.problems import PROBLEM_MEDIA_TYPE, Problem

View = Callable[..., Any]
_RULE_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document, as every error response carries it."""

    model_config = ConfigDict(title="Problem")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class FieldError(BaseModel):
    location: str
    message: str


ProblemDocument.model_rebuild()


@dataclass(frozen=True)
class Header:
    """A request header an operation requires: documented, and `pattern` (a regex the whole
    value must match) stated in the OpenAPI document, so what the code refuses is written down."""

    description: str
    pattern: str | None = None

    def schema(self) -> dict[str, str]:
        if self.pattern is None:
            return {"type": "string"}
        return {"type": "string", "pattern": f"^(?:{self.pattern})$"}


@dataclass(frozen=True)
class Operation:
    rule: str
    method: str
    view_name: str
    summary: str
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    secured: bool
    path: dict[str, str]
    errors: tuple[int, ...]
    headers: dict[str, Header] = field(default_factory=dict)

    @functools.cached_property
    def error_statuses(self) -> tuple[int, ...]:
        """The error statuses its document lists: those the declaration implies (a model to
        validate: 422; a body: 400, 413, 415; a token: 401, 403; a path pattern: 404) and the
        `errors` its route names."""
        statuses = set(self.errors)
        if self.query is not None or self.body is not None:
            statuses.add(422)
        if self.body is not None:
            statuses.update((400, 413, 415))
        if self.secured:
            statuses.update((401, 403))
        if self.path:
            statuses.add(404)
        return tuple(sorted(statuses))


class UndocumentedStatus(UserWarning):
    """An operation answered a status its OpenAPI document does not list. A warning, not an
    error, where the store runs (the answer stands, and the log says what to declare); the test
    suites turn warnings into errors, so a test that provokes one fails."""


def json_response(
    body: BaseModel | bytes | str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response from a model or already serialised JSON, ending in a newline (as Flask's
    own JSON responses do, so `curl` output reads line by line)."""
    if isinstance(body, BaseModel):
        body = body.model_dump_json(by_alias=True)
    data = body.encode() if isinstance(body, str) else body
    return Response(data + b"\n", status=status, mimetype="application/json", headers=headers)


def validation_problem(error: ValidationError, location: str) -> Problem:
    errors = [
        {
            "location": ".".join([location, *(str(part) for part in item["loc"])]),
            "message": item["msg"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]
    return Problem(
        422,
        f"The request {location} does not match the schema.",
        type_="validation-error",
        errors=errors,
    )


def _parse(model: type[BaseModel], data: Any, location: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_problem(error, location) from None


def _json_body() -> Any:
    if not request.is_json:
        raise Problem(415, "The request body must be JSON (Content-Type: application/json).")
    try:
        data = request.get_json(silent=True)  # reading it enforces MAX_CONTENT_LENGTH (413)
    except RecursionError:
        # `silent` covers ValueError only; the parser recurses once per level of nesting.
        raise Problem(
            400, "The request body is nested too deeply.", type_="malformed-json"
        ) from None
    if data is None:
        raise Problem(400, "The request body is not valid JSON.", type_="malformed-json")
    return data


def require_bearer_token(expected: str) -> None:
    """401 without credentials, 403 with wrong ones; compared in constant time."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(
            401,
            "This operation needs a bearer token.",
            headers={"WWW-Authenticate": 'Bearer realm="emporium"'},
        )
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Problem(403, "The bearer token is not valid for this operation.")


def _query_parameter_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never null: drop pydantic's `null` branch."""
    options = [option for option in prop.get("anyOf", []) if option != {"type": "null"}]
    if len(options) != 1:
        return prop
    extra = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
    if prop.get("default") is not None:
        extra["default"] = prop["default"]
    return {**options[0], **extra}


class Api:
    """The operations of one service under one public path prefix."""

    def __init__(
        self,
        name: str,
        *,
        prefix: str,
        title: str,
        version: str,
        description: str = "",
        bearer_from: str = "ADMIN_TOKEN",
        errors: tuple[int, ...] = (),
    ):
        """`bearer_from` names the app.config key holding the bearer token that this API's
        `secured` operations require; `errors` the error statuses any of its operations may
        answer, whatever the route (503: a store that every operation reads is out of reach)."""
        self.errors = errors
        self.prefix = prefix
        self.bearer_from = bearer_from
        self.title = title
        self.version = version
        self.description = description
        self.operations: list[Operation] = []
        self.blueprint = Blueprint(name, name, url_prefix=prefix)
        self.blueprint.add_url_rule("/openapi.json", "openapi", self._serve_openapi)
        self.blueprint.after_request(self._check_documented)
        self._by_endpoint: dict[str, Operation] = {}
        self._document: dict[str, Any] | None = None

    def route(
        self,
        rule: str,
        method: str,
        *,
        summary: str,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        secured: bool = False,
        path: dict[str, str] | None = None,
        errors: tuple[int, ...] = (),
        headers: dict[str, str | Header] | None = None,
    ) -> Callable[[View], View]:
        """Register a view. `path` maps each path parameter to the regex its values must match
        (a value that does not is a 404); `errors` lists the error statuses the view itself
        answers beyond those the declaration implies (every answer is checked against them);
        `headers` the required request headers (a description, or a `Header`)."""
        path_patterns = {name: re.compile(regex) for name, regex in (path or {}).items()}

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def handle(**kwargs: Any) -> Any:
                for name, pattern in path_patterns.items():
                    if not pattern.fullmatch(kwargs[name]):
                        raise Problem(404, f"No resource matches {request.path}.")
                if secured:
                    require_bearer_token(current_app.config[self.bearer_from])
                if query is not None:
                    # An empty value (`?category=`) means the parameter is absent.
                    args = {key: value for key, value in request.args.items() if value != ""}
                    kwargs["query"] = _parse(query, args, "query")
                if body is not None:
                    kwargs["body"] = _parse(body, _json_body(), "body")
                result = view(**kwargs)
                if isinstance(result, BaseModel):
                    return json_response(result, status)
                return result

            self.blueprint.add_url_rule(rule, view.__name__, handle, methods=[method])
            operation = Operation(
                rule=rule,
                method=method.lower(),
                view_name=view.__name__,
                summary=summary,
                query=query,
                body=body,
                response=response,
                status=status,
                secured=secured,
                path={name: pattern.pattern for name, pattern in path_patterns.items()},
                errors=tuple(sorted({*self.errors, *errors})),
                headers={
                    name: header if isinstance(header, Header) else Header(header)
                    for name, header in (headers or {}).items()
                },
            )
            self.operations.append(operation)
            self._by_endpoint[f"{self.blueprint.name}.{view.__name__}"] = operation
            return handle

        return decorate

    def get(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, "GET", **options)

    def post(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, "POST", **options)

    def put(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, "PUT", **options)

    def delete(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, "DELETE", **options)

    def _check_documented(self, response: Response) -> Response:
        """Every answer of an operation is one its document lists (the errors are checked, not
        trusted): else an `UndocumentedStatus` warning naming the status to declare. Automatic
        OPTIONS answers are Flask's, not the operation's."""
        operation = self._by_endpoint.get(request.endpoint or "")
        if operation is None or request.method == "OPTIONS":
            return response
        status = response.status_code
        if status != operation.status and status not in operation.error_statuses:
            warnings.warn(
                f"{request.method} {request.path} answered {status}, which the OpenAPI document "
                f"of {operation.view_name} does not list: add it to the route's errors",
                UndocumentedStatus,
                stacklevel=1,
            )
        return response

    def _serve_openapi(self) -> Response:
        return jsonify(self.openapi())

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this service, built once from the declared operations."""
        if self._document is None:
            self._document = self._build_document()
        return self._document

    def _build_document(self) -> dict[str, Any]:
        models: set[type[BaseModel]] = {ProblemDocument}
        for op in self.operations:
            models.update(m for m in (op.query, op.body, op.response) if m is not None)
        ref = "#/components/schemas/{model}"
        keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
            (model, "validation") for model in sorted(models, key=lambda m: m.__name__)
        ]
        refs, top = models_json_schema(keyed, ref_template=ref)
        schemas: dict[str, Any] = top.get("$defs", {})

        def schema_ref(model: type[BaseModel]) -> dict[str, Any]:
            return dict(refs[(model, "validation")])

        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            url = self.prefix + _RULE_PARAM.sub(r"{\1}", op.rule)
            parameters: list[dict[str, Any]] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": f"^(?:{pattern})$"}
                    if (pattern := op.path.get(name))
                    else {"type": "string"},
                }
                for name in _RULE_PARAM.findall(op.rule)
            ]
            if op.query is not None:
                query_schema = op.query.model_json_schema(ref_template=ref)
                required = set(query_schema.get("required", []))
                for name, prop in query_schema["properties"].items():
                    schema = _query_parameter_schema(prop)
                    parameters.append(
                        {
                            "name": name,
                            "in": "query",
                            "required": name in required,
                            # `?category=` means absent (see `route`): say so, for clients
                            # and fuzzers alike.
                            **({} if name in required else {"allowEmptyValue": True}),
                            "schema": schema,
                            **(
                                {"description": schema["description"]}
                                if "description" in schema
                                else {}
                            ),
                        }
                    )
            parameters.extend(
                {
                    "name": name,
                    "in": "header",
                    "required": True,
                    "schema": header.schema(),
                    "description": header.description,
                }
                for name, header in op.headers.items()
            )
            problem = {"content": {PROBLEM_MEDIA_TYPE: {"schema": schema_ref(ProblemDocument)}}}
            responses: dict[str, Any] = {
                str(op.status): {"description": HTTPStatus(op.status).phrase}
            }
            if op.response is not None:
                responses[str(op.status)]["content"] = {
                    "application/json": {"schema": schema_ref(op.response)}
                }
            for code in op.error_statuses:
                responses[str(code)] = {"description": HTTPStatus(code).phrase, **problem}
            responses["default"] = {"description": "An error, as a problem document", **problem}
            operation: dict[str, Any] = {
                "operationId": op.view_name,
                "summary": op.summary,
                "parameters": parameters,
                "responses": responses,
            }
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema_ref(op.body)}},
                }
            if op.secured:
                operation["security"] = [{"adminToken": []}]
            paths.setdefault(url, {})[op.method] = operation

        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            },
        }
