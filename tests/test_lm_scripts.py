"""The language-model commands end to end: train.py task=lm on a small text, then generate.py, predict.py and
evaluate.py with its checkpoint; and the config errors they report as one line."""
import math
import random

import pytest

from test_scripts import REPO, composed, last_json, ok, run_script

TINY_LM = ["backbone.hidden_size=24", "backbone.num_layers=1", "embedding.dim=8", "data.batch_size=4",
           "data.eval_batch_size=2", "data.bptt=16", "trainer.max_epochs=3", "model.sample_length=20", "threads=1",
           "optimizer.lr=0.02"]


def test_task_lm_composes_a_causal_char_model_on_tiny_shakespeare():
    cfg = composed("task=lm")
    assert cfg.model._target_ == "seqkit.models.LanguageModel" and cfg.model.backbone.bidirectional is False
    assert cfg.data.builtin == "tinyshakespeare" and cfg.data.level == "char" and cfg.monitor.metric == "val/loss"
    assert composed("task=sentiment").model.backbone.bidirectional is True  # the task, not the backbone, sets it


def test_a_bidirectional_language_model_is_one_clear_error(tmp_path):
    (tmp_path / "train.txt").write_text("abc cab bca\n" * 200, encoding="utf-8")
    result = run_script("train.py", "task=lm", f"data.train_path={tmp_path / 'train.txt'}", "backbone.bidirectional=true",
                        f"hydra.run.dir={tmp_path / 'run'}", timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "backbone.bidirectional=false" in result.stderr
    assert "Traceback" not in result.stderr


def script_config(name, *overrides):
    from hydra import compose, initialize_config_dir
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.mark.slow
def test_train_then_generate_predict_evaluate_a_word_level_language_model(tmp_path, capsys, monkeypatch):
    """train.py as a command; generate / predict / evaluate in-process with their scripts' configs (fast)."""
    import io
    import json
    import sys

    from seqkit.generation import generate
    from seqkit.run import evaluate, predict
    rng = random.Random(0)
    lines = [" ".join(rng.choice(["the cat sat", "a dog ran", "the bird sang"]) for _ in range(2)) for _ in range(200)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:180]) + "\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(lines[180:]) + "\n", encoding="utf-8")
    result = ok(run_script("train.py", "task=lm", f"data.train_path={tmp_path / 'train.txt'}", "data.level=word",
                           "data.bptt=8", *TINY_LM, f"hydra.run.dir={tmp_path / 'run'}", timeout=300))
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
    result = ok(run_script("train.py", "task=lm", f"data.train_path={tmp_path / 'train.txt'}", *TINY_LM,
                           "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}", timeout=300))
    ckpt = last_json(result.stdout)["best_checkpoint"]
    bad = run_script("generate.py", f"ckpt_path={ckpt}", "prompt=ROMEO:")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: prompt: character(s)")
    assert "Traceback" not in bad.stderr
    from seqkit.data.errors import DataError
    from seqkit.generation import generate
    from seqkit.run import predict
    text = generate(script_config("generate", f"ckpt_path={ckpt}", "prompt=ab", "max_new_tokens=5", "temperature=0"))
    assert len(text[0]) == len("ab") + 5 and text[0].startswith("ab")  # greedy, 5 characters
    (tmp_path / "score.txt").write_text("abc\nxyz\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"score.txt:2: character\(s\) 'xyz'"):
        predict(script_config("predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'score.txt'}"))
