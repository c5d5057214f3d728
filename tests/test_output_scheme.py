"""IOB1 training files: the tagger learns IOB2 (the notice says so and names the option), the checkpoint keeps
the files' scheme, and predict's ``options.output_scheme=input`` (or iob1/iob2/iobes) writes the predicted tags
in that scheme, same entities; a model of plain tags (data.scheme=none) refuses the option."""

from __future__ import annotations

import json

import pytest
import torch

from seqkit.app.predict import predict_with
from seqkit.data.tag_schemes import detect_scheme, encode, iob1_to_iob2, spans
from seqkit.tasks.tagging.codec import TaggingCodec
from seqkit.tasks.tagging.datamodule import TaggingDataModule
from seqkit.training import TaskModule

IOB1 = "John I-PER\nSmith I-PER\nmet O\nMary I-PER\n\nAlice I-PER\nBob B-PER\nleft O\nParis I-LOC\n\n"


def test_iob1_is_written_back_as_iob1_with_the_same_entities():
    tags = ["I-PER", "I-PER", "O", "I-PER", "B-PER", "O", "I-LOC"]
    assert iob1_to_iob2(tags) == ["B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC"]
    assert encode(spans(tags), len(tags), "iob1") == tags  # B- only between two entities of one type
    assert encode(spans(iob1_to_iob2(tags)), len(tags), "iob1") == tags


@pytest.fixture(scope="module")
def iob1_tagger(tmp_path_factory):
    """An untrained tagger over an IOB1 file (writing tags in a scheme needs no training) -> (network, codec,
    folder)."""
    folder = tmp_path_factory.mktemp("iob1")
    (folder / "train.conll").write_text(IOB1 * 3, encoding="utf-8")
    data = TaggingDataModule(train_path=str(folder / "train.conll"), batch_size=4)
    data.setup("fit")
    torch.manual_seed(0)
    module = TaskModule("tagging", **data.model_kwargs(), char=None, backbone={"hidden_size": 4, "bidirectional": True})
    return module.network.eval(), data.codec, folder


def test_the_checkpoint_keeps_the_training_files_scheme(iob1_tagger):
    _, codec, _ = iob1_tagger
    assert codec.input_scheme == "iob1" and codec.hparams.scheme == "iob2"
    restored = TaggingCodec.from_checkpoint(dict(codec.hparams), codec.state_dict())
    assert restored.input_scheme == "iob1"
    old = {k: v for k, v in codec.state_dict().items() if k != "input_scheme"}  # a checkpoint from before
    assert TaggingCodec.from_checkpoint(dict(codec.hparams), old).input_scheme == "iob2"


def predicted(iob1_tagger, **options):
    network, codec, folder = iob1_tagger
    (folder / "in.txt").write_text("John Smith met Mary\nAlice Bob left Paris\n" * 4, encoding="utf-8")
    predict_with(network, codec, str(folder / "in.txt"), str(folder / "out.jsonl"), options)
    return [json.loads(line) for line in (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()]


def test_output_scheme_input_writes_the_predictions_in_iob1(iob1_tagger):
    default, as_input = predicted(iob1_tagger), predicted(iob1_tagger, output_scheme="input")
    assert [r["spans"] for r in default] == [r["spans"] for r in as_input] and any(r["spans"] for r in default)
    assert detect_scheme(r["tags"] for r in default) == "iob2"
    for d, i in zip(default, as_input):
        assert i["tags"] == encode(spans(d["tags"]), len(d["tags"]), "iob1")
        assert not any(t.startswith("B-") and (k == 0 or i["tags"][k - 1] == "O") for k, t in enumerate(i["tags"]))
    iobes = predicted(iob1_tagger, output_scheme="iobes")
    assert [r["spans"] for r in iobes] == [r["spans"] for r in default]
    assert any(t[:2] in ("S-", "E-") for r in iobes for t in r["tags"])
    with pytest.raises(ValueError, match=r"options.output_scheme must be one of input, iob2, iobes, iob1; got 'bio'"):
        predicted(iob1_tagger, output_scheme="bio")


def test_the_conversion_notice_names_the_option(tmp_path, capsys):
    (tmp_path / "train.conll").write_text(IOB1, encoding="utf-8")
    TaggingDataModule(train_path=str(tmp_path / "train.conll")).setup("fit")
    assert (
        f"[seqkit] {tmp_path / 'train.conll'}: tags are IOB1; converted to IOB2 (predictions come in IOB2; "
        "options.output_scheme=input writes them in IOB1)" in capsys.readouterr().err.splitlines()
    )


def test_plain_tags_have_no_scheme_to_write():
    with pytest.raises(ValueError, match=r"no entity scheme \(data.scheme=none\)"):
        TaggingCodec(scheme="none").set_predict_input([], "in.txt", input_format="text", output_scheme="input")
