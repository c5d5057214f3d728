"""seqkit serve with a real server (uvicorn on a free port, in a thread) and a real client (httpx): per shape, an
answer is predict.py's line for the same text (generate.py's sample for a language model); concurrent requests
are batched without changing an answer; bad requests get a 4xx JSON error, a model failure a 500 and a logged
line, and the server goes on serving; shutdown is clean. Checkpoints: tiny ones trained once for the module."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import marker_examples, write_tab_file
from hydra import compose, initialize_config_dir
from test_seq2seq import reversal_rows
from test_tagger_scripts import conll_text

from seqkit.app.main import main as run_command
from seqkit.app.serve import build_app

REPO = Path(__file__).resolve().parents[1]
TINY = ("trainer.max_epochs=1", "trainer.enable_progress_bar=false", "++trainer.limit_train_batches=2", "threads=1")


def _train(folder: Path, *overrides: str) -> Path:
    from seqkit.app.train import train

    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={folder}", "test=false", *TINY, *overrides])
    train(cfg)
    return folder / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """shape -> (tiny checkpoint, texts to ask it): every shape trained for one epoch of two batches."""
    root = tmp_path_factory.mktemp("serve")
    made = {}
    write_tab_file(root / "sentiment.tsv", marker_examples(48, seed=0))
    made["classification"] = _train(
        root / "classification",
        f"data.train_path={root / 'sentiment.tsv'}",
        f"data.val_path={root / 'sentiment.tsv'}",
        "backbone.hidden_size=8",
        "model.embedding_dim=8",
    )
    (root / "ner.conll").write_text(conll_text(20, 1), encoding="utf-8")
    made["tagging"] = _train(
        root / "tagging",
        "task=ner",
        "data.builtin=null",
        f"data.train_path={root / 'ner.conll'}",
        f"data.val_path={root / 'ner.conll'}",
        "embedding.pretrained=null",
        "embedding.dim=8",
        "backbone.hidden_size=8",
    )
    (root / "g2p.tsv").write_text("".join(reversal_rows(40, 0)), encoding="utf-8")
    made["seq2seq"] = _train(
        root / "seq2seq",
        "task=g2p",
        "data.builtin=null",
        f"data.train_path={root / 'g2p.tsv'}",
        f"data.val_path={root / 'g2p.tsv'}",
        "backbone.hidden_size=8",
        "embedding.dim=8",
        "model.decode.beam_size=2",
    )
    (root / "lm.txt").write_text("to be or not to be\nthat is the question\n" * 6, encoding="utf-8")
    made["language_model"] = _train(
        root / "language_model",
        "task=lm",
        "data.builtin=null",
        f"data.train_path={root / 'lm.txt'}",
        f"data.val_path={root / 'lm.txt'}",
        "backbone.hidden_size=8",
        "model.sample_length=0",
    )
    rows = ["t,y"] + [f"{i},{10 + 3 * math.sin(2 * math.pi * i / 12):.4f}" for i in range(60)]
    (root / "series.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    made["forecasting"] = _train(
        root / "forecasting",
        "task=forecast",
        "data.builtin=null",
        f"data.path={root / 'series.csv'}",
        "data.time_column=null",
        "data.target=y",
        "data.calendar=[]",
        "data.split=[36,12,12]",
        "data.input_length=12",
        "data.horizon=3",
        "data.season=12",
        "backbone.hidden_size=6",
        "~callbacks.forecast_plot",
    )
    return made


@contextlib.contextmanager
def running(app):
    """``app`` served by uvicorn on a free port of 127.0.0.1 in a thread -> (httpx client, server); stopped (and
    its thread joined) at the end."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the server did not start"
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=30) as client:
            yield client, server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def predicted(ckpt: Path, texts, tmp_path: Path, *options: str):
    """predict.py's JSON lines for ``texts`` (one a line), run as the command runs them (seqkit.app.main)."""
    source, output = tmp_path / "input.txt", tmp_path / "output.jsonl"
    source.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    run_command("predict", [f"ckpt_path={ckpt}", f"input={source}", f"output={output}", *options])
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


SENTENCES = [" ".join(words) for words in (t.split() for t, _ in marker_examples(24, seed=5))]


@pytest.fixture(scope="module")
def classifier_server(checkpoints):
    app = build_app(checkpoints["classification"], max_batch_size=8, max_wait_ms=20, max_text_length=400)
    with running(app) as (client, server):
        yield client, server, app


# ---- answers equal predict.py's, per shape --------------------------------------------------------------------
def test_classifier_answers_are_predict_lines_sequentially_and_concurrently(checkpoints, classifier_server, tmp_path):
    client, _, app = classifier_server
    expected = predicted(checkpoints["classification"], SENTENCES, tmp_path, "options.input_format=text")
    one_by_one = [client.post("/predict", json={"text": t}).json() for t in SENTENCES]
    assert one_by_one == expected
    before = client.get("/health").json()
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda t: client.post("/predict", json={"text": t}).json(), SENTENCES * 2))
    assert together == expected * 2
    after = client.get("/health").json()
    assert after["requests"] - before["requests"] == 2 * len(SENTENCES)
    assert after["batches"] - before["batches"] < 2 * len(SENTENCES)  # some requests shared a batch


def test_many_texts_in_one_request_are_each_texts_own_answer_in_order(checkpoints, classifier_server, tmp_path):
    client, _, _ = classifier_server
    expected = predicted(checkpoints["classification"], SENTENCES, tmp_path, "options.input_format=text")
    assert client.post("/predict/many", json={"texts": SENTENCES}).json() == expected
    assert client.post("/predict/many", json={"texts": []}).json() == []
    bad = client.post("/predict/many", json={"texts": [SENTENCES[0], "  "]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("texts[1]: text is empty")
    wrong_type = client.post("/predict/many", json={"texts": "one text"})
    assert wrong_type.status_code == 422 and "\n" not in wrong_type.json()["error"]


def test_tagger_answers_with_options_are_predict_lines(checkpoints, tmp_path):
    texts = ["w1 w2 w3", "w4 w5 w6 w7 w8 w9", "w10"]
    app = build_app(checkpoints["tagging"], max_wait_ms=20)
    with running(app) as (client, _):
        info = client.get("/info").json()
        assert info["shape"] == "tagging" and set(info["predict"]["options"]) == {
            "input_format",
            "max_length",
            "outside_bias",
            "output_scheme",
            "too_long",
        }
        with ThreadPoolExecutor(3) as pool:
            plain = list(pool.map(lambda t: client.post("/predict", json={"text": t}).json(), texts))
        assert plain == predicted(checkpoints["tagging"], texts, tmp_path, "options.input_format=text")
        split = {"max_length": 2, "too_long": "split"}
        got = client.post("/predict", json={"text": texts[1], "options": split}).json()
        assert (
            got
            == predicted(checkpoints["tagging"], texts[1:2], tmp_path, "options.input_format=text", *_overrides(split))[
                0
            ]
        )
        assert len(got["tags"]) == 6
        bias = {"outside_bias": 1000.0}  # issue 26: per request, over the checkpoint's model.outside_bias
        biased = [client.post("/predict", json={"text": t, "options": bias}).json() for t in texts]
        assert biased == predicted(
            checkpoints["tagging"], texts, tmp_path, "options.input_format=text", *_overrides(bias)
        )
        assert not any("O" in row["tags"] for row in biased)
        refused = client.post("/predict", json={"text": texts[0], "options": {"outside_bias": -1.0}})
        assert refused.status_code == 400 and refused.json()["error"].startswith("options.outside_bias must be")
        assert [client.post("/predict", json={"text": t}).json() for t in texts] == plain  # the checkpoint's again


def _overrides(options):
    return [f"options.{k}={v}" for k, v in options.items()]


def test_seq2seq_answers_beam_options_and_a_stream_of_tokens(checkpoints, tmp_path):
    ckpt = checkpoints["seq2seq"]
    texts = ["abc", "bead", "cab"]
    app = build_app(ckpt, max_wait_ms=20)
    with running(app) as (client, _):
        assert [client.post("/predict", json={"text": t}).json() for t in texts] == predicted(ckpt, texts, tmp_path)
        options = {"beam_size": 1, "n_best": 1}
        with ThreadPoolExecutor(3) as pool:  # other options in the same moment: batched apart
            mixed = list(
                pool.map(
                    lambda t: (
                        client.post("/predict", json={"text": t}).json(),
                        client.post("/predict", json={"text": t, "options": options}).json(),
                    ),
                    texts,
                )
            )
        greedy = predicted(ckpt, texts, tmp_path, *_overrides(options))
        assert [m[0] for m in mixed] == predicted(ckpt, texts, tmp_path) and [m[1] for m in mixed] == greedy
        with client.stream("POST", "/predict/stream", json={"text": "bead"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
        pieces = [json.loads(data)["piece"] for kind, data in events if kind == "message"]
        kind, data = events[-1]
        assert kind == "end" and json.loads(data)["output"] == greedy[1]["output"]
        assert len(pieces) >= 1 and " ".join(pieces) == greedy[1]["output"]  # a phone an event


def _events(response):
    """(event, data) of a server-sent event stream."""
    events, kind, data = [], "message", None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif not line and data is not None:
            events.append((kind, data))
            kind, data = "message", None
    return events


def test_language_model_scores_like_predict_and_samples_like_generate(checkpoints, tmp_path, capsys):
    ckpt = checkpoints["language_model"]
    texts = ["to be", "that is"]
    settings = {"prompt": "to", "max_new_tokens": 12, "temperature": 1.0, "top_k": 5, "seed": 3}
    capsys.readouterr()
    run_command("generate", [f"ckpt_path={ckpt}", *(f"{k}={v}" for k, v in settings.items())])
    generated = capsys.readouterr().out
    app = build_app(ckpt)
    with running(app) as (client, _):
        assert [client.post("/predict", json={"text": t}).json() for t in texts] == predicted(ckpt, texts, tmp_path)
        assert client.post("/generate", json=settings).json() == {"text": generated[:-1]}  # generate.py ends a line
        with client.stream("POST", "/generate/stream", json=settings) as response:
            events = _events(response)
        pieces = "".join(json.loads(data)["piece"] for kind, data in events if kind == "message")
        assert (events[-1][0], json.loads(events[-1][1])) == ("end", {"text": generated[:-1]})
        assert pieces == generated[:-1] and len(events) > 3  # a token an event
        wrong = client.post("/generate", json={**settings, "temperature": "hot"})
        assert wrong.status_code == 400 and "'temperature' must be a number" in wrong.json()["error"]
        wrong = client.post("/generate", json={**settings, "beam_size": 2})
        assert wrong.status_code == 400 and "unknown option 'beam_size'" in wrong.json()["error"]


def test_forecaster_answers_a_csv_history_with_predict_rows(checkpoints, tmp_path):
    ckpt = checkpoints["forecasting"]
    history = ["t,y"] + [f"{i},{10 + i % 5}" for i in range(20)]
    app = build_app(ckpt)
    with running(app) as (client, _):
        got = client.post("/predict", json={"text": "\n".join(history)}).json()
        assert got == predicted(ckpt, history, tmp_path) and len(got) == 3
        short = client.post("/predict", json={"text": "\n".join(history[:5])})
        assert short.status_code == 400 and "the model reads the last input_length = 12" in short.json()["error"]


# ---- errors ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"txt": "zig w1 tic"}, 422, "missing field 'text'"),
        ({"text": 3}, 422, "field 'text' must be a string, got int"),
        ({"text": "zig tic", "extra": 1}, 422, "unknown field 'extra'; a /predict request takes: text, options"),
        ({"text": "zig " * 200}, 413, "text of 800 characters is longer than the server's max_text_length=400"),
        ({"text": "zig tic", "options": {"beam_size": 2}}, 400, "unknown option 'beam_size'; this model takes: "),
        ({"text": "zig tic", "options": {"max_length": "9"}}, 400, "option 'max_length' must be a whole number"),
        ({"text": "zig w1 tic", "options": {"max_length": 2}}, 400, "<request>:1: text of 3 tokens is longer than"),
        ({"text": "zig\ntic"}, 400, "text holds a line end: send one text a request"),
        ({"text": "  "}, 400, "text is empty"),
        ("not json", 422, "the body is not valid JSON"),
    ],
)
def test_a_bad_request_gets_a_json_error_that_says_what_is_wrong(classifier_server, body, status, message):
    client, _, _ = classifier_server
    if isinstance(body, str):
        response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/predict", json=body)
    assert response.status_code == status
    assert message in response.json()["error"] and "\n" not in response.json()["error"]
    assert client.post("/predict", json={"text": "zig w1 tic"}).status_code == 200  # still serving


BAD_BODIES = [  # (path, body, the 422 error): the fast path and FastAPI's route for the path say the same
    ("/predict", b'{"txt": "zig", "x": 1}', "missing field 'text'"),
    ("/predict", b"", "missing body: send a JSON object"),
    ("/predict", b"[1]", "the body must be a JSON object"),
    ("/predict", b'{"text": "zig", "options": [1]}', "field 'options' must be a JSON object"),
    (
        "/predict/many",
        b'{"texts": ["zig"], "x": 1}',
        "unknown field 'x'; a /predict/many request takes: texts, options",
    ),
    ("/predict/many", b'{"texts": ["zig", 3]}', "field 'texts.1' must be a string, got int"),
]


def test_the_fast_paths_answer_bad_bodies_as_the_fastapi_routes_do(checkpoints, classifier_server):
    """build_app's /predict and /predict/many skip FastAPI per request (seqkit.app.fast_paths); its FastAPI app
    (``.app``, whose routes the OpenAPI docs describe) served alone answers every bad body with the same 422."""
    fast, _, _ = classifier_server
    with running(build_app(checkpoints["classification"]).app) as (routed, _):
        for path, body, message in BAD_BODIES:
            answers = [c.post(path, content=body, headers={"content-type": "application/json"}) for c in (fast, routed)]
            assert [(a.status_code, a.json()) for a in answers] == [(422, {"error": message})] * 2, path
        good = [c.post("/predict/many", json={"texts": SENTENCES[:3]}).json() for c in (fast, routed)]
        assert good[0] == good[1] and len(good[0]) == 3
        assert fast.get("/predict").status_code == 405  # only POST takes the fast path; the rest is FastAPI's
        schema = fast.get("/openapi.json").json()
        for path, body_type in [("/predict", "PredictRequest"), ("/predict/many", "PredictManyRequest")]:
            body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].endswith(body_type)


def test_a_fast_path_is_found_under_the_root_path_of_a_mounted_app():
    from seqkit.app.fast_paths import route_path

    assert route_path({"path": "/predict"}) == "/predict"
    assert route_path({"path": "/api/predict", "root_path": "/api"}) == "/predict"
    assert route_path({"path": "/apipredict", "root_path": "/api"}) == "/apipredict"  # not under /api
    assert route_path({"path": "/predict", "root_path": "/api"}) == "/predict"  # a server that strips it


def test_a_model_failure_is_a_500_with_one_logged_line_and_the_server_goes_on(classifier_server, caplog):
    client, _, app = classifier_server
    network = app.state.model.network
    real = network.predict

    def broken(batch):
        raise RuntimeError("weights on fire\n  deep inside torch")

    network.predict = broken
    try:
        with caplog.at_level(logging.ERROR, logger="seqkit.serve"):
            response = client.post("/predict", json={"text": "zig w1 tic"})
    finally:
        network.predict = real
    assert response.status_code == 500
    assert response.json() == {
        "error": "the model failed on this request: RuntimeError: weights on fire deep inside torch"
    }
    assert [r.getMessage() for r in caplog.records if r.name == "seqkit.serve"] == [
        "request failed in the model: RuntimeError: weights on fire deep inside torch"
    ]
    assert client.post("/predict", json={"text": "zig w1 tic"}).status_code == 200


def test_health_and_info_say_what_is_served(classifier_server, checkpoints):
    client, _, _ = classifier_server
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["shape"] == "classification" and info["checkpoint"] == str(checkpoints["classification"])
    assert sorted(info["labels"]) == ["zag-tac", "zag-tic", "zig-tac", "zig-tic"]
    assert info["predict"]["options"] == {"input_format": "text", "max_length": 1000}
    assert info["generate"] is None and info["server"]["max_batch_size"] == 8
    assert client.post("/generate", json={}).status_code == 400


def test_shutdown_answers_what_is_in_flight_then_stops(checkpoints):
    app = build_app(checkpoints["classification"], max_wait_ms=200)
    with running(app) as (client, server):
        url = str(client.base_url).rstrip("/") + "/health"
        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(client.post, "/predict", json={"text": t}) for t in SENTENCES[:4]]
            threading.Event().wait(0.05)
            server.should_exit = True
            answers = [p.result() for p in pending]
    assert [a.status_code for a in answers] == [200] * 4
    assert app.state.batcher.task.done()  # the batching loop stopped with the server
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_the_load_benchmark_drives_the_seqkit_serve_command_and_checks_every_answer(checkpoints, capsys):
    """scripts/bench_serve.py --quick: ``python -m seqkit serve`` in its own process, loaded at three
    concurrencies and soaked; every answer equals in-process prediction's, and Ctrl-C stops it cleanly."""
    from seqkit.benchmark.serve import main as bench

    ckpt = str(checkpoints["classification"])
    argv = ["--quick", "--models", "classifier", "--classifier-ckpt", ckpt, "--requests", "40", "--soak", "80"]
    cpus = os.sched_getaffinity(0)
    (result,) = bench([*argv, "--concurrency", "1,8"])
    out = capsys.readouterr().out
    assert os.sched_getaffinity(0) == cpus  # the client's CPUs given back
    if len(cpus) > 1:  # --pin (the default): the server on a CPU of its own
        assert f"CPUs: the server on [{min(cpus)}], the client and in-process prediction on" in out
    assert out.startswith("torch threads: 1 ") and "server stopped by Ctrl-C: exit status 0" in out
    assert result["server_exit"] == 0 and result["in_process_per_s"] > 0
    assert set(result["levels"]) == {1, 8} and all(r["wrong"] == 0 for r in result["levels"].values())
    assert result["levels"][1]["mean_batch"] == 1.0 and result["levels"][1]["p50_ms"] > 0
    assert result["soak"]["requests"] == 80 and result["soak"]["lost"] == result["soak"]["wrong"] == 0
    assert len(result["soak"]["rss_mb"]) >= 2 and min(result["soak"]["rss_mb"]) > 0
    assert json.loads(out.splitlines()[-1])["threads"] == 1


def test_rss_growth_is_the_last_quarters_mean_on_the_firsts_so_a_swing_is_not_a_leak():
    from seqkit.benchmark.serve import rss_growth

    swinging = [700, 800] * 20  # a heap trim every other reading: one reading at each end says +14%
    assert rss_growth(swinging) == 0.0
    leaking = [700 + 10 * i for i in range(40)]
    assert rss_growth(leaking) == pytest.approx((745 + 10 * 30) / 745 - 1)
    assert rss_growth([500, 550]) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "override, message",
    [
        ("port=abc", "port=abc: give a number from 0 to 65535, e.g. port=8000"),
        ("port=70000", "port=70000: give a number from 0 to 65535, e.g. port=8000"),
        ("max_batch_size=0", "max_batch_size=0: give a number >= 1, e.g. max_batch_size=1024"),
        ("max_wait_ms=-1", "max_wait_ms=-1: give a number >= 0, e.g. max_wait_ms=2"),
        ("max_text_length=true", "max_text_length=True: give a number >= 1, e.g. max_text_length=100000"),
        ("heap_arena_max=-1", "heap_arena_max=-1: give a number >= 0, e.g. heap_arena_max=2"),
        (
            "heap_mmap_threshold_kb=65536",
            "heap_mmap_threshold_kb=65536: give a number from 0 to 32768, e.g. heap_mmap_threshold_kb=128",
        ),
        ("gc_freeze=maybe", "gc_freeze=maybe: give true or false"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_override_before_anything_loads(override, message):
    from seqkit.app.config import compose as compose_command
    from seqkit.app.serve import check_settings

    check_settings(compose_command("serve", ["ckpt_path=x"]))  # the defaults pass
    with pytest.raises(ValueError) as error:
        check_settings(compose_command("serve", ["ckpt_path=x", override]))
    assert str(error.value) == message


def test_the_batcher_groups_by_key_up_to_the_size_and_fails_only_the_failed_item():
    import asyncio

    from seqkit.app.batcher import Batcher

    calls = []

    def run(key, items):
        calls.append((key, list(items)))
        return [ValueError(f"bad {i}") if i == "bad" else f"{key}:{i}" for i in items]

    async def scenario():
        with ThreadPoolExecutor(1) as model_thread:
            batcher = Batcher(run, model_thread, max_batch_size=3, max_wait_ms=50)
            batcher.start()
            jobs = [batcher.submit(k, i) for k, i in [("a", 1), ("b", 2), ("a", 3), ("a", "bad"), ("a", 5)]]
            answers = await asyncio.gather(*jobs, return_exceptions=True)
            counts = (batcher.calls, batcher.items)
            many = await batcher.submit_many("c", [6, 7, 8, 9])
            with pytest.raises(ValueError, match="bad bad"):
                await batcher.submit_many("c", [10, "bad"])
            together = await asyncio.gather(batcher.submit_many("d", [11, 12]), batcher.submit_many("d", [13, 14]))
            await batcher.stop()
            return answers, counts, many + together

    answers, counts, many = asyncio.run(scenario())
    assert answers[:3] == ["a:1", "b:2", "a:3"] and answers[4] == "a:5"
    assert isinstance(answers[3], ValueError) and str(answers[3]) == "bad bad"
    assert calls[:3] == [("a", [1, 3]), ("b", [2]), ("a", ["bad", 5])]  # three at a time, then grouped by key
    assert counts == (3, 5)
    assert many == ["c:6", "c:7", "c:8", "c:9", ["d:11", "d:12"], ["d:13", "d:14"]]  # in order
    # more items than a batch: in parts of three; two requests of two: never split across two batches
    assert calls[3:] == [("c", [6, 7, 8]), ("c", [9]), ("c", [10, "bad"]), ("d", [11, 12]), ("d", [13, 14])]


def test_the_heap_is_trimmed_every_nth_model_call_and_nowhere_without_malloc_trim():
    from seqkit.app.heap import HeapTrimmer, malloc_trim

    calls = []
    trimmer = HeapTrimmer(every=3, trim=calls.append)
    for _ in range(7):
        trimmer()
    assert calls == [0, 0]  # after calls 3 and 6
    without = HeapTrimmer(every=1)
    without.trim = None  # a C library without malloc_trim: nothing to call, nothing fails
    without()
    assert malloc_trim() is None or malloc_trim()(0) in (0, 1)  # glibc: 1 if memory was released


def test_the_heap_settings_go_to_mallopt_and_zero_leaves_glibcs():
    from seqkit.app.heap import M_ARENA_MAX, M_MMAP_THRESHOLD, steady_heap

    calls = []
    made = steady_heap(128, 2, mallopt=lambda param, value: calls.append((param, value)) or 1)
    assert calls == [(M_MMAP_THRESHOLD, 128 * 1024), (M_ARENA_MAX, 2)]
    assert made == {"heap_mmap_threshold_kb": 128, "heap_arena_max": 2}
    calls.clear()
    assert steady_heap(0, 0, mallopt=lambda param, value: calls.append((param, value)) or 1) == {} and calls == []
    with pytest.raises(ValueError, match="heap_arena_max=3: glibc's mallopt refused it"):
        steady_heap(0, 3, mallopt=lambda param, value: 0)


FROZEN_AT_STARTUP = """
import gc, weakref
from seqkit.app.heap import freeze_startup
class Node: pass
model = Node(); model.me = model  # alive at start-up (a cycle, as modules and tensors hold)
frozen = freeze_startup()
garbage = Node(); garbage.me = garbage; alive = weakref.ref(garbage)
del garbage
collected = gc.collect()
print(frozen, gc.get_freeze_count(), alive() is None, model in gc.get_objects())
"""


def test_what_is_alive_at_start_up_is_frozen_out_of_collections_and_new_garbage_still_collected():
    """``gc_freeze``: a full collection no longer walks the start-up objects (gc.get_objects lists only what a
    collection walks), and a cycle made later is still collected."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", FROZEN_AT_STARTUP], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    frozen, count, collected, walked = run.stdout.split()
    assert int(frozen) == int(count) > 1000  # the interpreter's, seqkit's and the model's objects
    assert (collected, walked) == ("True", "False")


MMAPPED_AFTER_A_FREE = """
import ctypes, sys
from seqkit.app.heap import steady_heap
libc = ctypes.CDLL(None)
if sys.argv[1] == "fixed":
    steady_heap(128, 2)
libc.malloc.restype = ctypes.c_void_p
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
libc.free(ctypes.c_void_p(libc.malloc(8 << 20)))  # glibc's dynamic threshold rises to 8 MiB when this is freed
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc's allocator (2.33 and later) only")
def test_a_fixed_mmap_threshold_keeps_large_blocks_mmapped_after_a_large_free():
    """The dynamic threshold glibc raises after a large free puts the next 1 MiB block on the heap; at a fixed
    128 KiB it is mmapped (returned to the system when freed): mallinfo2's count of mmapped blocks."""
    import subprocess
    import sys

    def mmapped(mode):
        run = subprocess.run([sys.executable, "-c", MMAPPED_AFTER_A_FREE, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    assert (mmapped("dynamic"), mmapped("fixed")) == (0, 1)
