"""scripts/predict.py's fast path (seqkit.light_predict): the same output as the Lightning path, without
importing Lightning, and nothing on stderr."""
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqkit.light_predict import light_predict, parse_overrides
from test_scripts import run_script_recording_modules

REPO = Path(__file__).resolve().parents[1]
PREDICT_YAML = REPO / "configs" / "predict.yaml"


def train_checkpoint(marker_files, tmp_path, chars: bool):
    """A 1-epoch SequenceClassifier checkpoint of the marker task (with a character CNN if ``chars``), evaluated
    in batches of 4 so that prediction has several length-sorted batches."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from seqkit.data import TextClassificationDataModule
    from seqkit.models import SequenceClassifier

    files = marker_files(train=40, val=20, test=0, seed=5)
    dm = TextClassificationDataModule(train_path=str(files["train"]), val_path=str(files["val"]), batch_size=8,
                                      eval_batch_size=4, char_features=chars)
    dm.setup("fit")
    model = SequenceClassifier(**dm.model_kwargs(), embedding_dim=4, backbone={"cell": "lstm", "hidden_size": 4,
                               "bidirectional": True}, pooling="max", char_encoder="cnn" if chars else "none")
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="tiny")
    pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               num_sanity_val_steps=0, callbacks=[checkpoint]).fit(model, datamodule=dm)
    return Path(checkpoint.best_model_path), files


@pytest.fixture(params=["words", "chars"])
def any_checkpoint(request, marker_files, tmp_path):
    return train_checkpoint(marker_files, tmp_path, chars=request.param == "chars")


@pytest.fixture
def classifier_checkpoint(marker_files, tmp_path):
    return train_checkpoint(marker_files, tmp_path, chars=False)


def _input(tmp_path, files) -> Path:
    """Labelled lines of several lengths, a blank line and an unlabelled one, out of length order."""
    lines = files["val"].read_text(encoding="utf-8").splitlines()[:11]
    path = tmp_path / "input.tsv"
    path.write_text("\n".join(lines[:5] + ["", "zig w1 w2 w3 w4 w5 w6 w7 w8 w9 tac"] + lines[5:]) + "\n", encoding="utf-8")
    return path


def _hydra_cfg(*overrides):
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose("predict", overrides=list(overrides))


def test_light_path_writes_what_the_lightning_path_writes(any_checkpoint, tmp_path):
    from seqkit.run import predict

    ckpt, files = any_checkpoint
    source = _input(tmp_path, files)
    for options in ([], ["options.input_format=text"]):
        args = [f"ckpt_path={ckpt}", f"input={source}", "threads=1", *options]
        light_out, full_out = tmp_path / "light.jsonl", tmp_path / "full.jsonl"
        count = light_predict(parse_overrides(PREDICT_YAML, [*args, f"output={light_out}"]))
        assert count == predict(_hydra_cfg(*args, f"output={full_out}")) == 13
        assert light_out.read_bytes() == full_out.read_bytes()  # byte for byte: same network, same batches
        rows = [json.loads(line) for line in light_out.read_text(encoding="utf-8").splitlines()]
        assert rows[5] == {"text": "", "label": None, "probabilities": None}
        assert all(r["label"] == max(r["probabilities"], key=r["probabilities"].get) for r in rows if r["label"])


def test_checkpoints_the_light_path_does_not_cover_go_the_lightning_way(classifier_checkpoint, tmp_path):
    ckpt, files = classifier_checkpoint
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["seqkit"]["model_class"] = "seqkit.models.tagger.SequenceTagger"  # another shape
    torch.save(checkpoint, tmp_path / "other.ckpt")
    cfg = parse_overrides(PREDICT_YAML, [f"ckpt_path={tmp_path / 'other.ckpt'}", f"input={files['val']}"])
    assert light_predict(cfg) is None
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["TextClassificationDataModule"]["pretrained"] = {"source": "glove-6b-50d"}  # vectors: Lightning path
    torch.save(checkpoint, tmp_path / "vectors.ckpt")
    assert light_predict(parse_overrides(PREDICT_YAML, [f"ckpt_path={tmp_path / 'vectors.ckpt'}", "input=-"])) is None


def test_overrides_are_typed_as_hydra_types_them_and_others_are_left_to_hydra():
    cfg = parse_overrides(PREDICT_YAML, ["ckpt_path=runs/a b.ckpt".replace(" ", "_"), "input=-", "threads=2",
                                         "output=null", "options.n_best=3", "options.input_format=text"])
    assert (cfg.ckpt_path, cfg.input, cfg.threads, cfg.output) == ("runs/a_b.ckpt", "-", 2, None)
    assert cfg.options.n_best == 3 and cfg.options.input_format == "text" and cfg.options.plot is None
    assert "hydra" not in cfg and "defaults" not in cfg
    for needs_hydra in (["+extra=1"], ["trainer.accelerator=gpu"], ["nokey=1"], ["options.nokey=1"], ["--help"],
                        ["input='a b.txt'"], ["input=${oc.env:HOME}"], ["threads=[1,2]"], ["hydra.verbose=true"]):
        assert parse_overrides(PREDICT_YAML, ["ckpt_path=x", *needs_hydra]) is None, needs_hydra


def test_values_read_without_hydra_are_the_values_hydra_reads():
    """Numbers as Hydra's lexer types them (underscores, leading zeros, inf and nan), colons, inner spaces kept and
    outer ones stripped: whatever parse_overrides takes, Hydra reads the same (and, for text, of the same type)."""
    values = ["ROMEO:", "a b", "  a  b  ", "x\ty", "1_000", "007", "00", "1__0", "inf", "-NaN", "1.", ".5", "1.e3", "1e3",
              "1e", "+1", "-", ".", "True", "NULL", "a:b", "1 2", "a.b-c@d%e+f?g*h/i", "What? Who:", "0.1_5", ""]
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        for value in values:
            light = parse_overrides(REPO / "configs" / "generate.yaml", ["ckpt_path=x", f"prompt={value}"])
            assert light is not None, value
            full = compose("generate", overrides=["ckpt_path=x", f"prompt={value}"]).prompt
            same = str(light.prompt) == str(full) if full == full else str(light.prompt) == "nan"
            assert same and type(light.prompt) is type(full), (value, light.prompt, full)


def test_bad_settings_are_the_same_one_line_errors(classifier_checkpoint, tmp_path, capsys, monkeypatch):
    from seqkit.cli import report_errors

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    ckpt, files = classifier_checkpoint
    cases = {("threads=0",): "error: threads=0: give a positive number",
             (f"ckpt_path={tmp_path / 'none.ckpt'}",): f"error: {tmp_path / 'none.ckpt'}: checkpoint not found",
             (f"input={tmp_path / 'none.txt'}",): f"error: {tmp_path / 'none.txt'}: file not found",
             ("options.output_format=conll",): "error: options.output_format=conll: a text classifier writes JSON"}
    for overrides, expected in cases.items():
        cfg = parse_overrides(PREDICT_YAML, [f"ckpt_path={ckpt}", f"input={files['val']}", *overrides])
        with pytest.raises(SystemExit) as exit_info:
            report_errors(light_predict)(cfg)
        assert exit_info.value.code == 1
        assert capsys.readouterr().err.strip().startswith(expected)


def test_predict_script_is_quiet_and_does_not_import_lightning(classifier_checkpoint, tmp_path):
    """One real run of scripts/predict.py (through runpy, to see what it imported): stdout holds the
    predictions, stderr nothing."""
    ckpt, files = classifier_checkpoint
    source = _input(tmp_path, files)
    result, modules = run_script_recording_modules("predict.py", [f"ckpt_path={ckpt}", f"input={source}", "threads=1"],
                                                   tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 13 and rows[6]["text"] == "zig w1 w2 w3 w4 w5 w6 w7 w8 w9 tac"
    # the command line is composed with Hydra's compose API (issue #25: no copy of its grammar), which loads Hydra's
    # config machinery (hydra._internal.hydra) but not Lightning
    assert not modules & {"pytorch_lightning", "lightning_fabric", "torchmetrics", "matplotlib",
                          "scipy", "sympy"}  # what Lightning, torchmetrics and plotting would pull in


def test_trainer_predict_batches_are_sorted_by_length(classifier_checkpoint, tmp_path):
    """Trainer.predict re-creates a DataLoader's batch sampler for prediction; the evaluation loader's
    LengthSortedSampler survives that, so its batches are the fast path's (seqkit.data.sampler.sorted_batches)."""
    from seqkit.data.sampler import BucketBatchSampler, sorted_batches
    from seqkit.run import _plain_trainer, load_checkpoint

    ckpt, files = classifier_checkpoint
    model, datamodule = load_checkpoint(str(ckpt))
    lines = list(enumerate(files["val"].read_text(encoding="utf-8").splitlines(), start=1))
    datamodule.set_predict_input(lines, "val")
    examples = datamodule.datasets["predict"]
    lengths = [len(e.ids) for e in examples]
    outputs = _plain_trainer(_hydra_cfg("ckpt_path=x")).predict(model, dataloaders=datamodule.predict_dataloader())
    batches = [out["index"].tolist() for out in outputs]
    expected = sorted_batches(lengths, 4)
    assert batches == [[examples[i].index for i in b] for b in expected]
    assert expected == list(BucketBatchSampler(lengths, 4, shuffle=False))
    flat = [lengths[i] for b in expected for i in b]
    assert flat == sorted(lengths) and len(set(lengths)) > 2
