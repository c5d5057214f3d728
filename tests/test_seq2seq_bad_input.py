"""The encoder-decoder's bad input (issue 12): each one clear line and exit 1, or a warning where output can
still be given (a source whose output is cut at the maximum length). The reader-level errors (line counts,
an empty side, a dictionary line with no phones) are in test_parallel_data.py."""

import json
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from test_parallel_data import write
from test_scripts import CONFIGS
from test_seq2seq import reversal_rows

from seqkit.app.checkpoint import load
from seqkit.app.cli import report_errors
from seqkit.app.predict import predict, predict_with
from seqkit.data.errors import DataError
from seqkit.tasks.seq2seq.datamodule import ParallelDataModule
from seqkit.training import TaskModule


@pytest.fixture(scope="module")
def seq2seq_ckpt(tmp_path_factory):
    """A seq2seq checkpoint trained two steps on the reversal task (what train.py writes: TaskModule + its data module)."""
    folder = tmp_path_factory.mktemp("s2s")
    (folder / "train.tsv").write_text("".join(reversal_rows(60, 0)), encoding="utf-8")
    dm = ParallelDataModule(train_path=str(folder / "train.tsv"), val_path=str(folder / "train.tsv"), batch_size=16)
    dm.setup("fit")
    torch.manual_seed(0)
    model = TaskModule(
        "seq2seq", **dm.model_kwargs(), embedding_dim=8, backbone={"cell": "gru", "hidden_size": 8}, attention="dot"
    )
    trainer = pl.Trainer(
        max_steps=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(folder / "model.ckpt")
    return folder / "model.ckpt"


@pytest.fixture
def legacy_ckpt(tmp_path):
    """A checkpoint written before issue #25 (seqkit.models.Seq2Seq + ParallelTextDataModule: tests/legacy/g2p)."""
    shutil.copy(Path(__file__).resolve().parent / "legacy" / "g2p" / "model.ckpt", tmp_path / "legacy.ckpt")
    return tmp_path / "legacy.ckpt"


def edited(ckpt, folder, name, edit):
    checkpoint = torch.load(ckpt, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, folder / name)
    return folder / name


def predict_fails_with(ckpt, tmp_path, capsys, monkeypatch) -> str:
    """predict.py's command (``seqkit.app.predict.predict`` under the scripts' error wrapper) on ``ckpt``: exit 1
    and the one ``error:`` line it printed (no traceback)."""
    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    (tmp_path / "in.txt").write_text("abc\n", encoding="utf-8")
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("predict", overrides=[f"ckpt_path={ckpt}", f"input={tmp_path / 'in.txt'}", "threads=1"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        report_errors(predict)(cfg)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_checkpoint_of_another_shape_given_to_predict_is_one_error_line(legacy_ckpt, tmp_path, capsys, monkeypatch):
    def wider(c):
        c["hyper_parameters"]["backbone"]["hidden_size"] = 12  # hyper-parameters of another model than its weights

    ckpt = edited(legacy_ckpt, tmp_path, "wider.ckpt", wider)
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert (
        line.startswith(f"error: {ckpt}: its weights do not fit its own hyper-parameters (")
        and "size mismatch" not in line
    )
    assert "is [" in line and "in the checkpoint but [" in line  # the first weight that differs, with both shapes

    def lost_weight(c):
        del c["state_dict"]["decoder.output.bias"]

    ckpt = edited(legacy_ckpt, tmp_path, "lost.ckpt", lost_weight)
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line == (
        f"error: {ckpt}: its weights do not fit its own hyper-parameters (weight decoder.output.bias is missing "
        f"from the checkpoint): the file was edited or mixes two models; predict with the checkpoint the "
        f"training run wrote"
    )

    ckpt = edited(
        legacy_ckpt,
        tmp_path,
        "tagger.ckpt",
        lambda c: c["seqkit"].update(model_class="seqkit.models.tagger.SequenceTagger"),
    )  # another shape's class
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line == (
        f"error: {ckpt}: its data module seqkit.data.parallel.ParallelTextDataModule is not one the tagging "
        f"shape converts"
    )  # the class names another shape: its data is not that shape's

    ckpt = edited(legacy_ckpt, tmp_path, "no_data.ckpt", lambda c: c["seqkit"].update(datamodule_class=None))
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line.startswith(f"error: {ckpt}: holds no data module")


def test_a_new_checkpoint_edited_or_of_another_shape_is_one_error_line(seq2seq_ckpt, tmp_path, capsys, monkeypatch):
    """The same edits of a checkpoint train.py writes now (TaskModule: weights under ``network.``, the codec's
    class, settings and state in checkpoint["seqkit"])."""

    def wider(c):
        c["hyper_parameters"]["backbone"]["hidden_size"] = 12

    ckpt = edited(seq2seq_ckpt, tmp_path, "wider.ckpt", wider)
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert (
        line.startswith(f"error: {ckpt}: its weights do not fit its own hyper-parameters (")
        and "size mismatch" not in line
    )
    assert "is [" in line and "in the checkpoint but [" in line

    ckpt = edited(seq2seq_ckpt, tmp_path, "lost.ckpt", lambda c: c["state_dict"].pop("network.decoder.output.bias"))
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line == (
        f"error: {ckpt}: its weights do not fit its own hyper-parameters (weight decoder.output.bias is missing "
        f"from the checkpoint): the file was edited or mixes two models; predict with the checkpoint the "
        f"training run wrote"
    )

    ckpt = edited(seq2seq_ckpt, tmp_path, "other.ckpt", lambda c: c["seqkit"].update(shape="classification"))
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line.startswith(
        f"error: {ckpt}: names codec 'seqkit.tasks.seq2seq.codec:Seq2SeqCodec', which is not a codec "
        f"of the classification shape; refused"
    )

    ckpt = edited(seq2seq_ckpt, tmp_path, "no_data.ckpt", lambda c: c["seqkit"].update(codec_class=None))
    line = predict_fails_with(ckpt, tmp_path, capsys, monkeypatch)
    assert line.startswith(f"error: {ckpt}: holds no codec")


def test_an_output_cut_at_the_maximum_length_is_a_warning_not_a_crash(seq2seq_ckpt, tmp_path, capfd):
    network, codec = load(seq2seq_ckpt)
    source, out = tmp_path / "long.txt", tmp_path / "out.jsonl"
    source.write_text("abcdefabcdefabcdefabcdef\nab\n", encoding="utf-8")  # far longer than any training word
    capfd.readouterr()
    predict_with(
        network, codec, str(source), str(out), {"max_len_ratio": 0.0, "max_len_extra": 2, "beam_size": 2}
    )  # at most 2 output tokens
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in rows] == ["abcdefabcdefabcdefabcdef", "ab"]  # every source still answered
    assert all(len(r["output"].split()) <= 2 for r in rows)
    warning = [line for line in capfd.readouterr().err.splitlines() if "maximum length" in line]
    assert len(warning) == 1 and warning[0].startswith("[seqkit] warning: ") and "decode.max_len_ratio" in warning[0]


@pytest.mark.parametrize("side", ["en", "de"])
def test_invalid_utf8_in_a_line_aligned_file_names_the_file_and_line(side, tmp_path):
    write(tmp_path / "train.en", "a cat\nthe dog\nsits\n")
    write(tmp_path / "train.de", "eine katze\nder hund\nsitzt\n")
    write(tmp_path / f"train.{side}", b"one\ntwo \xc3\x28 bad\nthree\n")
    dm = ParallelDataModule(
        root=str(tmp_path), train_path="train", src_lang="en", tgt_lang="de", source_tokens="bpe", target_tokens="space"
    )
    with pytest.raises(DataError, match=rf"train\.{side}:2: invalid UTF-8"):
        dm.setup("fit")
