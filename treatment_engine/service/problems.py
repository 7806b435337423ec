"""Every 4xx (and 5xx) the service gives, as RFC 9457 problem details.

One shape for all of them, ``application/problem+json``::

    {"type": "urn:treatment:invalid-request", "title": "The request is not valid",
     "status": 422, "detail": "profiles: List should have at most 10000 items ...",
     "errors": [{"pointer": "#/profiles", "detail": "...", "type": "too_long"}]}

``type`` names the kind of problem (``about:blank`` for a plain HTTP status such as 404
or 405, whose ``title`` is then the status's own phrase); ``detail`` says what happened
to this request; extension members carry what a client needs to act (``errors`` per field
for an invalid request, ``customer_id`` and ``error`` for a profile that cannot be
decided, as a batch answers it inline). A problem never echoes the request back: a
refused 10,000-profile batch answers in a few hundred bytes.

Plain Python and orjson, no FastAPI: the ASGI middleware answers 413 with it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson

MEDIA_TYPE = "application/problem+json"
BLANK = "about:blank"
MAX_FIELD_ERRORS = 20  # an invalid 10,000-item batch names its first problems, not all of them


class Problem(Exception):
    """A request the service refuses: raised by a route or a dependency, answered by
    :func:`problem_body` with ``status`` (service/errors.py)."""

    def __init__(self, status: int, detail: str, kind: str = BLANK, title: str | None = None,
                 headers: Mapping[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_body(status: int, detail: str, kind: str = BLANK, title: str | None = None,
                 **extensions: Any) -> bytes:
    """The JSON of one problem; ``title`` defaults to the status's phrase."""
    return orjson.dumps({"type": kind, "title": title or HTTPStatus(status).phrase, "status": status,
                         "detail": detail, **extensions})


def pointer(location: Sequence[Any]) -> str:
    """A JSON pointer (RFC 6901, as a URI fragment) to a field of the body, or the
    query or path parameter's name (``?wait``, ``{event_id}``)."""
    where, *path = location or ("body",)
    if where == "query":
        return "?" + ".".join(str(p) for p in path)
    if where == "path":
        return "{" + ".".join(str(p) for p in path) + "}"
    if where == "header":
        return ".".join(str(p) for p in path)
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in path)
    return "#/" + "/".join(escaped) if path else "#"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors as problem members: where, what and the error's type; never
    the input (it can be the whole 30 MB body)."""
    found: list[dict[str, Any]] = []
    for error in errors:
        if len(found) == MAX_FIELD_ERRORS:
            break
        found.append({"pointer": pointer(tuple(error.get("loc", ()))), "detail": str(error.get("msg", "")),
                      "type": str(error.get("type", ""))})
    return found


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """One sentence for ``detail``: the first problem, and how many more there are."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = pointer(tuple(first.get("loc", ())))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', '')}{more}"


# The kinds of problem the service names (the rest are about:blank with their HTTP status).
INVALID_REQUEST = "urn:treatment:invalid-request"  # the body, query or path failed its schema
INVALID_PROFILE = "urn:treatment:invalid-profile"  # decided nothing: the engine's reason
INVALID_EVENT = "urn:treatment:invalid-event"
API_KEY = "urn:treatment:api-key"  # missing or not valid
NO_DECISION_LOG = "urn:treatment:no-decision-log"
NOT_REPRODUCIBLE = "urn:treatment:not-reproducible"
NO_MOMENTS = "urn:treatment:no-moments"  # no database, or a plan without moments
RELOAD_REFUSED = "urn:treatment:reload-refused"
TRY_AGAIN = "urn:treatment:try-again"  # 503: nothing was acknowledged
BODY_TOO_LARGE = "urn:treatment:body-too-large"
BODY_TIMED_OUT = "urn:treatment:body-timed-out"  # 408: the body stopped arriving
NOT_JSON = "urn:treatment:not-json"  # 415
CONTENT_ENCODING = "urn:treatment:content-encoding"  # 415: a compressed body
