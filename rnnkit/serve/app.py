"""The web app and JSON API of ``rnnkit serve``: FastAPI over the models of :mod:`.models`.

Routes (``NAME`` is a loaded model's name, the run directory's name unless given as NAME=PATH):

- ``GET /``: the models, a link to each one's page; ``GET /m/NAME``: the model's page (plain
  HTML, CSS and JS from ``static/``, no build step); ``GET /docs``: the OpenAPI page.
- ``POST /api/NAME/predict``: the task's answer as JSON (schemas in the OpenAPI page);
  ``POST /api/NAME/generate`` (language models): the text, streamed as it is written.
- ``GET /api/models``: what is loaded; ``GET /health``: liveness and the batchers' counts.

Every model call runs in the server's torch thread (the event loop is never blocked by one), and
requests to one model are micro-batched (:mod:`.batcher`). Refusals are JSON ``{"detail": ...}``:
a body over the limit 413, bad or over-long input 422, too many requests in flight 429, an
unknown model 404, a model that failed on the request 500 (with the error); the server goes on
serving after each.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import InputError, RnnkitError
from .batcher import MicroBatcher, in_thread, torch_thread
from .models import LanguageModel, Limits, Served, load

STATIC = Path(__file__).parent / "static"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
log = logging.getLogger(__name__)


def model_name(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after its last part): the name in URLs and the run directory."""
    name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path_ = Path(path)
    name = name or path_.resolve().name
    if not NAME.match(name):
        raise InputError(
            f"model name {name!r} (from {spec!r}) may hold only letters, digits, '.', '_' and '-'; "
            "name it with NAME=PATH"
        )
    return name, path_


def load_models(specs: list[str], limits: Limits) -> dict[str, Any]:
    """The adapters of the runs ``specs`` (``PATH`` or ``NAME=PATH``), by name; a name twice is an
    error. They load in the server's torch thread (:func:`.batcher.torch_thread`), where they will run."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, path = model_name(spec)
        if name in named:
            raise InputError(f"two runs are named {name!r}; name them with NAME=PATH")
        named[name] = path
    return torch_thread().submit(lambda: {name: load(path, limits) for name, path in named.items()}).result()


class Guard:
    """ASGI middleware for ``/api/``: the body size limit (413) and the number of requests in flight
    (429), checked before any JSON is parsed; a streamed answer counts until its last byte."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app, self.limits = app, limits
        self.in_flight = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limits.max_concurrent:
            await _refuse(
                send, 429, f"more than {self.limits.max_concurrent} requests in flight; retry later"
            )
            return
        self.in_flight += 1
        try:
            body = await self._body(scope, receive)
            if body is None:
                await _refuse(send, 413, f"the request body is over {self.limits.max_body_bytes} bytes")
                return
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.in_flight -= 1

    async def _body(self, scope: dict, receive: Any) -> bytes | None:
        limit = self.limits.max_body_bytes
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    models: Mapping[str, Any], limits: Limits | None = None, cors: list[str] | None = None
) -> FastAPI:
    """The app serving ``models`` (name -> adapter, see :func:`load_models`). ``cors``: origins
    allowed to call the API from their pages (none by default)."""
    limits = limits or Limits()
    served = {name: Served(name, Path(name), model, torch_thread()) for name, model in models.items()}
    for entry in served.values():
        if not isinstance(entry.model, LanguageModel):
            entry.batcher = MicroBatcher(
                entry.model.answer, entry.executor, limits.max_batch, limits.max_wait_ms
            )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for entry in served.values():
            if entry.batcher is not None:
                await entry.batcher.close()

    app = FastAPI(
        title="rnnkit",
        version=__version__,
        description="Recurrent networks trained with rnnkit: "
        + ", ".join(f"{n} ({m.task})" for n, m in models.items()),
        lifespan=lifespan,
        redoc_url=None,
    )
    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST"])
    app.add_middleware(Guard, limits=limits)
    app.state.served, app.state.limits = served, limits

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(RnnkitError)
    async def rnnkit_error(request: Request, error: RnnkitError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "models": {
                name: {"task": e.model.task, **(e.batcher.stats.as_dict() if e.batcher else {})}
                for name, e in served.items()
            },
        }

    @app.get("/api/models")
    async def list_models() -> list[dict]:
        return [
            {"name": name, "task": e.model.task, "page": f"/m/{name}", **e.model.describe()}
            for name, e in served.items()
        ]

    for entry in served.values():
        _add_routes(app, entry, limits)

    @app.api_route("/api/{name}/{action}", methods=["GET", "POST"], include_in_schema=False)
    async def unknown(name: str, action: str) -> JSONResponse:
        if name not in served:
            return JSONResponse({"detail": f"no model named {name!r}; loaded: {', '.join(served)}"}, 404)
        return JSONResponse({"detail": f"{name} has no {action!r}; see /docs"}, 404)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/m/{name}", include_in_schema=False)
    async def page(name: str) -> Any:
        if name not in served:
            return JSONResponse({"detail": f"no model named {name!r}; loaded: {', '.join(served)}"}, 404)
        return FileResponse(STATIC / served[name].model.page)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _check_text(text: str, limits: Limits, field: str = "text") -> None:
    if len(text) > limits.max_chars:
        raise InputError(f"{field} holds {len(text)} characters; the limit is {limits.max_chars}")


def _add_routes(app: FastAPI, entry: Served, limits: Limits) -> None:
    """``/api/NAME/predict`` (and ``/generate`` for a language model) with the task's schemas."""
    model, name = entry.model, entry.name

    if isinstance(model, LanguageModel):

        def checked(request: Any) -> Any:
            _check_text(request.prime, limits, "prime")
            model.check(request)
            return request

        async def generate(request: Any) -> StreamingResponse:
            characters = model.generate(checked(request))

            async def stream() -> AsyncIterator[str]:
                while chunk := await in_thread(entry.executor, LanguageModel.chunk, characters):
                    yield chunk

            return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")

        async def write(request: Any) -> dict:
            characters = model.generate(checked(request))
            text = await in_thread(entry.executor, "".join, characters)
            return {"text": text}

        # the task's request schema: FastAPI reads the body with it (and writes it in the OpenAPI page)
        generate.__annotations__["request"] = write.__annotations__["request"] = model.Request
        app.post(f"/api/{name}/generate", summary=f"{name}: text streamed as it is written", tags=[name])(
            generate
        )
        app.post(f"/api/{name}/predict", summary=f"{name}: the whole text as JSON", tags=[name])(write)
        return

    async def predict(request: Any) -> Any:
        _check_text(request.text, limits)
        model.check(request)
        try:
            return await entry.batcher.submit(request)
        except RnnkitError:
            raise  # the model refused the input: a 422 (the handlers above)
        except Exception as error:  # the model (or its batch) failed, logged by the batcher: a 500
            detail = f"the model {name!r} failed on this request: {type(error).__name__}: {error}"
            return JSONResponse({"detail": detail}, status_code=500)

    predict.__annotations__["request"] = model.Request
    app.post(
        f"/api/{name}/predict", response_model=model.Answer, summary=f"{name}: {model.task}", tags=[name]
    )(predict)


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread while the block runs; yields its base URL
    (``port=0``: a free port). For tests, benchmarks and notebooks."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="rnnkit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
