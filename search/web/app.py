"""The web application: the JSON API, the search page and the security rules around both.

Every endpoint reads the index through one shared `SearchEngine` and nothing else: no endpoint
writes, and the only files served besides indexed articles' stored fields are the page's own
assets, read from the package when the application is made. Searches block, so they run on a
small pool of threads; a request waits for at most `timeout` seconds and the number of requests
waiting is bounded, so a slow query answers 503 instead of hanging the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search import serialize
from search._version import __version__
from search.engine import SearchEngine
from search.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexNotFoundError,
    InvalidArgumentError,
    QuerySyntaxError,
    SearchError,
)
from search.facets import FACETS
from search.limits import DEFAULT_SEARCH_THREADS
from search.matching import DEFAULT_STRATEGY, RELATED_STRATEGY, STRATEGIES
from search.scoring import ORDERS
from search.terminal import json_text

logger = logging.getLogger("search.web")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may ask for, and how long and how many requests may wait."""

    max_query_chars: int = 500
    max_limit: int = 100
    max_offset: int = 10_000
    max_url_bytes: int = 8_192
    """Longest request target (path and query string) accepted."""
    timeout: float = 10.0
    """Seconds a request may wait for its search, queueing included."""
    threads: int = DEFAULT_SEARCH_THREADS
    """Searches a process runs at once (see `search.limits.DEFAULT_SEARCH_THREADS`)."""
    max_waiting: int = 64
    """Requests queued or running at once; more are turned away with 503."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One query-string parameter of the search and related endpoints, and its engine argument."""

    name: str
    argument: str
    kind: str
    """"text", "texts" (repeatable), "int", "bool" or "list" (comma-separated)."""
    description: str


SEARCH_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "topic", "topics", "texts", "Only articles with this topic (repeat for any of them)."
    ),
    Parameter("provider", "provider", "text", "Only articles from this provider."),
    Parameter("type", "doc_type", "text", "Only articles of this type (article, video, ...)."),
    Parameter("since", "since", "text", "Published on or after: 2020, 2020-11, 2020-11-13, ISO."),
    Parameter("until", "until", "text", "Published on or before (the whole day, month or year)."),
    Parameter("min_quality", "min_quality", "int", "Only articles with quality >= N."),
    Parameter("published", "published", "bool", "true: only published; false: only unpublished."),
    Parameter(
        "matching",
        "matching",
        "text",
        f"Which articles a query of several words finds: {', '.join(STRATEGIES)} (default "
        f"{DEFAULT_STRATEGY}; {RELATED_STRATEGY} for related).",
    ),
    Parameter("sort", "sort", "text", f"Order: {', '.join(ORDERS)} (default relevance)."),
    Parameter("limit", "limit", "int", "Number of hits (default 10)."),
    Parameter("offset", "offset", "int", "Number of hits to skip (default 0)."),
    Parameter("facets", "facets", "list", f"Count all matches by: {','.join(FACETS)}."),
    Parameter("explain", "explain", "bool", "Attach the parts of each hit's score."),
    Parameter("now", "now", "text", "Reference time for recency, ISO-8601 (default: now)."),
    Parameter("boost", "boost", "bool", "false: rank by text relevance alone (default true)."),
)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and a machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class JSON(JSONResponse):
    """JSON as the command line writes it: a file name's bytes that are not UTF-8 (kept by Python
    as lone surrogates) are escaped as `\\udcXX` instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return json_text(text).encode("utf-8")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one shape of every error: `{"error": {"code": ..., "message": ...}}`."""
    return JSON({"error": {"code": code, "message": message}}, status_code=status)


def _library_error(exc: SearchError) -> RequestError:
    """The HTTP status and code of a library error."""
    if isinstance(exc, InvalidArgumentError):
        return RequestError(400, "invalid_parameter", str(exc))
    if isinstance(exc, QuerySyntaxError):
        return RequestError(400, "invalid_query", str(exc))
    if isinstance(exc, DocumentNotFoundError):
        # The library's message names the index folder and may say whether a path exists on the
        # server; a client needs to know neither.
        return RequestError(404, "not_found", "no article with this URL in the index")
    if isinstance(exc, IndexNotFoundError):
        return RequestError(503, "no_index", "no index has been built yet")
    if isinstance(exc, IndexIncompatibleError | IndexCorruptError):
        return RequestError(
            503, "index_unavailable", "the index cannot be read; see the server log"
        )
    return RequestError(500, "internal_error", "the search failed; see the server log")


class SearchService:
    """The engine plus the pool its blocking calls run on, bounded in time and in numbers."""

    def __init__(self, engine: SearchEngine, limits: Limits) -> None:
        self.engine = engine
        self.limits = limits
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._waiting = 0

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.limits.threads, thread_name_prefix="search"
            )
        return self._pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` on the pool; 503 when too many wait or it takes longer than the timeout."""
        if self._waiting >= self.limits.max_waiting:
            raise RequestError(503, "busy", "too many requests at once; try again shortly")
        self._waiting += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor(), call)
            try:
                return await asyncio.wait_for(future, self.limits.timeout)
            except TimeoutError:
                # A search already running cannot be stopped; its thread finishes on its own and
                # its result is dropped. One still queued is cancelled by wait_for.
                raise RequestError(
                    503, "timeout", f"the search took longer than {self.limits.timeout:g} s"
                ) from None
            except SearchError as exc:
                expected = InvalidArgumentError | QuerySyntaxError | DocumentNotFoundError
                if not isinstance(exc, expected | IndexNotFoundError):
                    logger.error("search failed: %s", exc)
                raise _library_error(exc) from None
        finally:
            self._waiting -= 1


def parse_search_arguments(
    request: Request, limits: Limits, *, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """The engine's keyword arguments from a request's query string.

    Only the conversion from text is done here; the engine checks every value, so the command
    line, Python callers and HTTP clients get the same rules and messages.
    """
    params = request.query_params
    known = {parameter.name for parameter in SEARCH_PARAMETERS} | set(extra)
    unknown = sorted(set(params.keys()) - known)
    if unknown:
        raise RequestError(400, "invalid_parameter", f"unknown parameter {unknown[0]!r}")
    arguments: dict[str, Any] = {}
    for parameter in SEARCH_PARAMETERS:
        values = params.getlist(parameter.name)
        if not values:
            continue
        if parameter.kind == "texts":
            arguments[parameter.argument] = values
            continue
        if len(values) > 1:
            raise RequestError(400, "invalid_parameter", f"{parameter.name} may be given only once")
        arguments[parameter.argument] = _convert(parameter, values[0])
    limit = arguments.get("limit", 10)
    if limit > limits.max_limit:
        raise RequestError(400, "invalid_parameter", f"limit must be at most {limits.max_limit}")
    if arguments.get("offset", 0) > limits.max_offset:
        raise RequestError(400, "invalid_parameter", f"offset must be at most {limits.max_offset}")
    return arguments


def _convert(parameter: Parameter, value: str) -> Any:
    if parameter.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise RequestError(
                400, "invalid_parameter", f"{parameter.name} must be a whole number, got {value!r}"
            ) from None
    if parameter.kind == "bool":
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise RequestError(
            400, "invalid_parameter", f"{parameter.name} must be true or false, got {value!r}"
        )
    if parameter.kind == "list":
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


def _required(request: Request, name: str, limits: Limits) -> str:
    values = request.query_params.getlist(name)
    if len(values) != 1 or not values[0].strip():
        raise RequestError(400, "invalid_parameter", f"{name} is required, once")
    if len(values[0]) > limits.max_query_chars:
        raise RequestError(
            400, "invalid_parameter", f"{name} is longer than {limits.max_query_chars} characters"
        )
    return values[0]


Endpoint = Callable[[Request], Awaitable[Response]]


def _json_errors(endpoint: Endpoint) -> Endpoint:
    """Turn refused requests into JSON errors, and anything unexpected into a logged 500."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except RequestError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception:
            logger.exception("unexpected error answering %s", request.url.path)
            return error_response(500, "internal_error", "unexpected error; see the server log")

    return wrapped


def create_app(
    engine: SearchEngine,
    *,
    limits: Limits | None = None,
    cors_origins: Sequence[str] = (),
) -> Starlette:
    """The web application serving `engine`: the JSON API, `/healthz`, and the page at `/`.

    Browsers on other origins may call the API only when their origin is in `cors_origins`.
    """
    limits = limits or Limits()
    service = SearchService(engine, limits)
    static = {
        name: (resources.files("search.web").joinpath("static", name).read_bytes(), media_type)
        for name, media_type in _STATIC_TYPES.items()
    }

    @_json_errors
    async def api_search(request: Request) -> Response:
        text = _required(request, "q", limits)
        arguments = parse_search_arguments(request, limits, extra=["q"])
        results = await service.run(lambda: engine.search(text, **arguments))
        return JSON(serialize.results_json(results))

    @_json_errors
    async def api_related(request: Request) -> Response:
        url = _required(request, "url", limits)
        arguments = parse_search_arguments(request, limits, extra=["url"])
        results = await service.run(lambda: engine.related(url, **arguments))
        return JSON(serialize.results_json(results))

    @_json_errors
    async def api_documents(request: Request) -> Response:
        url = _required(request, "url", limits)
        _no_other_parameters(request, "url")
        document = await service.run(lambda: engine.document(url))
        return JSON(serialize.document_json(document))

    @_json_errors
    async def api_stats(request: Request) -> Response:
        _no_other_parameters(request)
        stats = await service.run(engine.stats)
        data = serialize.stats_json(stats)
        data.pop("index_dir")  # where the server keeps its files is none of a client's business
        return JSON(data)

    @_json_errors
    async def healthz(request: Request) -> Response:
        count = await service.run(engine.document_count)
        return JSON({"status": "ok", "documents": count})

    @_json_errors
    async def openapi(request: Request) -> Response:
        return JSON(openapi_description(limits))

    def asset(name: str) -> Endpoint:
        body, media_type = static[name]

        async def serve(request: Request) -> Response:
            # Revalidated on every load, so a new version of the page is never mixed with old code.
            return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})

        return serve

    routes = [
        Route("/", asset("index.html"), methods=["GET", "HEAD"]),
        Route("/static/app.js", asset("app.js"), methods=["GET", "HEAD"]),
        Route("/static/app.css", asset("app.css"), methods=["GET", "HEAD"]),
        Route("/favicon.svg", asset("favicon.svg"), methods=["GET", "HEAD"]),
        Route("/api/search", api_search, methods=["GET", "HEAD"]),
        Route("/api/related", api_related, methods=["GET", "HEAD"]),
        Route("/api/documents", api_documents, methods=["GET", "HEAD"]),
        Route("/api/stats", api_stats, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi, methods=["GET", "HEAD"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")
        return error_response(status, code, exc.detail if isinstance(exc, HTTPException) else "")

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error answering %s", request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "unexpected error; see the server log")

    middleware = [Middleware(_Guard, max_url_bytes=limits.max_url_bytes)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "HEAD"],
                allow_headers=[],
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=_closing(service),
    )
    app.state.service = service
    return app


def _closing(service: SearchService) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    return lifespan


def _no_other_parameters(request: Request, *allowed: str) -> None:
    unknown = sorted(set(request.query_params.keys()) - set(allowed))
    if unknown:
        raise RequestError(400, "invalid_parameter", f"unknown parameter {unknown[0]!r}")


class _Guard:
    """Security headers on every response; requests with a body or an overlong target refused.

    Written as plain ASGI middleware: it runs on every request, so it must cost next to nothing.
    """

    def __init__(self, app: ASGIApp, *, max_url_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > self.max_url_bytes:
            return error_response(
                400,
                "request_too_large",
                f"the request URL is longer than {self.max_url_bytes} bytes",
            )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.strip() not in (b"", b"0"):
                return error_response(400, "request_too_large", "requests may not have a body")
            if name == b"transfer-encoding":
                return error_response(400, "request_too_large", "requests may not have a body")
        return None


def openapi_description(limits: Limits) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the API, made from the same parameter table it parses."""

    def parameter(name: str, kind: str, description: str, required: bool = False) -> dict[str, Any]:
        schemas: dict[str, dict[str, Any]] = {
            "text": {"type": "string"},
            "texts": {"type": "array", "items": {"type": "string"}},
            "int": {"type": "integer", "minimum": 0},
            "bool": {"type": "boolean"},
            "list": {"type": "string"},
        }
        schema = schemas[kind]
        return {
            "name": name,
            "in": "query",
            "required": required,
            "description": description,
            "schema": schema,
            **({"explode": True} if kind == "texts" else {}),
        }

    shared = [parameter(p.name, p.kind, p.description) for p in SEARCH_PARAMETERS]
    error = {"$ref": "#/components/responses/Error"}

    def operation(summary: str, params: list[dict[str, Any]], errors: Sequence[int]) -> Any:
        responses: dict[str, Any] = {"200": {"description": "OK"}}
        responses.update({str(status): error for status in errors})
        return {"get": {"summary": summary, "parameters": params, "responses": responses}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "news-search", "version": __version__},
        "paths": {
            "/api/search": operation(
                "Search the articles (the shape of `search query --format json`).",
                [parameter("q", "text", "The query (Whoosh query language).", True), *shared],
                (400, 503),
            ),
            "/api/related": operation(
                "Articles on the same subject as one article (`search related --format json`).",
                [parameter("url", "text", "The article's URL.", True), *shared],
                (400, 404, 503),
            ),
            "/api/documents": operation(
                "One stored article with its related articles (`search show --format json`).",
                [parameter("url", "text", "The article's URL.", True)],
                (400, 404, 503),
            ),
            "/api/stats": operation(
                "What the index holds (`search stats --format json`).", [], (503,)
            ),
            "/healthz": operation(
                "200 with the number of documents; 503 without an index.", [], (503,)
            ),
        },
        "components": {
            "responses": {
                "Error": {
                    "description": (
                        "A refused request: 400 bad parameter or query, 404 unknown URL, 503 no "
                        f"index, busy, or a search over {limits.timeout:g} s."
                    ),
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": {
                                        "type": "object",
                                        "properties": {
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                        },
                                    }
                                },
                            }
                        }
                    },
                }
            }
        },
    }
