"""scripts/evaluate.py's fast path (seqkit.light_evaluate): the Lightning path's figures, without importing
Lightning or torchmetrics, the same one-line errors, and the Lightning path for everything it does not cover."""
import json
import random
from pathlib import Path

import pytest
import torch
from torchmetrics.functional.classification import multiclass_f1_score

from conftest import marker_examples, write_tab_file
from seqkit.light_evaluate import light_evaluate, macro_f1
from seqkit.light_predict import parse_overrides
from test_light_predict import train_checkpoint
from test_scripts import composed_script_config, run_script_recording_modules

REPO = Path(__file__).resolve().parents[1]
EVALUATE_YAML = REPO / "configs" / "evaluate.yaml"


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_is_torchmetrics_macro_f1(seed):
    """Random labels over 5 classes, some of them absent from both sides or predicted but never true."""
    rng = random.Random(seed)
    n, classes = rng.randint(1, 40), 5
    used = rng.sample(range(classes), rng.randint(1, classes))
    target = torch.tensor([rng.choice(used) for _ in range(n)])
    predicted = torch.tensor([rng.choice(used + [rng.randrange(classes)]) for _ in range(n)])
    expected = float(multiclass_f1_score(predicted, target, classes, average="macro"))
    assert macro_f1(predicted, target, classes) == pytest.approx(expected, abs=1e-7)


def _trained(tmp_path_factory, chars: bool):
    folder = tmp_path_factory.mktemp("chars" if chars else "words")

    def marker_files(train, val, test, seed):
        paths = {}
        for k, (name, n) in enumerate((("train", train), ("val", val))):
            paths[name] = write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed * 10 + k))
        return paths

    return train_checkpoint(marker_files, folder, chars=chars)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """One word-level checkpoint for the module (the tests only read it)."""
    return _trained(tmp_path_factory, chars=False)


@pytest.fixture(scope="module", params=["words", "chars"])
def any_checkpoint(request, checkpoint, tmp_path_factory):
    return checkpoint if request.param == "words" else _trained(tmp_path_factory, chars=True)


def test_light_path_reports_the_lightning_paths_figures(any_checkpoint, tmp_path, capsys):
    from seqkit.run import evaluate

    ckpt, files = any_checkpoint
    test = tmp_path / "test.tsv"  # several length-sorted batches of 4 (the checkpoint's eval batch size)
    test.write_text(files["val"].read_text(encoding="utf-8") + "\n\n", encoding="utf-8")  # blank lines are skipped
    for extra in ([], ["data.eval_batch_size=7"]):
        args = [f"ckpt_path={ckpt}", f"data.test_path={test}", "threads=1", *extra]
        light = light_evaluate(parse_overrides(EVALUATE_YAML, args))
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == light
        full = evaluate(composed_script_config("evaluate", *args))
        assert set(light) == set(full) == {"test/acc", "test/f1", "test/loss"}
        assert light["test/acc"] == full["test/acc"] and light["test/f1"] == pytest.approx(full["test/f1"], abs=1e-6)
        assert light["test/loss"] == pytest.approx(full["test/loss"], abs=2e-6)  # float32 sums in another order


def test_relative_test_path_under_data_root_and_bad_lines_are_named(checkpoint, tmp_path, capsys, monkeypatch):
    from seqkit.cli import report_errors

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    ckpt, files = checkpoint
    root = files["val"].parent
    metrics = light_evaluate(parse_overrides(EVALUATE_YAML, [f"ckpt_path={ckpt}", f"data.root={root}",
                                                             f"data.test_path={files['val'].name}"]))
    assert 0.0 <= metrics["test/acc"] <= 1.0
    bad = tmp_path / "bad.tsv"
    bad.write_text("zig w1 tac\tzig-tac\nzig w1 tic\tzig-toe\n", encoding="utf-8")
    missing = tmp_path / "none.tsv"
    for path, expected in ((bad, f"error: {bad}:2: label 'zig-toe'"), (missing, f"error: {missing}")):
        cfg = parse_overrides(EVALUATE_YAML, [f"ckpt_path={ckpt}", f"data.test_path={path}"])
        with pytest.raises(SystemExit) as stop:
            report_errors(light_evaluate)(cfg)
        assert stop.value.code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(expected), err


def test_what_the_light_path_does_not_cover_goes_the_lightning_way(checkpoint, tmp_path):
    ckpt, files = checkpoint
    base = [f"ckpt_path={ckpt}", f"data.test_path={files['val']}"]
    for extra in (["split=val"], ["data.builtin=sentiment_labelled"], ["options.backtest=true"]):
        cfg = parse_overrides(EVALUATE_YAML, [*base, *extra])
        assert cfg is None or light_evaluate(cfg) is None, extra
    assert light_evaluate(parse_overrides(EVALUATE_YAML, [f"ckpt_path={ckpt}"])) is None  # Hydra asks for test_path
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["seqkit"]["model_class"] = "seqkit.models.tagger.SequenceTagger"  # another shape
    other = tmp_path / "other.ckpt"
    torch.save(checkpoint, other)
    assert light_evaluate(parse_overrides(EVALUATE_YAML, [f"ckpt_path={other}", f"data.test_path={files['val']}"])) is None


def test_evaluate_script_is_quiet_and_does_not_import_lightning(checkpoint, tmp_path):
    ckpt, files = checkpoint
    result, modules = run_script_recording_modules(
        "evaluate.py", [f"ckpt_path={ckpt}", f"data.test_path={files['val']}", "threads=1"], tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) == {"test/acc", "test/f1", "test/loss"}
    # the command line is composed with Hydra's compose API (issue #25: no copy of its grammar), which loads Hydra's
    # config machinery (hydra._internal.hydra) but not Lightning
    assert not modules & {"pytorch_lightning", "lightning_fabric", "torchmetrics", "matplotlib",
                          "scipy", "sympy"}
