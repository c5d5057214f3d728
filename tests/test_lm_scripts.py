"""The language-model commands end to end: train.py task=lm on a small text, then generate.py, predict.py and
evaluate.py with its checkpoint; and the config errors they report as one line."""

import math
import random

import pytest
import torch
from test_scripts import REPO, composed, last_json, ok, run_script, run_script_recording_modules

GENERATE_YAML = REPO / "seqkit" / "configs" / "generate.yaml"


def app_generate(*args):
    """scripts/generate.py's path: the command line composed by Hydra's compose API, then seqkit.app.generate."""
    from seqkit.app.config import compose
    from seqkit.app.generate import generate

    return generate, compose("generate", list(args))


TINY_LM = [
    "backbone.hidden_size=24",
    "backbone.num_layers=1",
    "embedding.dim=8",
    "data.batch_size=4",
    "data.eval_batch_size=2",
    "data.bptt=16",
    "trainer.max_epochs=3",
    "model.sample_length=20",
    "threads=1",
    "optimizer.lr=0.02",
]


def test_task_lm_composes_a_causal_char_model_on_tiny_shakespeare():
    cfg = composed("task=lm")
    assert cfg.model._target_ == "seqkit.training.TaskModule" and cfg.model.shape == "language_model"
    assert cfg.data._target_ == "seqkit.tasks.language_model.datamodule.LanguageModelingDataModule"
    assert cfg.model.backbone.bidirectional is False
    assert cfg.data.builtin == "tinyshakespeare" and cfg.data.level == "char" and cfg.monitor.metric == "val/loss"
    assert composed("task=sentiment").model.backbone.bidirectional is True  # the task, not the backbone, sets it


LONG_TEXT = "to be or not to be\nthat is the question\n" * 20


def _bad_lm_input(tmp_path, case):
    """-> (overrides of train.py task=lm, the start of the one error line it must print)."""
    train = tmp_path / "train.txt"
    train.write_text(LONG_TEXT, encoding="utf-8")
    if case in ("empty", "whitespace", "utf8"):
        train.write_bytes({"empty": b"", "whitespace": b"  \n\t\n", "utf8": b"to be\nor \xff not\n"}[case])
        return [], f"error: {train}" + (":2: invalid UTF-8" if case == "utf8" else ": ")
    if case == "short_val":
        (tmp_path / "val.txt").write_text("abc\n", encoding="utf-8")
        return [
            f"data.val_path={tmp_path / 'val.txt'}",
            "data.bptt=16",
        ], f"error: {tmp_path / 'val.txt'}: val text has 4 chars, fewer than one BPTT chunk"
    if case in ("bptt_zero", "bptt_negative"):
        bptt = 0 if case == "bptt_zero" else -3
        return [f"data.bptt={bptt}"], f"error: data.bptt must be a positive number of steps, got {bptt}"
    assert case == "bidirectional"
    return ["backbone.bidirectional=true"], "error: a language model predicts the next token from the past only"


@pytest.mark.parametrize(
    "case", ["empty", "whitespace", "utf8", "short_val", "bptt_zero", "bptt_negative", "bidirectional"]
)
def test_bad_language_model_input_is_one_error_line_and_exit_1(tmp_path, capsys, case):
    """The issue's bad-input list, through train.py's own error handling (in-process)."""
    from seqkit.app.cli import report_errors
    from seqkit.app.train import train

    overrides, expected = _bad_lm_input(tmp_path, case)
    cfg = script_config(
        "train",
        "task=lm",
        "data.builtin=null",
        f"data.train_path={tmp_path / 'train.txt'}",
        *TINY_LM,
        *overrides,
        f"paths.output_dir={tmp_path / 'run'}",
    )
    with pytest.raises(SystemExit) as stop:
        report_errors(train)(cfg)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert stop.value.code == 1 and len(errors) == 1 and "Traceback" not in err, err
    assert errors[0].startswith(expected), (errors[0], expected)
    if case == "bidirectional":
        assert "backbone.bidirectional=false" in errors[0]


def tiny_lm_checkpoint(tmp_path, level="char"):
    """A language-model checkpoint after one training step on LONG_TEXT (char or word level), as train.py writes it
    (TaskModule over the shape's network, the shape's data module)."""
    import pytorch_lightning as pl

    from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule
    from seqkit.training import TaskModule

    (tmp_path / "train.txt").write_text(LONG_TEXT, encoding="utf-8")
    module = LanguageModelingDataModule(
        train_path=str(tmp_path / "train.txt"), level=level, bptt=8, batch_size=2, eval_batch_size=2
    )
    module.setup("fit")
    trainer = pl.Trainer(
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    torch.manual_seed(0)
    trainer.fit(
        TaskModule("language_model", **module.model_kwargs(), embedding_dim=4, backbone={"hidden_size": 4}),
        datamodule=module,
    )
    trainer.save_checkpoint(tmp_path / f"lm_{level}.ckpt")
    return tmp_path / f"lm_{level}.ckpt"


def test_a_prompt_with_unknown_characters_is_one_error_line_and_exit_1(tmp_path, capsys, monkeypatch):
    """The same line from the application's command (seqkit.app.generate under report_errors) and from
    scripts/generate.py's entry (seqkit.app.main.main)."""
    from seqkit.app.cli import report_errors
    from seqkit.app.main import main

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    args = [f"ckpt_path={tiny_lm_checkpoint(tmp_path)}", "prompt=ROMEO:"]
    run, cfg = app_generate(*args)
    for command in (lambda: report_errors(run)(cfg), lambda: main("generate", args)):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            command()
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert stop.value.code == 1 and len(errors) == 1 and "Traceback" not in err, err
        assert errors[0].startswith("error: prompt: character(s) ':EMOR' never occur"), errors


def networks_own_text(ckpt, cfg):
    """What generate.py must print for ``cfg``, made by hand: the checkpoint's network (seqkit.app.checkpoint.load)
    continuing the codec's prompt ids with its own ``generate``, one seeded generator for all samples, the new ids
    written back through the codec."""
    from seqkit.app.checkpoint import load
    from seqkit.nn.decoding import Sampler, greedy_choice

    network, codec = load(ckpt)
    prompt = str(cfg.prompt)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    if cfg.temperature == 0:
        choose = greedy_choice
    else:
        choose = Sampler(float(cfg.temperature), cfg.top_k, cfg.top_p, generator, codec.banned_indices())
    texts = []
    for _ in range(int(cfg.num_samples)):
        ids = network.generate(torch.tensor([codec.encode_prompt(prompt)]), int(cfg.max_new_tokens), choose)
        assert ids.shape == (1, int(cfg.max_new_tokens))
        texts.append(codec.prompt_text(prompt) + "".join(codec.stream_piece(i) for i in ids[0].tolist()))
    return texts


@pytest.mark.parametrize("level", ["char", "word"])
def test_generate_prints_the_networks_own_text_and_the_same_seed_gives_it_again(tmp_path, capsys, level):
    """Sampling with top-k and top-p, several samples and greedy decoding: generate.py's command prints (stdout)
    and returns the text the network's own ``generate`` makes through the codec, byte for byte the same when run
    again with the same seed (stdout and stderr: sample notices, unknown-word warnings); another seed gives other
    text, so the equality is not vacuous. (Before issue #25 this compared the application's path with the
    Lightning one, which is gone; tests/test_legacy_checkpoints.py keeps the text of an old checkpoint.)"""
    ckpt = tiny_lm_checkpoint(tmp_path, level)
    capsys.readouterr()
    prompt = "to be zebra" if level == "word" else "to be"  # a space (and, at word level, an unknown word)
    outputs = []
    for extra in (
        ["num_samples=2", "top_k=5", "seed=3"],
        ["top_p=0.9", "temperature=1.3", "seed=4"],
        ["temperature=0"],
        ["seed=5"],
    ):
        args = [f"ckpt_path={ckpt}", f"prompt={prompt}", "max_new_tokens=30", "threads=1", *extra]
        run, cfg = app_generate(*args)
        assert cfg is not None
        first = run(cfg), capsys.readouterr()
        again = run(app_generate(*args)[1]), capsys.readouterr()
        assert first[0] == again[0] and first[1].out == again[1].out and first[1].err == again[1].err
        expected = networks_own_text(ckpt, cfg)
        capsys.readouterr()
        assert first[0] == expected and first[1].out == "".join(t + "\n" for t in expected)
        assert first[1].out.startswith(prompt) and len(first[0][0]) > len(prompt) + 5
        assert ("[seqkit] sample 2/2" in first[1].err) == (cfg.num_samples == 2)
        outputs.append(first[1].out)
    assert ("[seqkit] warning: prompt words not in the vocabulary, read as <unk>: zebra" in first[1].err) == (
        level == "word"
    )
    assert outputs[1] != outputs[3]


def test_generate_script_is_quiet_and_does_not_import_lightning(tmp_path, capsys):
    """One real run of scripts/generate.py (through runpy, to see what it imported): stdout holds the text that
    seqkit.app.generate gives in-process, stderr nothing. The command line is composed with Hydra's compose API
    (issue #25: no copy of its grammar), which loads Hydra's config machinery (hydra._internal.hydra) but not
    Lightning."""
    ckpt = tiny_lm_checkpoint(tmp_path)
    args = [f"ckpt_path={ckpt}", "prompt=to be", "max_new_tokens=40", "seed=1", "threads=1"]
    result, modules = run_script_recording_modules("generate.py", args, tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    run, cfg = app_generate(*args)
    texts = run(cfg)
    assert [result.stdout] == [t + "\n" for t in texts] == [capsys.readouterr().out]
    assert "seqkit.app.generate" in modules and not modules & {
        "pytorch_lightning",
        "lightning_fabric",
        "torchmetrics",
        "seqkit.app.train",
        "scipy",
        "sympy",
    }


def test_what_only_hydra_main_can_do_goes_its_way_and_hydra_reads_every_override(tmp_path):
    """Hydra's own parser reads the command line (values as Hydra types them); only ``-`` flags (``--help``, ``-m``)
    and malformed overrides go to ``@hydra.main``, which reports them."""
    from seqkit.app.config import compose

    for flag in (["--help"], ["-m", "seed=1,2"], ["--cfg", "job"]):
        assert compose("generate", ["ckpt_path=x", *flag]) is None, flag
    for malformed in ("prompt=a,b=c", "prompt=Hi!"):  # Hydra's grammar refuses them: @hydra.main says why
        assert compose("generate", ["ckpt_path=x", malformed]) is None, malformed
    for override, value in (
        (["prompt='Hi!'"], "Hi!"),
        (["prompt='quoted, with a comma'"], "quoted, with a comma"),
        (["prompt=to be"], "to be"),
        (["hydra.verbose=false"], ""),
    ):
        assert compose("generate", ["ckpt_path=x", *override]).prompt == value, override
    assert compose("generate", ["ckpt_path=x", "classifier_ckpt=c.ckpt"]).classifier_ckpt == "c.ckpt"


def script_config(name, *overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.mark.slow
def test_train_then_generate_predict_evaluate_a_word_level_language_model(tmp_path, capsys, monkeypatch):
    """train.py as a command; generate / predict / evaluate in-process with their scripts' configs (fast)."""
    import io
    import json
    import sys

    from seqkit.app.evaluate import evaluate
    from seqkit.app.generate import generate
    from seqkit.app.predict import predict

    rng = random.Random(0)
    lines = [" ".join(rng.choice(["the cat sat", "a dog ran", "the bird sang"]) for _ in range(2)) for _ in range(200)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:180]) + "\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(lines[180:]) + "\n", encoding="utf-8")
    result = ok(
        run_script(
            "train.py",
            "task=lm",
            f"data.train_path={tmp_path / 'train.txt'}",
            "data.level=word",
            "data.bptt=8",
            *TINY_LM,
            f"hydra.run.dir={tmp_path / 'run'}",
            timeout=300,
        )
    )
    summary = last_json(result.stdout)
    assert summary["val/loss"] < 1.0 and "val/bpc" not in summary  # word level: no bits per character
    assert "sample after epoch 2" in result.stderr
    ckpt = summary["best_checkpoint"]

    args = [f"ckpt_path={ckpt}", "prompt=the cat", "max_new_tokens=12", "top_k=5", "num_samples=2", "threads=1"]
    first, again, other = (generate(script_config("generate", *args, f"seed={seed}")) for seed in (7, 7, 8))
    assert first == again != other  # reproducible with a seed
    assert len(first) == 2 and all(t.startswith("the cat ") and len(t.split()) >= 8 for t in first)
    assert capsys.readouterr().out == "".join(t + "\n" for t in first + again + other)  # streamed to stdout
    generate(script_config("generate", f"ckpt_path={ckpt}", "prompt=the zebra", "max_new_tokens=3"))
    assert "<unk>" in capsys.readouterr().err  # word level: a warning, not an error

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"the cat sat\n\nsang bird the dog dog\n")))
    scored = tmp_path / "scored.jsonl"
    assert predict(script_config("predict", f"ckpt_path={ckpt}", "input=-", f"output={scored}")) == 3
    rows = [json.loads(line) for line in scored.read_text(encoding="utf-8").splitlines()]
    assert rows[1] == {"text": "", "tokens": 0, "loss": None, "perplexity": None}  # a record a line
    rows = [rows[0], rows[2]]
    assert [r["tokens"] for r in rows] == [4, 6]  # words + <eos>
    assert rows[0]["loss"] < rows[1]["loss"]
    assert rows[0]["perplexity"] == pytest.approx(math.exp(rows[0]["loss"]), rel=1e-4)
    metrics = evaluate(script_config("evaluate", f"ckpt_path={ckpt}", f"data.test_path={tmp_path / 'test.txt'}"))
    assert metrics["test/loss"] < 1.0


@pytest.mark.slow
def test_char_level_generate_rejects_unknown_prompt_characters(tmp_path):
    (tmp_path / "train.txt").write_text("abc cab bca\n" * 100, encoding="utf-8")
    result = ok(
        run_script(
            "train.py",
            "task=lm",
            f"data.train_path={tmp_path / 'train.txt'}",
            *TINY_LM,
            "trainer.max_epochs=1",
            f"hydra.run.dir={tmp_path / 'run'}",
            timeout=300,
        )
    )
    ckpt = last_json(result.stdout)["best_checkpoint"]
    bad = run_script("generate.py", f"ckpt_path={ckpt}", "prompt=ROMEO:")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: prompt: character(s)")
    assert "Traceback" not in bad.stderr
    from seqkit.app.generate import generate
    from seqkit.app.predict import predict
    from seqkit.data.errors import DataError

    text = generate(script_config("generate", f"ckpt_path={ckpt}", "prompt=ab", "max_new_tokens=5", "temperature=0"))
    assert len(text[0]) == len("ab") + 5 and text[0].startswith("ab")  # greedy, 5 characters
    (tmp_path / "score.txt").write_text("abc\nxyz\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"score.txt:2: character\(s\) 'xyz'"):
        predict(script_config("predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'score.txt'}"))
