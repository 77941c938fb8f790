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
    PermissionDeniedError,
    RenewflowError,
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
    # the constraint's name says which rule, without exposing the row.
    if isinstance(exc, psycopg.errors.InvalidTextRepresentation | psycopg.errors.CheckViolation):
        diag = exc.diag
        what = diag.constraint_name or diag.message_primary or "invalid value"
        return problem(422, f"the value was rejected: {what}")
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


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RenewflowError, _renewflow_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
