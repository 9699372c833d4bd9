"""Every error of ``academy serve`` answered in OpenAI's shape (``{"error": {...}}``), FastAPI's own
(validation, 404, 405) and unexpected ones included."""

from __future__ import annotations

import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jedi_academy.errors import AcademyError
from jedi_academy.llm.server_protocol import APIError


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(status_code=error.status, content=error.body(), headers=error.headers)


def as_api_error(problem: BaseException) -> APIError:
    """What a failure during generation is told to the client (an unexpected one is also printed)."""
    if isinstance(problem, APIError):
        return problem
    if isinstance(problem, AcademyError):
        return APIError(400, str(problem))
    traceback.print_exception(problem)
    return APIError(500, f"internal error: {type(problem).__name__}", kind="server_error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(AcademyError)
    async def _academy_error(_: Request, exc: AcademyError) -> JSONResponse:
        return error_response(APIError(400, str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        )
        return error_response(APIError(400, problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "NotFoundError" if exc.status_code == 404 else "invalid_request_error"
        return error_response(APIError(exc.status_code, str(exc.detail), kind=kind))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        traceback.print_exception(exc)
        return error_response(APIError(500, f"internal error: {type(exc).__name__}", kind="server_error"))
