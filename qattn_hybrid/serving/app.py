"""The HTTP server: FastAPI app, auth, input validation, metrics and the web page.

    GET  /            the web page (static files in qattn_hybrid/serving/static, no CDN)
    GET  /healthz     alive
    GET  /readyz      200 once the model is loaded, 503 before
    GET  /metrics     Prometheus text format
    GET  /v1/tasks    the model's tasks and labels                      (auth)
    POST /v1/predict  {"texts": [...], "tasks": [...]} -> predictions   (auth)

With an API key every /v1/* call needs ``Authorization: Bearer <key>``: 401 without it, 403
with a wrong one (compared in constant time; the key is never logged). Bad input gets a 4xx
with a JSON ``{"error": ..., "detail": ...}`` saying what was expected.

Personal data (emails, phone, card, IBAN and account numbers) is masked in the server's logs
and in stored request samples (``store_samples``) unless ``mask`` is False (``--no-mask``).

Needs the extra ``serve`` (fastapi, uvicorn); ``qattn serve`` checks before importing this.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from qattn_hybrid.serving.batching import DynamicBatcher
from qattn_hybrid.serving.masking import MaskingFilter
from qattn_hybrid.serving.metrics import Metrics
from qattn_hybrid.serving.samples import SampleStore

__all__ = ["ServerSettings", "create_app", "load_predictor", "read_api_key", "run_server"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
ROUTES = ("/", "/healthz", "/readyz", "/metrics", "/v1/tasks", "/v1/predict")
# loggers that may carry request text; a MaskingFilter goes on each while an app runs
SERVER_LOGGERS = ("qattn_hybrid.serving.app", "qattn_hybrid.serving.batching",
                  "qattn_hybrid.serving.samples", "uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass
class ServerSettings:
    run_dir: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    api_key_file: str | None = None
    max_batch: int = 64  # texts per forward pass
    max_wait_ms: float = 10.0  # how long a request waits for others to join its batch
    fold: bool = True  # folded circuits (exact, fast); False: simulate the circuits
    max_texts: int = 64  # texts per request
    max_bytes: int = 65536  # request body size
    max_text_chars: int = 4096  # characters per text
    store_samples: str | None = None  # JSONL file of served texts and their labels
    max_samples: int = 1000  # lines that file may hold
    mask: bool = True  # mask personal data in logs and stored samples

    def check(self) -> None:
        for name in ("port", "max_batch", "max_texts", "max_bytes", "max_text_chars",
                     "max_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name.replace('_', '-')} must be a positive int; got {value!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max-wait-ms must be >= 0; got {self.max_wait_ms}")
        if self.api_key_file is None and self.host not in LOCAL_HOSTS:
            raise ValueError(f"host must be localhost ({', '.join(LOCAL_HOSTS)}) when no "
                             f"--api-key-file is given; got {self.host!r}")


class BadRequest(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def read_api_key(path) -> str:
    """The key in `path` (surrounding whitespace removed); never logged."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"api-key-file {p} does not exist")
    key = p.read_text(encoding="utf-8").strip()
    if len(key) < 16 or any(c.isspace() for c in key):
        raise ValueError(f"api-key-file must hold one key of at least 16 characters without "
                         f"spaces; got {len(key)} characters in {p}")
    return key


def load_predictor(run_dir, fold: bool = True):
    """A ModelPredictor for the model in `run_dir`: its circuits folded, or as trained."""
    from qattn_hybrid.serving.export import load_model
    from qattn_hybrid.serving.predictor import ModelPredictor

    model = load_model(run_dir)
    if fold and model.config.attention != "classical":
        if model.config.circuit.reupload:
            raise ValueError("reupload must be False to serve the folded form; got True "
                             "(serve with --no-fold)")
        model = model.fold()
    return ModelPredictor(model)


# ----------------------------------------------------------------------------- validation
def parse_request(body: bytes, tasks: list[str], settings: ServerSettings):
    """(texts, tasks or None) from a request body; BadRequest says what was expected."""
    if len(body) > settings.max_bytes:
        raise BadRequest(413, "payload_too_large", f"request body must be at most "
                         f"{settings.max_bytes} bytes; got {len(body)}")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(400, "invalid_json", f"body must be a JSON object; got invalid "
                         f"JSON ({err})") from None
    if not isinstance(data, dict):
        raise BadRequest(422, "invalid_request", f"body must be a JSON object "
                         f'{{"texts": [...], "tasks": [...]}}; got {type(data).__name__}')
    unknown = sorted(set(data) - {"texts", "tasks"})
    if unknown:
        raise BadRequest(422, "invalid_request", f"body keys must be 'texts' and optionally "
                         f"'tasks'; got unknown {unknown}")
    texts = data.get("texts")
    if not isinstance(texts, list) or not texts:
        raise BadRequest(422, "invalid_texts", f"texts must be a non-empty list of strings; "
                         f"got {_kind(texts)}")
    if len(texts) > settings.max_texts:
        raise BadRequest(413, "too_many_texts", f"texts must hold at most "
                         f"{settings.max_texts} strings; got {len(texts)}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(422, "invalid_texts", f"texts[{i}] must be a string; got "
                             f"{_kind(text)}")
        if not text.strip():
            raise BadRequest(422, "empty_text", f"texts[{i}] must contain non-whitespace "
                             f"characters; got {text!r}")
        if len(text) > settings.max_text_chars:
            raise BadRequest(413, "text_too_long", f"texts[{i}] must be at most "
                             f"{settings.max_text_chars} characters; got {len(text)}")
    wanted = data.get("tasks")
    if wanted is None:
        return texts, None
    if not isinstance(wanted, list) or not wanted or not all(isinstance(t, str) for t in wanted):
        raise BadRequest(422, "invalid_tasks", f"tasks must be a non-empty list of task names "
                         f"(or omitted for all); got {_kind(wanted)}")
    missing = [t for t in wanted if t not in tasks]
    if missing:
        raise BadRequest(422, "unknown_task", f"tasks must be among {tasks}; got unknown "
                         f"{missing}")
    return texts, list(dict.fromkeys(wanted))


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            dict: "an object"}.get(type(value), type(value).__name__)


def check_auth(header: str | None, key: str | None) -> None:
    """None when allowed; BadRequest 401 (no or malformed header) or 403 (wrong key)."""
    if key is None:
        return
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise BadRequest(401, "unauthorized", "Authorization must be 'Bearer <API key>'; got "
                         + ("none" if not header else "another scheme"))
    if not hmac.compare_digest(given.strip().encode("utf-8"), key.encode("utf-8")):
        raise BadRequest(403, "forbidden", "the API key is not valid")


# ----------------------------------------------------------------------------- the app
def create_app(settings: ServerSettings, predictor=None, predictor_factory=None,
               api_key: str | None = None):
    """The FastAPI app. Give a loaded `predictor`, or a `predictor_factory()` run in the
    background at startup (/readyz says when it is done).

    One function on purpose: the route handlers are closures over one app's state (model,
    batcher, metrics, key), so two apps in one process (tests) never share any."""
    metrics = Metrics()
    state = {"predictor": predictor, "batcher": None, "error": None}
    samples = (SampleStore(settings.store_samples, settings.max_samples, settings.mask)
               if settings.store_samples else None)
    masking = MaskingFilter() if settings.mask else None

    def queued():
        b = state["batcher"]
        return (0, 0) if b is None else (b.queued_requests, b.queued_texts)

    metrics.queue = queued

    def ready(p) -> None:
        state["predictor"] = p
        state["batcher"] = DynamicBatcher(p.predict, settings.max_batch, settings.max_wait_ms,
                                          on_batch=metrics.batch)
        metrics.ready = True

    def load() -> None:
        try:
            ready(predictor_factory())
            log.info("Model loaded; ready")
        except Exception as err:  # reported by /readyz; the server stays up
            state["error"] = f"{type(err).__name__}: {err}"
            log.error("Loading the model failed: %s", state["error"])

    if predictor is not None:
        ready(predictor)

    async def lifespan(app):
        for name in SERVER_LOGGERS if masking else ():
            logging.getLogger(name).addFilter(masking)
        if predictor is None and predictor_factory is not None:
            threading.Thread(target=load, name="qattn-load", daemon=True).start()
        yield
        if state["batcher"] is not None:
            await state["batcher"].close()
        for name in SERVER_LOGGERS if masking else ():
            logging.getLogger(name).removeFilter(masking)

    app = FastAPI(title="qattn_hybrid", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def error(status: int, kind: str, detail: str, headers=None):
        metrics.error(kind)
        return JSONResponse({"error": kind, "detail": detail}, status_code=status,
                            headers=headers)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # never crash on a request; never echo internals
            log.exception("unhandled error on %s", request.url.path)
            response = error(500, "internal", "internal server error")
        path = request.url.path if request.url.path in ROUTES else (
            "/static" if request.url.path.startswith("/static/") else "other")
        metrics.request(path, response.status_code, time.perf_counter() - start)
        return response

    def guard(request: Request):
        try:
            check_auth(request.headers.get("authorization"), api_key)
        except BadRequest as err:
            headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
            return error(err.status, err.error, err.detail, headers)
        if state["predictor"] is None:
            return error(503, "not_ready", "the model is still loading"
                         if state["error"] is None else "the model failed to load")
        return None

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        if state["predictor"] is None:
            detail = state["error"] or "loading"
            return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
        return {"status": "ready", "folded": settings.fold,
                "tasks": [t["name"] for t in state["predictor"].tasks]}

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/tasks")
    async def tasks(request: Request):
        refused = guard(request)
        return refused or {"tasks": state["predictor"].tasks, "folded": settings.fold,
                           "max_texts": settings.max_texts}

    @app.post("/v1/predict")
    async def predict(request: Request):
        refused = guard(request)
        if refused:
            return refused
        names = [t["name"] for t in state["predictor"].tasks]
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > settings.max_bytes:  # refuse before reading a large body
                raise BadRequest(413, "payload_too_large", f"request body must be at most "
                                 f"{settings.max_bytes} bytes; got {length}")
            texts, wanted = parse_request(await _read_body(request, settings.max_bytes),
                                          names, settings)
        except BadRequest as err:
            log.info("Rejected /v1/predict (%d %s): %s", err.status, err.error, err.detail)
            return error(err.status, err.error, err.detail)
        except ValueError:
            return error(400, "invalid_request", "Content-Length must be an integer")
        log.debug("Predict %d texts: %s", len(texts), texts)
        results = await state["batcher"].predict(texts, wanted)
        if samples is not None:
            try:
                samples.add(texts, results)
            except OSError as err:  # the answer matters more than the sample
                log.error("Storing samples in %s failed: %s", samples.path, err)
        return {"predictions": [{"text": t, **r} for t, r in zip(texts, results)]}

    app.state.metrics, app.state.settings = metrics, settings
    return app


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read until it passes `limit` bytes (then a 413: a chunked upload without a
    Content-Length is never held in memory whole)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, "payload_too_large", f"request body must be at most "
                             f"{limit} bytes; got more")
    return bytes(body)


def run_server(settings: ServerSettings, say=lambda line: None) -> None:
    """Check the settings, then serve until interrupted (`say` prints the startup lines)."""
    import uvicorn

    settings.check()
    key = read_api_key(settings.api_key_file) if settings.api_key_file else None
    app = create_app(settings, predictor_factory=lambda: load_predictor(settings.run_dir,
                                                                         settings.fold),
                     api_key=key)
    say(f"Serving {settings.run_dir} ({'folded circuits' if settings.fold else 'circuit path'})"
        f" on http://{settings.host}:{settings.port}/")
    say("API key required on /v1/* (Authorization: Bearer ...)" if key else
        "No API key: listening on localhost only (give --api-key-file to serve other hosts)")
    say("Personal data masked in logs and samples" if settings.mask else
        "Masking off (--no-mask): logs and samples hold texts as sent")
    if settings.store_samples:
        say(f"Storing up to {settings.max_samples} served texts in {settings.store_samples}")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False)
