"""RFC 9457 problem+json for every error, and the one table mapping our errors to HTTP statuses.

No stack trace or internal message ever reaches a client: unexpected errors are logged with an id
and answered with that id only.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from renewflow.db import DatabaseUnavailable
from renewflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RenewflowError,
    UnsupportedMediaError,
    ValidationFailed,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[RenewflowError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (PermissionDeniedError, 403),
    (InvalidInputError, 422),
    (UnsupportedMediaError, 415),
    (PayloadTooLargeError, 413),
    (DatabaseUnavailable, 503),
)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


_REFUSED_BY_THE_DATABASE = (
    psycopg.errors.InvalidTextRepresentation,
    psycopg.errors.CheckViolation,
    psycopg.errors.StringDataRightTruncation,
    psycopg.errors.NumericValueOutOfRange,
    psycopg.errors.DatetimeFieldOverflow,
)

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document; `errors` names each invalid field.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "incident": {"type": "string", "description": "the id of a 500 in the server's log"},
    },
    "additionalProperties": True,
}


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'config', 'steps', 2, 'id') -> 'body.config.steps[2].id'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": field_path(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem(422, detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _renewflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RenewflowError)
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(exc, error_class):
            if isinstance(exc, ValidationFailed):
                errors = [{"field": field, "message": message} for field, message in exc.errors]
                return problem(status, exc.message, errors=errors)
            if isinstance(exc, InvalidInputError):
                return problem(
                    status, exc.message, errors=[{"field": exc.field, "message": exc.reason}]
                )
            return problem(status, exc.message, **exc.details)
    return await _unexpected_error(request, exc)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Input the database itself refused (a malformed id, a constraint) is the client's to fix;
    # the constraint's name says which rule, without exposing the row. The models check lengths
    # and ranges first (renewflow.limits); this is the last guard, and names no field.
    if isinstance(exc, _REFUSED_BY_THE_DATABASE):
        diag = exc.diag
        what = diag.constraint_name or diag.message_primary or "invalid value"
        return problem(422, f"the value was rejected: {what}")
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        # Packages map the references they check to the field; a deferred key is checked only at
        # commit, after they have returned, and lands here.
        return problem(422, f"a row this refers to does not exist ({exc.diag.constraint_name})")
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return problem(409, f"already exists ({exc.diag.constraint_name or 'unique'})")
    if isinstance(exc, psycopg.OperationalError):
        return problem(503, "the database is not available; try again shortly")
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc
    )
    return problem(500, f"an internal error occurred (incident {incident})", incident=incident)


def document_problems(schema: dict[str, Any]) -> None:
    """Makes the OpenAPI document say what errors really look like: a problem+json body for 422
    (FastAPI documents its own validation body) and, as the `default` response of every
    operation, for any other error status."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid input", "content": content}
            responses.setdefault(
                "default", {"description": "An error (RFC 9457 problem)", "content": content}
            )
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def _document_problems_in(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_problems(generate())  # generate() keeps what it returns as openapi_schema
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document_problems_in(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RenewflowError, _renewflow_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
