"""Request bodies read with orjson and checked by the same pydantic models.

FastAPI's own body handling parses with the standard library's json, which costs more
than deciding a 10,000-profile batch; this reads the bytes with orjson and validates
with the model, raising FastAPI's own RequestValidationError (so a bad body is the same
422 problem as a bad query). A body whose Content-Type is not JSON (a form, text, none),
or that comes compressed (a Content-Encoding other than identity, which the service does
not undo), is refused with 415 before it is parsed (RFC 9110, 15.5.16). The routes declare the models' schemas for
OpenAPI explicitly (openapi.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ..profile_json import NotAProfileLine, parse_document
from . import problems
from .problems import Problem

Model = TypeVar("Model", bound=BaseModel)
MAX_BATCH = 10_000  # the most profiles or events one request may hold
NOT_JSON = "the body must be JSON: send it with Content-Type: application/json"
ENCODED = "the body must be sent as it is, not compressed: this service takes no Content-Encoding but identity"


def is_json(content_type: str | None) -> bool:
    """application/json, or any application/*+json, whatever its parameters."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def json_body(model: type[Model]) -> Callable[[Request], Awaitable[Model]]:
    async def read(request: Request) -> Model:
        if not is_json(request.headers.get("content-type")):
            raise Problem(415, NOT_JSON, problems.NOT_JSON)
        if request.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise Problem(415, ENCODED, problems.CONTENT_ENCODING, headers={"Accept-Encoding": "identity"})
        raw = await request.body()
        try:  # the profile rule of every engine (1e400, wide integers, NaN refused)
            data = parse_document(raw)
        except NotAProfileLine as error:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": f"the body {error.reason}"}]) from None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                          for e in error.errors(include_url=False, include_input=False)]) from None
    return read


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}
