"""``seqkit serve ckpt_path=<ckpt>``: one checkpoint of any shape over HTTP (FastAPI on uvicorn), no Lightning.

Answers are JSON as pydantic_core writes it (compact, UTF-8). ``/predict`` and ``/predict/many`` skip FastAPI's
per-request work (seqkit.app.fast_paths); the glibc allocator is set for a long run first, and what is alive after
loading is frozen out of the garbage collector's sight (seqkit.app.heap).

- ``POST /predict`` ``{"text": "...", "options": {...}}`` -> predict.py's JSON line for that text (a forecaster:
  ``text`` is the CSV history, the answer its list of rows). Concurrent requests are batched
  (seqkit.app.batcher: ``max_batch_size``, ``max_wait_ms``) and predicted on predict.py's path
  (seqkit.app.served_model).
- ``POST /predict/many`` ``{"texts": [...], "options": {...}}`` -> the list of ``/predict``'s answers, in order
  (each text batched as a request of its own: many sentences for one HTTP round trip).
- ``POST /generate`` (language models) ``{"prompt": "...", "max_new_tokens": 100, "temperature": 0.8, "top_k",
  "top_p", "seed", "condition"}`` -> ``{"text": ...}``, generate.py's sample for those settings;
  ``POST /generate/stream``: the same as server-sent events, a ``{"piece": ...}`` event a token, then an ``end``
  event with ``{"text": ...}``.
- ``GET /health``, ``GET /info`` (the model, its options, the server's settings).

A bad request gets a 4xx answer ``{"error": "<one line>"}`` (422: the body's fields; 400: what the model refuses;
413: a text over ``max_text_length``); a request that fails inside the model gets a 500 with one line, logged,
and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple, Type

from omegaconf import DictConfig

from seqkit import tasks
from seqkit.app.batcher import MAX_BATCH_SIZE, MAX_WAIT_MS, Batcher
from seqkit.app.checkpoint import given_vectors
from seqkit.app.cli import set_threads
from seqkit.app.fast_paths import FastPaths, Handler
from seqkit.app.heap import freeze_startup, steady_heap
from seqkit.app.served_model import RequestError, ServedModel

try:
    from fastapi import Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response, StreamingResponse
    from fastapi.sse import format_sse_event
    from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError
    from pydantic_core import to_json
except ImportError as e:  # the serve extra is optional
    raise ImportError(f"seqkit serve needs the serve extra ({e}): pip install 'seqkit[serve]'") from None

log = logging.getLogger("seqkit.serve")


class PredictRequest(BaseModel):
    """The body of ``POST /predict``."""

    model_config = ConfigDict(extra="forbid")
    text: StrictStr  # one text (a line as predict.py reads it); a forecaster's: the CSV history
    options: Dict[str, Any] = {}  # predict.py's options.* this model takes (GET /info)


class PredictManyRequest(BaseModel):
    """The body of ``POST /predict/many``: several texts answered in one response, in their order."""

    model_config = ConfigDict(extra="forbid")
    texts: List[StrictStr]  # each as PredictRequest's text
    options: Dict[str, Any] = {}  # as PredictRequest's, for every text


BODIES: Dict[str, Type[BaseModel]] = {  # the JSON body of each path that takes a model of one
    "/predict": PredictRequest,
    "/predict/many": PredictManyRequest,
    "/predict/stream": PredictRequest,
}


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line (a model failure as the 500 answer and the log give it)."""
    text = " ".join(str(error).split()) or "no message"
    return text if isinstance(error, ValueError) else f"{type(error).__name__}: {text}"


def build_app(
    ckpt_path: Any,
    max_batch_size: int = MAX_BATCH_SIZE,
    max_wait_ms: float = MAX_WAIT_MS,
    max_text_length: int = 100_000,
    model: Optional[ServedModel] = None,
    **load_kwargs: Any,
) -> FastPaths:
    """The ASGI application serving ``ckpt_path`` (or an already loaded ``model``); run it with uvicorn
    (``serve``) or any ASGI server. ``load_kwargs``: ``seqkit.app.checkpoint.load``'s data overrides.

    ``POST /predict`` and ``/predict/many`` are answered straight from ASGI (seqkit.app.fast_paths: FastAPI's
    per-request work cost more CPU than a small model); every other request, and the OpenAPI docs of all of them,
    by the FastAPI app (``.app``). ``.state.model``, ``.state.batcher``: the served model and its batcher."""
    served = model or ServedModel(ckpt_path, max_text_length=max_text_length, **load_kwargs)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqkit-model")  # the one model thread
    batcher = Batcher(served.predict_batch, executor, max_batch_size, max_wait_ms)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()
        executor.shutdown(wait=True)

    app = FastAPI(title=f"seqkit: {served.shape}", lifespan=lifespan)
    app.state.model, app.state.batcher = served, batcher
    settings = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "max_text_length": max_text_length}

    def error(status: int, message: str) -> Response:
        return json_response(status, to_json({"error": message}))

    def failure(error_: BaseException) -> Tuple[int, bytes]:
        """An exception from the model: a 4xx for what the request asked (bad data or options), else a 500."""
        if isinstance(error_, RequestError):
            return error_.status, to_json({"error": str(error_)})
        if isinstance(error_, ValueError):  # a DataError (request:line: reason) or a bad option value
            return 400, to_json({"error": one_line(error_)})
        log.error("request failed in the model: %s", one_line(error_))
        return 500, to_json({"error": f"the model failed on this request: {one_line(error_)}"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error(422, validation_message(exc.errors(), request.url.path))

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"status": "ok", "batches": batcher.calls, "requests": batcher.items}

    @app.get("/info")
    async def info() -> Dict[str, Any]:
        return {**served.info(), "server": settings}

    async def predict_one(request: PredictRequest) -> Tuple[int, bytes]:
        try:
            served.check_text(request.text)
            key = served.predict_key(request.options)
            answer = await batcher.submit(key, request.text)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            return failure(e)
        return 200, to_json(answer)

    async def predict_many(request: PredictManyRequest) -> Tuple[int, bytes]:
        """Each text as ``/predict`` answers it (batched with every other request's), as one JSON list."""
        try:
            for i, text in enumerate(request.texts):
                try:
                    served.check_text(text)
                except RequestError as e:
                    raise RequestError(f"texts[{i}]: {e}", e.status) from None
            key = served.predict_key(request.options)
            answers = await batcher.submit_many(key, request.texts)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            return failure(e)
        return 200, to_json(answers)

    @app.post("/predict")
    async def predict(request: PredictRequest) -> Response:
        """predict.py's JSON line for one text (answered by the fast path when served by ``build_app``'s app)."""
        return json_response(*await predict_one(request))

    @app.post("/predict/many")
    async def predict_texts(request: PredictManyRequest) -> Response:
        """``/predict``'s answers for several texts, in order (the fast path too)."""
        return json_response(*await predict_many(request))

    @app.post("/generate")
    async def generate(request: Dict[str, Any] = Body(...)) -> Response:
        try:
            prompt, condition, options = served.generation(request)
            text = await asyncio.get_running_loop().run_in_executor(
                executor, served.generate, prompt, condition, options, lambda piece: None
            )
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            return json_response(*failure(e))
        return json_response(200, to_json({"text": text}))

    @app.post("/generate/stream")
    async def generate_stream(request: Dict[str, Any] = Body(...)) -> Response:
        try:
            prompt, condition, options = served.generation(request)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            return json_response(*failure(e))
        produce = lambda on_piece: {"text": served.generate(prompt, condition, options, on_piece)}
        return StreamingResponse(_events(executor, produce), media_type="text/event-stream")

    @app.post("/predict/stream")
    async def predict_stream(request: PredictRequest) -> Response:
        if not served.streams_predictions:
            return json_response(*failure(RequestError(f"a {served.shape} model answers whole; use /predict")))
        if request.options:
            return json_response(
                *failure(RequestError("/predict/stream decodes greedily and takes no options; use /predict"))
            )
        try:
            served.check_text(request.text)
        except RequestError as e:
            return json_response(*failure(e))
        produce = lambda on_piece: served.decode_stream(request.text, on_piece)
        return StreamingResponse(_events(executor, produce), media_type="text/event-stream")

    return FastPaths(
        app, {"/predict": fast_path("/predict", predict_one), "/predict/many": fast_path("/predict/many", predict_many)}
    )


def json_response(status: int, answer: bytes) -> Response:
    return Response(answer, status_code=status, media_type="application/json")


def fast_path(path: str, answer: Callable[[Any], Awaitable[Tuple[int, bytes]]]) -> Handler:
    """A hot path's handler for FastPaths: the body validated as FastAPI validates it for the route (its BODIES
    model, with pydantic's JSON parser; a bad body is the same 422 answer), then answered by ``answer``."""
    body_type = BODIES[path]

    async def handle(body: bytes) -> Tuple[int, bytes]:
        if not body.strip():
            return 422, to_json({"error": "missing body: send a JSON object"})
        try:
            request = body_type.model_validate_json(body)
        except ValidationError as e:
            return 422, to_json({"error": validation_message(e.errors(), path)})
        return await answer(request)

    return handle


class _Stopped(Exception):
    """The client of a stream went away: generation stops at the next token."""


async def _events(executor: ThreadPoolExecutor, produce: Callable) -> AsyncIterator[bytes]:
    """Server-sent events of ``produce(on_piece) -> final answer`` run on the model thread: a ``{"piece": ...}``
    event as each piece is made, then ``end`` with the final answer (or ``error`` with ``{"error": ...}``: a
    request the model refuses or fails on, logged when it is a failure)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    gone = threading.Event()

    def on_piece(piece: str) -> None:
        if gone.is_set():
            raise _Stopped()
        loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))

    def work() -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, ("end", produce(on_piece)))
        except _Stopped:
            pass
        except Exception as e:  # noqa: BLE001 - the stream's last event says what failed
            if not isinstance(e, ValueError):
                log.error("streaming failed in the model: %s", one_line(e))
            loop.call_soon_threadsafe(queue.put_nowait, ("error", one_line(e)))

    loop.run_in_executor(executor, work)
    try:
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                if not value:  # an empty prompt's echo
                    continue
                yield format_sse_event(data_str=to_json({"piece": value}).decode())
            elif kind == "end":
                yield format_sse_event(event="end", data_str=to_json(value).decode())
                return
            else:
                yield format_sse_event(event="error", data_str=to_json({"error": value}).decode())
                return
    finally:
        gone.set()


def validation_message(errors: Any, path: str = "/predict") -> str:
    """The validation errors of a request body to ``path`` (FastAPI's or pydantic's) -> one line on the first
    missing field, else the first error: what is missing or wrong."""
    if not errors:
        return "invalid request"
    first = min(errors, key=lambda e: e.get("type") != "missing")  # a misspelt field: say what is missing
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    name = ".".join(loc) or "the body"
    kind = first.get("type", "")
    if kind == "missing":
        return f"missing field {name!r}" if loc else "missing body: send a JSON object"
    if kind == "extra_forbidden":
        fields = ", ".join(BODIES[path].model_fields) if path in BODIES else "see /docs"
        return f"unknown field {name!r}; a {path} request takes: {fields}"
    if kind == "json_invalid":
        return f"the body is not valid JSON ({first.get('msg', '')})"
    if kind == "string_type":
        return f"field {name!r} must be a string, got {type(first.get('input')).__name__}"
    if kind in ("dict_type", "model_attributes_type", "model_type"):
        return f"{'field ' + repr(name) if loc else 'the body'} must be a JSON object"
    return f"{name}: {first.get('msg', 'invalid')}"


_SETTINGS = {  # serve.yaml's numbers: (the least value, the most, an example override)
    "port": (0, 65535, "port=8000"),
    "max_batch_size": (1, None, "max_batch_size=1024"),
    "max_wait_ms": (0, None, "max_wait_ms=2"),
    "max_text_length": (1, None, "max_text_length=100000"),
    "heap_mmap_threshold_kb": (0, 32768, "heap_mmap_threshold_kb=128"),  # mallopt takes at most 32 MiB
    "heap_arena_max": (0, None, "heap_arena_max=2"),
}


def check_settings(cfg: DictConfig) -> None:
    """serve.yaml's numbers, before anything is loaded: a bad one is a one-line error naming the override."""
    for name, (least, most, example) in _SETTINGS.items():
        value = cfg.get(name)
        kind = (int, float) if name == "max_wait_ms" else int
        if isinstance(value, bool) or not isinstance(value, kind) or value < least or (most and value > most):
            span = f"from {least} to {most}" if most else f">= {least}"
            raise ValueError(f"{name}={value}: give a number {span}, e.g. {example}")
    if not isinstance(cfg.get("gc_freeze"), bool):
        raise ValueError(f"gc_freeze={cfg.get('gc_freeze')}: give true or false")


def serve(cfg: DictConfig) -> None:
    """``seqkit/configs/serve.yaml``'s command: load the checkpoint, serve it until Ctrl-C or SIGTERM."""
    import uvicorn

    set_threads(cfg)
    check_settings(cfg)
    tasks.registry.import_plugins(cfg.get("plugins"))
    heap = steady_heap(cfg.heap_mmap_threshold_kb, cfg.heap_arena_max)  # before the model's tensors are allocated
    app = build_app(
        cfg.ckpt_path,
        max_batch_size=cfg.max_batch_size,
        max_wait_ms=cfg.max_wait_ms,
        max_text_length=cfg.max_text_length,
        **given_vectors(cfg),
    )
    logging.basicConfig(level=logging.INFO, format="[seqkit] %(message)s")
    log.info("serving %s (%s) on http://%s:%s", cfg.ckpt_path, app.state.model.shape, cfg.host, cfg.port)
    if heap:
        log.info("glibc heap: %s", ", ".join(f"{k}={v}" for k, v in heap.items()))
    if cfg.gc_freeze:
        log.info("garbage collector: %d objects alive after loading frozen (gc_freeze=true)", freeze_startup())
    uvicorn.run(app, host=cfg.host, port=int(cfg.port), log_level=cfg.log_level, access_log=cfg.access_log)
