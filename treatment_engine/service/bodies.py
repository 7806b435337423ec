"""Request bodies read with orjson and checked by the same pydantic models.

FastAPI's own body handling parses with the standard library's json, which costs more
than deciding a 10,000-profile batch; this reads the bytes with orjson and validates
with the model, raising FastAPI's own RequestValidationError (so a bad body is the same
422 as before). The routes declare the models' schemas for OpenAPI explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ..profile_json import NotAProfileLine, parse_document

Model = TypeVar("Model", bound=BaseModel)
MAX_BATCH = 10_000  # the most profiles or events one request may hold


def json_body(model: type[Model]) -> Callable[[Request], Awaitable[Model]]:
    async def read(request: Request) -> Model:
        raw = await request.body()
        try:  # the profile rule of every engine (1e400, wide integers, NaN refused)
            data = parse_document(raw)
        except NotAProfileLine as error:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": f"the body {error.reason}", "input": {}}]) from None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                          for e in error.errors(include_url=False)]) from None
    return read


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}
