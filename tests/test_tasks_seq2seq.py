"""Issue #25's seq2seq shape: TaskModule's logged figures (greedy at validation, beam at test) equal the
application's evaluation of the same checkpoint, the sacreBLEU signature line stays, a new checkpoint round-trips
through the Lightning-free loader, and predicting or evaluating imports no Lightning."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from test_seq2seq import reversal_rows

from seqkit import tasks

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.builtin=null",
    "backbone.hidden_size=8",
    "embedding.dim=8",
    "data.batch_size=16",
    "data.eval_batch_size=7",
    "model.decode.beam_size=2",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
    "++trainer.num_sanity_val_steps=0",
    "threads=1",
    "logger=csv",
]


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s2s")
    for name, n, seed in (("train", 200, 0), ("val", 30, 1), ("test", 30, 2)):
        (folder / f"{name}.tsv").write_text("".join(reversal_rows(n, seed)), encoding="utf-8")
    return folder


def _train(files, out, *overrides):
    from seqkit.app.train import train

    cfg = _compose(
        "train",
        "task=g2p",
        f"data.train_path={files / 'train.tsv'}",
        f"data.val_path={files / 'val.tsv'}",
        f"data.test_path={files / 'test.tsv'}",
        f"paths.output_dir={out}",
        *TINY,
        *overrides,
    )
    return out / "checkpoints" / "best.ckpt", train(cfg)


def test_the_shape_is_registered_with_the_old_classes():
    shape = tasks.get("seq2seq")
    assert shape.legacy_models == ("seqkit.models.seq2seq.Seq2Seq",)
    assert shape.legacy_datamodules == ("seqkit.data.parallel.ParallelTextDataModule",)


def test_logged_figures_are_the_app_evaluation_of_the_same_checkpoint(files, tmp_path, capsys):
    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import evaluate, metrics_of

    ckpt, logged = _train(files, tmp_path / "run")
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["seqkit"]["shape"] == "seq2seq" and checkpoint["seqkit"]["format_version"] == 2
    assert checkpoint["seqkit"]["codec_class"] == "seqkit.tasks.seq2seq.codec:Seq2SeqCodec"
    assert all(k.startswith("network.") for k in checkpoint["state_dict"])
    assert set(logged) == {f"{s}/{m}" for s in ("val", "test") for m in ("loss", "wer", "per")}
    got = evaluate(_compose("evaluate", f"ckpt_path={ckpt}", f"data.test_path={files / 'test.tsv'}", "threads=1"))
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == got
    for name in ("loss", "wer", "per"):  # beam search at test
        assert got[f"test/{name}"] == pytest.approx(logged[f"test/{name}"], abs=2e-6), name
    network, codec = load(ckpt, test_path=str(files / "val.tsv"))
    pairs, source = codec.read_splits()["test"]
    val = metrics_of(network, codec, codec.encode(pairs, source), tasks.get("seq2seq"), stage="val")  # greedy
    for name in ("loss", "wer", "per"):
        assert val[name] == pytest.approx(logged[f"val/{name}"], abs=2e-6), name


def test_bleu_metric_prints_the_sacrebleu_signature_at_validation_and_test(files, tmp_path, capfd):
    from seqkit.app.evaluate import evaluate

    ckpt, logged = _train(
        files,
        tmp_path / "run",
        "model.metric=bleu",
        "monitor.metric=val/bleu",
        "monitor.mode=max",
        "data.source_tokens=space",
        "trainer.max_epochs=1",
    )
    assert {"val/bleu", "val/chrf", "test/bleu", "test/chrf"} <= set(logged)
    err = capfd.readouterr().err
    assert "[seqkit] val sacreBLEU signature: nrefs:1|" in err and "[seqkit] test sacreBLEU signature: nrefs:1|" in err
    got = evaluate(_compose("evaluate", f"ckpt_path={ckpt}", f"data.test_path={files / 'test.tsv'}", "threads=1"))
    assert got["test/bleu"] == pytest.approx(logged["test/bleu"], abs=2e-4)
    assert "[seqkit] test sacreBLEU signature: nrefs:1|" in capfd.readouterr().err


def test_predicting_and_evaluating_a_seq2seq_checkpoint_import_no_lightning(tmp_path):
    """The recorded old checkpoint (tests/legacy/g2p) through seqkit.app: converted on loading, no Lightning."""
    legacy = REPO / "tests" / "legacy" / "g2p"
    probe = (
        "import sys\n"
        "from seqkit.app.checkpoint import load\n"
        "from seqkit.app.evaluate import metrics_of\n"
        "from seqkit.app.predict import predict_with\n"
        "from seqkit import tasks\n"
        f"network, codec = load({str(legacy / 'model.ckpt')!r}, test_path={str(legacy / 'data' / 'val.tsv')!r})\n"
        f"n = predict_with(network, codec, {str(legacy / 'predict.txt')!r}, {str(tmp_path / 'out.jsonl')!r}, {{}})\n"
        "pairs, source = codec.read_splits()['test']\n"
        "m = metrics_of(network, codec, codec.encode(pairs, source), tasks.get('seq2seq'))\n"
        "print(n, round(m['wer'], 6), sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'lightning_fabric', 'torchmetrics')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "1.0", "[]"]
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == (legacy / "predict.golden").read_text(
        encoding="utf-8"
    )


def test_a_new_checkpoint_round_trips_through_the_app_loader(files, tmp_path):
    import pytorch_lightning as pl

    from seqkit.app.checkpoint import load
    from seqkit.tasks.seq2seq.datamodule import ParallelDataModule
    from seqkit.training import TaskModule

    dm = ParallelDataModule(
        train_path=str(files / "train.tsv"),
        val_path=str(files / "val.tsv"),
        batch_size=8,
        eval_batch_size=5,
        source_tokens="bpe",
        subword_vocab_size=40,
    )
    dm.setup("fit")
    torch.manual_seed(0)
    model = TaskModule(
        "seq2seq",
        **dm.model_kwargs(),
        embedding_dim=4,
        attention="general",
        input_feeding=True,
        backbone={"cell": "gru", "hidden_size": 4, "bidirectional": True},
        decode={"beam_size": 3, "n_best": 2},
    )
    trainer = pl.Trainer(
        max_steps=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "new.ckpt", weights_only=True)

    network, codec = load(tmp_path / "new.ckpt")
    assert codec.vocab.itos == dm.vocab.itos and codec.target_vocab.itos == dm.target_vocab.itos
    assert codec.source_subword.model == dm.source_subword.model and network.decode_settings["n_best"] == 2
    lines = list(enumerate((files / "val.tsv").read_text(encoding="utf-8").splitlines(), start=1))
    codec.set_predict_input([(k, line.split("\t")[0]) for k, line in lines], "val")
    model.network.eval()
    with torch.inference_mode():
        for batch in codec.predict_batches():
            got, expected = network.predict(batch), model.network.predict(batch)
            for key in ("index", "tokens", "lengths", "scores", "attention"):
                assert torch.equal(got[key], expected[key]), key
