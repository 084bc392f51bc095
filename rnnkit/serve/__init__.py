"""``rnnkit serve``: trained runs behind a web page and a JSON API (FastAPI + uvicorn), with
micro-batching of concurrent requests. Needs the ``serve`` extra: ``pip install -e '.[serve]'`` (or
``make``) in the rnnkit checkout; rnnkit is not on PyPI.

    from rnnkit.serve import Limits, create_app, load_models
    app = create_app(load_models(["runs/seed"], Limits()))   # then: uvicorn.run(app)
"""

from .models import Limits

__all__ = ["Limits", "create_app", "load_models", "running"]


def __getattr__(name: str):
    # FastAPI is imported when the app is made, so that `import rnnkit.serve` needs only rnnkit
    if name in ("create_app", "load_models", "running"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
