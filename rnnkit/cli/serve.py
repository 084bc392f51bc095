"""``rnnkit serve RUN [RUN ...]``: the runs' web pages and JSON API on one port (see rnnkit.serve)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ..errors import ConfigError, InputError
from ..runtime import PARALLEL_ROWS
from . import catalog, common

DEFAULTS = catalog.SERVE_LIMITS


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve trained runs: a web page and a JSON API per model (FastAPI + uvicorn)",
        description="Serve runs of the sentiment, language-model, tagging and translation tasks. Each run is "
        "named after its directory (or NAME=PATH); its page is /m/NAME, its API /api/NAME/predict, the "
        "OpenAPI page /docs.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or NAME=PATH")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    common.add_defaulted(
        parser,
        ("--max-batch", int, DEFAULTS["max_batch"], "requests per model call", "1: no micro-batching"),
        ("--max-wait-ms", float, DEFAULTS["max_wait_ms"], "how long a batch waits for company"),
        ("--max-chars", int, DEFAULTS["max_chars"], "characters of one text"),
        (
            "--max-concurrent",
            int,
            DEFAULTS["max_concurrent"],
            "API requests in flight, more are answered 429",
        ),
    )
    parser.add_argument(
        "--cors", action="append", metavar="ORIGIN", help="allow pages of ORIGIN to call the API"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help=f"torch threads for the models (default: 1 with --max-batch under {PARALLEL_ROWS}, too little "
        "work per step to share; else the cores that other work leaves idle, at most one fewer than "
        "torch's default: the event loop, HTTP and tokenizing need a core; OMP_NUM_THREADS, when set, "
        "is kept; docs/threads.md)",
    )
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import Limits, create_app, load_models
    except ImportError as error:
        raise ConfigError(
            f"rnnkit serve needs FastAPI and uvicorn ({error}); pip install -e '.[serve]' (or make) "
            "in the rnnkit checkout"
        ) from None
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    for flag, value in (
        ("--max-batch", args.max_batch),
        ("--max-chars", args.max_chars),
        ("--max-concurrent", args.max_concurrent),
    ):
        if value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    # a call runs at most --max-batch requests side by side; one core is left to the event loop
    common.use_inference_threads(args.threads, args.max_batch, spare=1)
    limits = Limits(
        max_chars=args.max_chars,
        max_concurrent=args.max_concurrent,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
    )
    models = load_models(args.runs, limits)
    if not _loopback(args.host):
        print(f"warning: serving on {args.host}: other machines can reach these models", file=sys.stderr)
    for name, model in models.items():
        print(
            f"{name}: a {model.task} model, its page at /m/{name}, its API at /api/{name}/predict",
            file=sys.stderr,
        )
    app = create_app(models, limits, args.cors)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
