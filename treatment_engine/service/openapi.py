"""The OpenAPI document: every route's request body, answers and problems, typed.

The routes answer with JSON they build themselves (FastAPI validating each answer would
cost more than the decision), so they declare ``response_model=None`` and name their
answers here instead: :func:`operation` gives a route's ``responses`` and
``openapi_extra`` as references to the models of schemas.py, and :func:`document`
completes FastAPI's document with those models under their own short names (``Decision``,
``BatchResult``, ``Problem``), the API key schemes, and, on each route that checks a key
in this app, its security and 401.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas
from .problems import MEDIA_TYPE

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key as a bearer token: Authorization: Bearer KEY"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key: X-API-Key: KEY"},
}
PROBLEMS = {  # the status codes routes name, and what each means on any route
    401: "No API key, or one that is not valid (see WWW-Authenticate)",
    404: "Not found",
    408: "The body stopped arriving (no part of it within the body timeout)",
    409: "Not possible in this service's state",
    413: "The body is over the service's limit",
    415: "The body is not JSON (send Content-Type: application/json)",
    422: "The request is not valid (errors per field)",
    503: "Not acknowledged: send it again (Retry-After)",
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _problem(status: int, description: str | None = None,
             model: type[BaseModel] = schemas.Problem) -> dict[str, Any]:
    return {"description": description or PROBLEMS[status], "content": {MEDIA_TYPE: {"schema": ref(model)}}}


def operation(ok: dict[int, tuple[type[BaseModel], str]], problems: dict[int, str | None] | None = None,
              body: type[BaseModel] | None = None, extra: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A route's ``responses`` (and ``openapi_extra`` for its JSON ``body``): ``ok`` maps
    each success status to its model and description; ``problems`` each refusal to its
    description (None: the usual one). A body brings 408, 413, 415 and 422 with it."""
    responses: dict[int, dict[str, Any]] = {
        status: {"description": text, "content": {"application/json": {"schema": ref(model)}}}
        for status, (model, text) in ok.items()}
    named = dict(problems or {})
    if body is not None:
        named = {408: None, 413: None, 415: None, 422: None, **named}
    for status, text in named.items():
        responses[status] = _problem(status, text)
    responses.update(extra or {})
    options: dict[str, Any] = {"response_model": None, "responses": responses}
    if body is not None:
        options["openapi_extra"] = {"requestBody": {"required": True, "content": {"application/json": {
            "schema": ref(body)}}}}
    return options


def reload_refused(status: int, text: str) -> dict[int, dict[str, Any]]:
    return {status: _problem(status, text, schemas.ReloadRefused)}


def document(app: FastAPI, key_checked: Callable[[APIRoute], bool]) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's document, completed (and built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, definitions = models_json_schema([(m, "validation") for m in schemas.MODELS], ref_template=REF)
            components = spec.setdefault("components", {})
            components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
            components["securitySchemes"] = SECURITY_SCHEMES
            _drop_fastapis_422(spec)
            for route in app.routes:
                if isinstance(route, APIRoute) and route.include_in_schema and key_checked(route):
                    for method in route.methods or ():
                        found = spec["paths"][route.path_format][method.lower()]
                        found["security"] = [{"bearer": []}, {"apiKey": []}]
                        found["responses"]["401"] = _problem(401)
            app.openapi_schema = spec
        return app.openapi_schema
    return openapi


def _drop_fastapis_422(spec: dict[str, Any]) -> None:
    """FastAPI adds a 422 of its own shape to routes with path parameters, which (plain
    strings) cannot fail; the routes that can answer 422 name it themselves, as a Problem."""
    fastapis = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations in spec["paths"].values():
        for found in operations.values():
            if found["responses"].get("422", {}).get("content", {}).get("application/json", {}).get("schema") == fastapis:
                del found["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(name, None)
