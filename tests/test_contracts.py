"""The contracts every (task, model, data module) keeps, checked for every task in seqkit/configs/task/.

Each task is composed from its own ``seqkit/configs/task/<name>.yaml`` through Hydra (as ``train.py task=<name>``),
made tiny and pointed at small generated files, then:

(a) padding invariance: a sequence's predict outputs (probabilities, tags, line loss, forecast, beam output)
    are the same alone and inside a batch with longer (padded) ones;
(b) checkpoint round trip: the checkpoint loads with ``torch.load(weights_only=True)``, seqkit's own loader
    ``seqkit.app.checkpoint.load`` rebuilds (network, codec) from it alone, and they predict exactly the same;
(c) predict output well-formed: ``predict.py``'s streaming path (``seqkit.app.predict.predict_with``) gives one
    record per input line with the fields of that shape (the generated tasks, which have no input files, check
    the network's ``predict`` rows; the conditional language model generates instead of predicting);
(d) bad input: ``train.py`` on a file with a bad line stops with one line ``error: <file>:<line>: ...`` and
    exit code 1 (the generated tasks: a bad setting, one line).

Everything runs in-process with models of a few hundred parameters (the whole file: seconds).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import pytorch_lightning as pl
import torch

from seqkit import tasks
from seqkit.app.agreement import sample_sentences
from seqkit.app.checkpoint import load
from seqkit.app.cli import report_errors
from seqkit.app.predict import predict_with
from seqkit.app.train import build, train
from seqkit.data.errors import DataError
from seqkit.nn.decoding import Sampler

CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"
TINY = ["embedding.dim=8", "backbone.hidden_size=8", "data.batch_size=4", "data.eval_batch_size=16", "seed=0"]


# ---- small generated files, one writer per format ---------------------------------------------------------
def _lines(path: Path, lines: List[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _sentences(n: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    good, bad, filler = ["good", "great"], ["bad", "dull"], ["the", "film", "was", "a", "plot", "and"]
    rows = []
    for i in range(n):
        words = [rng.choice(filler) for _ in range(rng.randint(1, 9))] + [rng.choice(good if i % 2 else bad)]
        rows.append(f"{' '.join(words)}\t{i % 2}")
    return rows


def _conll(n: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        lines += [f"{rng.choice(['the', 'in', 'saw', 'we'])} O" for _ in range(rng.randint(0, 6))]
        lines += ["New B-LOC", "York I-LOC"] if rng.random() < 0.5 else ["Ann B-PER"]
        lines.append("")
    return lines


def _conllu(n: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    lines = []
    for s in range(n):
        words = [
            rng.choice([("the", "DET"), ("dog", "NOUN"), ("runs", "VERB"), (".", "PUNCT")])
            for _ in range(rng.randint(1, 8))
        ]
        lines.append(f"# sent_id = {s}")
        lines += [f"{i}\t{w}\t{w}\t{t}\t_\t_\t0\tdep\t_\t_" for i, (w, t) in enumerate(words, start=1)]
        lines.append("")
    return lines


def _text(n: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(["to be", "or not", "that is", "the question"]) for _ in range(rng.randint(1, 4)))
        for _ in range(n)
    ]


def _pairs(n: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        word = "".join(rng.choice("abcde") for _ in range(rng.randint(1, 7)))
        rows.append(f"{word}\t{' '.join(c.upper() for c in word)}")
    return rows


CONLL_PREDICT = [
    "we",
    "saw",
    "New",
    "York",
    "",
    "Ann",
    "",
    "the",
    "in",
    "saw",
    "we",
    "New",
    "York",
    "Ann",
    "",
]  # sentences of a tagger's predict input
HEADER = "source\ttarget"  # a seq2seq TSV's header, found by itself


def _csv(rows: List[str]) -> List[str]:
    """Tab-separated text/label rows as CSV, each text quoted with a comma inside it."""
    return [f'"{text}, then",{label}' for text, label in (row.split("\t") for row in rows)]


def _series(n: int) -> List[str]:
    return ["t,y"] + [f"{i},{10 + 3 * math.sin(2 * math.pi * i / 12):.4f}" for i in range(n)]


# ---- the tasks --------------------------------------------------------------------------------------------
@dataclass
class Task:
    """How to make ``task=<name>`` tiny and give it files: ``files(folder) -> overrides``;
    ``predict_lines``: predict.py input (None: the task has no predict input); ``fields``: keys of a record;
    ``bad``: (file name, lines, bad line number, overrides naming it) for (d)."""

    name: str
    files: Callable[[Path], List[str]]
    overrides: List[str] = field(default_factory=list)
    predict_lines: Optional[List[str]] = None
    fields: tuple = ()
    bad: Optional[Callable[[Path], tuple]] = None


def _sentiment_files(d: Path) -> List[str]:
    return [
        "data.builtin=null",
        f"data.train_path={_lines(d / 'train.tsv', _sentences(40, 1))}",
        f"data.val_path={_lines(d / 'val.tsv', _sentences(12, 2))}",
    ]


def _bad_tsv(d: Path) -> tuple:
    path = _lines(d / "bad.tsv", _sentences(4, 3) + ["a line without its label"] + _sentences(4, 4))
    return path, 5, ["data.builtin=null", f"data.train_path={path}"]


def _bad(path: Path, lines: List[str], line: int, key: str = "data.train_path", *extra: str) -> tuple:
    """(d)'s input: a file whose line ``line`` is wrong, and the overrides that train on it."""
    _lines(path, lines)
    return (
        str(path),
        line,
        ["data.builtin=null" if key == "data.train_path" else "data.builtin=airpassengers", f"{key}={path}", *extra],
    )


TASKS: Dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "sentiment",
            _sentiment_files,
            predict_lines=["the film was good", "", "a plot and the film was dull", "good"],
            fields=("text", "label", "probabilities"),
            bad=_bad_tsv,
        ),
        Task(
            "classify",
            lambda d: [
                "data.format=csv",
                f"data.train_path={_lines(d / 'train.csv', ['text,label', *_csv(_sentences(40, 1))])}",
                f"data.val_path={_lines(d / 'val.csv', ['text,label', *_csv(_sentences(12, 2))])}",
            ],
            predict_lines=['"the film, was good",1', "", "a plot and the film was dull,0", "good,1"],
            fields=("text", "label", "probabilities"),
            bad=lambda d: _bad(
                d / "bad.csv",
                ["text,label", "good film,1", "bad, dull film,0"],
                3,
                "data.train_path",
                "data.format=csv",
            ),
        ),
        Task(
            "seq2seq",
            lambda d: [
                f"data.train_path={_lines(d / 'train.tsv', [HEADER, *_pairs(40, 1)])}",
                f"data.val_path={_lines(d / 'val.tsv', [HEADER, *_pairs(10, 2)])}",
            ],
            ["model.decode.beam_size=2"],
            predict_lines=["abc", "", "edcbaab", "e"],
            fields=("source", "output", "score"),
            bad=lambda d: _bad(d / "bad.tsv", [HEADER, *_pairs(3, 3), "no tab on this line"], 5),
        ),
        Task(
            "tag",
            lambda d: [
                f"data.train_path={_lines(d / 'train.conll', _conll(30, 1))}",
                f"data.val_path={_lines(d / 'val.conll', _conll(10, 2))}",
            ],
            [
                "model.char_encoder=cnn+lstm",
                "++model.char={cnn:{embedding_dim:4,num_filters:4},lstm:{embedding_dim:3,hidden_size:2}}",
                "model.casing=true",
                "model.casing_dim=3",
            ],
            predict_lines=CONLL_PREDICT,
            fields=("tokens", "tags", "spans"),
            bad=lambda d: _bad(d / "bad.conll", ["we O", "saw O", "", "New B-LOC extra", "York I-LOC", ""], 4),
        ),
        Task(
            "ner",
            lambda d: [
                "data.builtin=null",
                f"data.train_path={_lines(d / 'train.conll', _conll(30, 1))}",
                f"data.val_path={_lines(d / 'val.conll', _conll(10, 2))}",
            ],
            ["embedding.pretrained=null", "++model.char={embedding_dim:4,num_filters:4}"],
            predict_lines=CONLL_PREDICT,
            fields=("tokens", "tags", "spans"),
            bad=lambda d: _bad(d / "bad.conll", ["we O", "saw O", "", "New B-LOC extra", "York I-LOC", ""], 4),
        ),
        Task(
            "pos",
            lambda d: [
                "data.builtin=null",
                f"data.train_path={_lines(d / 'train.conllu', _conllu(30, 1))}",
                f"data.val_path={_lines(d / 'val.conllu', _conllu(10, 2))}",
            ],
            ["embedding.pretrained=null", "++model.char={embedding_dim:4,num_filters:4}"],
            predict_lines=[
                "# sent_id = a",
                "1\tthe\tthe\tDET\t_\t_\t0\tdep\t_\t_",
                "",
                "# sent_id = b",
                *[f"{i}\tdog\tdog\tNOUN\t_\t_\t0\tdep\t_\t_" for i in range(1, 6)],
                "",
                "1\truns\truns\tVERB\t_\t_\t0\tdep\t_\t_",
                "2\t.\t.\tPUNCT\t_\t_\t0\tdep\t_\t_",
                "",
            ],
            fields=("tokens", "tags"),
            bad=lambda d: _bad_conllu(d / "bad.conllu"),
        ),
        Task(
            "lm",
            lambda d: [
                "data.builtin=null",
                f"data.train_path={_lines(d / 'train.txt', _text(60, 1))}",
                f"data.val_path={_lines(d / 'val.txt', _text(20, 2))}",
            ],
            [
                "data.bptt=8",
                "data.batch_size=2",
                "data.eval_batch_size=2",
                "model.sample_length=0",
                "backbone.num_layers=1",
                "backbone.dropout=0.0",
            ],
            predict_lines=["to be", "", "that is the question or not to be", "or"],
            fields=("text", "tokens", "loss", "perplexity"),
            bad=lambda d: _bad_utf8(d / "bad.txt"),
        ),
        Task("conditional_lm", _sentiment_files, ["model.sample_length=0", "data.min_freq=1"], bad=_bad_tsv),
        Task(
            "g2p",
            lambda d: [
                "data.builtin=null",
                f"data.train_path={_lines(d / 'train.tsv', _pairs(40, 1))}",
                f"data.val_path={_lines(d / 'val.tsv', _pairs(10, 2))}",
            ],
            ["model.decode.beam_size=2"],
            predict_lines=["abc", "", "edcbaab", "e"],
            fields=("source", "output", "score"),
            bad=lambda d: _bad(d / "bad.tsv", _pairs(3, 3) + ["no tab on this line"], 4),
        ),
        Task(
            "forecast",
            lambda d: [
                f"data.path={_lines(d / 'series.csv', _series(80))}",
                "data.time_column=null",
                "data.target=y",
                "data.calendar=[]",
                "data.split=[50,15,15]",
                "data.input_length=12",
                "data.horizon=4",
                "data.season=12",
                "~callbacks.forecast_plot",
            ],
            predict_lines=_series(20),
            fields=("timestamp", "value"),
            bad=lambda d: _bad(
                d / "bad.csv",
                _series(40)[:7] + ["6,n/a"] + _series(40)[8:],
                8,
                "data.path",
                "data.time_column=null",
                "data.target=y",
                "data.calendar=[]",
            ),
        ),
        Task(
            "adding",
            lambda d: [],
            ["data.length=10", "data.train_size=16", "data.val_size=8"],
            bad=lambda d: (None, None, ["data.length=1"]),
        ),
        Task(
            "copy_memory",
            lambda d: [],
            [
                "data.length=4",
                "data.symbols=2",
                "data.alphabet=4",
                "data.train_size=16",
                "data.val_size=8",
                "embedding.dim=8",
            ],
            bad=lambda d: (None, None, ["data.alphabet=1"]),
        ),
    ]
}


def _bad_conllu(path: Path) -> tuple:
    lines = _conllu(2, 3) + ["1\tdog\tNOUN"]  # three columns instead of ten
    return _lines(path, lines), len(lines), ["data.builtin=null", f"data.train_path={path}"]


def _bad_utf8(path: Path) -> tuple:
    path.write_bytes(b"to be or not\nthat is\nthe \xff question\nto be\n")
    return str(path), 3, ["data.builtin=null", f"data.train_path={path}"]


def test_every_task_config_is_held_to_the_contracts():
    """A new seqkit/configs/task/<name>.yaml must be added to TASKS (its tiny settings and files) to be checked here."""
    assert set(TASKS) == {path.stem for path in (CONFIGS / "task").glob("*.yaml")}


def compose_task(name: str, *overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=[f"task={name}", *TINY, *TASKS[name].overrides, *overrides])


# ---- one tiny trained model and its checkpoint per task, made once --------------------------------------
@dataclass
class Built:
    """A tiny trained ``TaskModule`` (``model``) and its data module; ``network`` and ``codec`` are theirs."""

    task: Task
    model: pl.LightningModule
    datamodule: object
    ckpt: Path
    folder: Path

    @property
    def network(self):
        return self.model.network

    @property
    def codec(self):
        return self.datamodule.codec


def fit_tiny(name: str, folder: Path, steps: int, callbacks=(), **trainer_settings):
    """``task=<name>`` made tiny on its generated files in ``folder``, trained ``steps`` steps (on the CPU unless
    ``trainer_settings``, more ``pl.Trainer`` arguments, say otherwise): (model, datamodule, trainer)."""
    cfg = compose_task(name, *TASKS[name].files(folder), f"paths.output_dir={folder / 'run'}")
    pl.seed_everything(0, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    model.monitor = cfg.monitor.metric
    trainer = pl.Trainer(
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer_settings,
    )
    trainer.fit(model, datamodule=datamodule)
    return model, datamodule, trainer


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache: Dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            folder = tmp_path_factory.mktemp(name)
            model, datamodule, trainer = fit_tiny(name, folder, steps=3)  # not the initial weights
            ckpt = folder / "model.ckpt"
            trainer.save_checkpoint(ckpt)
            model.eval()
            cache[name] = Built(TASKS[name], model, datamodule, ckpt, folder)
        return cache[name]

    return get


def predict_records(network, codec, lines: List[str], folder: Path, name: str) -> List[dict]:
    """predict.py's path: the lines as an input file, streamed through (network, codec), JSON records back."""
    source, output = folder / f"{name}.in", folder / f"{name}.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    predict_with(network, codec, str(source), str(output), {})
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


def examples_and_collate(b: Built):
    """Examples of mixed lengths and the codec's function that batches them: the predict inputs where the task
    has them, else validation examples (forecasting windows carry their split's frame)."""
    codec = b.codec
    if b.task.predict_lines is not None and b.task.name != "forecast":
        codec.set_predict_input(list(enumerate(b.task.predict_lines, start=1)), "<contract>")
        return codec.datasets["predict"], codec.collate
    b.datamodule.setup("validate")
    examples = codec.datasets["val"][:6]
    if b.task.name == "forecast":
        return examples, lambda windows: codec.collate(windows, codec.frames["val"])
    return examples, codec.collate


def generated_val_batch(codec):
    """The first evaluation batch of a generated task's validation split, generated again by ``codec`` alone."""
    examples, source = codec.read_splits()["val"]
    return next(iter(codec.batches(codec.encode(examples, source))))


def _row(out: Dict[str, torch.Tensor], i: int, like: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Row i of a batch's predict outputs, cut to the shape of the same example's outputs alone."""
    rows = {}
    for key, value in out.items():
        if key == "index":
            continue
        row = value[i]
        for dim, size in enumerate(like[key][0].shape):
            row = row.narrow(dim, 0, size)
        rows[key] = row
    return rows


# ---- (a) padding invariance -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TASKS))
def test_a_sequence_predicts_the_same_alone_and_in_a_padded_batch(built, name):
    b = built(name)
    examples, collate = examples_and_collate(b)
    batch = collate(examples)
    assert len(batch) >= 3
    if name not in ("forecast", "adding", "copy_memory"):  # fixed-length inputs: nothing to pad
        lengths = (batch.source_lengths if hasattr(batch, "source_lengths") else batch.lengths).tolist()
        assert len(set(lengths)) >= 2, "the batch must mix lengths, so that some rows are padded"
    with torch.no_grad():
        together = b.network.predict(batch)
        for i, example in enumerate(examples):
            alone = b.network.predict(collate([example]))
            for key, value in _row(together, i, alone).items():
                expected = alone[key][0]
                if value.is_floating_point():
                    torch.testing.assert_close(value, expected, atol=1e-5, rtol=1e-5, msg=f"{name} {key} row {i}")
                else:
                    assert torch.equal(value, expected), (name, key, i)


# ---- (b) checkpoint round trip ----------------------------------------------------------------------------
def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool, torch.Tensor))


@pytest.mark.parametrize("name", list(TASKS))
def test_checkpoint_round_trip_with_weights_only_predicts_the_same(built, name):
    b = built(name)
    raw = torch.load(b.ckpt, map_location="cpu", weights_only=True)  # plain data and tensors only
    assert _plain(raw)
    meta, codec_class = raw["seqkit"], type(b.codec)
    assert meta["model_class"] == tasks.registry.TASK_MODULE and meta["shape"] == b.model.shape.name
    assert meta["codec_class"] == f"{codec_class.__module__}:{codec_class.__qualname__}"
    assert meta["codec"] == b.codec.state_dict()  # the codec's named fields (vocabularies, scaler, ...)
    if b.datamodule.state_dict():  # Lightning's data-module entry too; generated tasks: none
        assert raw[type(b.datamodule).__name__] == b.datamodule.state_dict()

    network, codec = load(str(b.ckpt))  # seqkit's own load path: no training file is read, no Lightning
    assert type(network) is type(b.network) and type(codec) is codec_class and not network.training
    assert all(codec.hparams.get(k) is None for k in ("train_path", "val_path"))  # no training file needed
    assert network.state_dict().keys() == b.network.state_dict().keys()
    for key, tensor in b.network.state_dict().items():
        assert torch.equal(network.state_dict()[key], tensor), key
    if b.task.predict_lines is not None:  # the same records through predict.py's path
        before = predict_records(b.network, b.codec, b.task.predict_lines, b.folder, "before")
        after = predict_records(network, codec, b.task.predict_lines, b.folder, "after")
        assert after == before and len(after) >= 1
    elif name == "conditional_lm":  # generation: the same sentences from the same seed
        pick = lambda: Sampler(0.8, generator=torch.Generator().manual_seed(3))  # noqa: E731
        assert sample_sentences(network, codec, 1, 5, pick(), 12) == sample_sentences(
            b.network, b.codec, 1, 5, pick(), 12
        )
    else:  # generated tasks: the same predictions on the same generated validation batch
        batch = generated_val_batch(codec)  # generated again from the checkpoint's settings alone
        original = next(iter(b.codec.batches(b.datamodule.datasets["val"])))
        assert torch.equal(
            batch.tokens if batch.tokens is not None else batch.features,
            original.tokens if original.tokens is not None else original.features,
        )
        with torch.no_grad():
            got, expected = network.predict(batch), b.network.predict(original)
        assert all(torch.equal(got[k], expected[k]) for k in expected)


# ---- (c) predict output well-formed -----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TASKS))
def test_predict_output_is_well_formed(built, name):
    b = built(name)
    task, codec = b.task, b.codec
    if name == "conditional_lm":  # it generates; predict.py says so in one line
        with pytest.raises(DataError, match="generates text"):
            codec.set_predict_input([(1, "a film")], "in.txt")
        sentences = sample_sentences(
            b.network, codec, 0, 6, Sampler(1.0, generator=torch.Generator().manual_seed(0)), 10
        )
        assert len(sentences) == 6 and all(w in codec.vocab.stoi for s in sentences for w in s.split())
        assert all("<eos>" not in s for s in sentences)
        return
    if task.predict_lines is None:  # generated tasks: no input files, the network's predict rows
        batch = next(iter(codec.batches(b.datamodule.datasets["val"])))
        with torch.no_grad():
            out = b.network.predict(batch)
        assert torch.equal(out["index"], batch.index)
        if name == "adding":
            assert out["value"].shape == (len(batch),) and torch.isfinite(out["value"]).all()
        else:
            assert out["tags"].shape == batch.tokens.shape and int(out["tags"].max()) < codec.alphabet
        return
    records = predict_records(b.network, codec, task.predict_lines, b.folder, "formed")
    assert all(set(task.fields) <= set(r) for r in records), records[:2]
    if name == "forecast":  # one row a forecast step, after the input's last row
        assert [r["timestamp"] for r in records] == [str(20 + k) for k in range(4)]
        assert all(isinstance(r["value"], float) and math.isfinite(r["value"]) for r in records)
        return
    if name in ("ner", "pos", "tag"):  # one record a sentence (lines up to a blank line; CoNLL-U comments skipped)
        units = " ".join(
            "\n" if not x.strip() else x.split("\t")[1] if "\t" in x else x
            for x in task.predict_lines
            if not x.startswith("#")
        ).split("\n")
        units = [u.split() for u in units if u.strip()]
    else:  # one record a line, blank lines included
        units = task.predict_lines
    assert len(records) == len(units)
    for record, line in zip(records, units):
        if name == "sentiment":
            if line:
                assert record["label"] in ("0", "1") and sum(record["probabilities"].values()) == pytest.approx(
                    1, abs=1e-5
                )
            else:
                assert record == {"text": "", "label": None, "probabilities": None}
        elif name in ("ner", "pos", "tag"):
            assert (
                record["tokens"] == line
                and len(record["tags"]) == len(line)
                and set(record["tags"]) <= set(codec.tags.itos)
            )
        elif name == "lm":
            if line:
                assert record["tokens"] == len(line) + 1  # its characters and the line end
                assert record["perplexity"] == pytest.approx(math.exp(record["loss"]), rel=1e-5)
            else:
                assert record["tokens"] == 0 and record["loss"] is None
        elif name == "g2p":
            if line:
                assert record["source"] == line and isinstance(record["score"], float) and record["output"]
            else:
                assert record == {"source": "", "output": None, "score": None}


# ---- (d) bad input: one line naming the file and the line, exit code 1 -------------------------------------
@pytest.mark.parametrize("name", list(TASKS))
def test_bad_input_is_one_error_line_naming_file_and_line(name, tmp_path, capsys):
    task = TASKS[name]
    path, line, overrides = task.bad(tmp_path)
    cfg = compose_task(name, *overrides, f"paths.output_dir={tmp_path / 'run'}")
    with pytest.raises(SystemExit) as stop:
        report_errors(train)(cfg)
    assert stop.value.code == 1
    printed = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(printed) == 1 and "Traceback" not in printed[0], printed
    if path is not None:
        where = f"{path}:{line}:" if line is not None else f"{path}:"
        assert printed[0].startswith(f"error: {where}"), printed[0]
    else:
        assert "data." in printed[0] or "length" in printed[0] or "alphabet" in printed[0], printed[0]


# ---- (e) gradient flow through time ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TASKS))
def test_gradient_flow_records_every_shape(name, tmp_path):
    """callbacks=gradient_flow works on every shape's model as configured (fused backbone, packed batches,
    carried TBPTT state, encoder-decoder, forecaster): each recorded step has a finite, non-zero ‖∂L/∂h_t‖
    curve for the model's encoder, one value per position of the batch's longest sequence at most."""
    from seqkit.training.callbacks import GradientFlow

    flow = GradientFlow(every_n_steps=1, dirpath=str(tmp_path / "flow"), plot=False)
    fit_tiny(name, tmp_path, steps=2, callbacks=[flow])
    assert [r.step for r in flow.records] == [0, 1]
    for record in flow.records:
        curves = {k: v for k, v in record.curves.items() if k.startswith("encoder.l0.")}
        assert curves, f"{name}: no curve for the encoder, only {sorted(record.curves)}"
        for key, curve in curves.items():
            assert len(curve) >= 1 and torch.isfinite(curve).all() and curve.max() > 0, (name, key, curve)
        assert record.total_norm > 0
    assert all(not e.record_states and not e.recorded for e in flow.encoders.values())  # nothing left armed
