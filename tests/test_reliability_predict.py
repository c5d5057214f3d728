"""Streaming prediction: chunk by chunk, in input order, and a bad line in the middle stops it only after
everything before it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import marker_examples, write_tab_file
from hydra import compose, initialize_config_dir
from test_tagger_scripts import conll_text

from seqkit.app.checkpoint import load
from seqkit.app.predict_stream import stream_predictions
from seqkit.app.train import train
from seqkit.data.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def config(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifier")
    for k, (name, n) in enumerate((("train", 64), ("val", 16))):
        write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed=k))
    train(
        config(
            "train",
            f"paths.output_dir={folder}",
            f"data.train_path={folder / 'train.tsv'}",
            f"data.val_path={folder / 'val.tsv'}",
            "backbone.hidden_size=8",
            "model.embedding_dim=8",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
        )
    )
    return folder / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagger")
    for k, name in enumerate(("train", "val")):
        (folder / f"{name}.conll").write_text(conll_text(30, k + 1), encoding="utf-8")
    train(
        config(
            "train",
            "task=ner",
            f"paths.output_dir={folder}",
            "data.builtin=null",
            f"data.train_path={folder / 'train.conll'}",
            f"data.val_path={folder / 'val.conll'}",
            "embedding.dim=8",
            "backbone.hidden_size=8",
            "++model.char={embedding_dim:4,num_filters:4}",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
        )
    )
    return folder / "checkpoints" / "best.ckpt"


def predict(ckpt, source, output, chunk_lines, **options):
    network, codec = load(str(ckpt))  # as seqkit.app.predict runs it (no Lightning), with chunk_lines set
    calls = []
    set_input = codec.set_predict_input

    def recording(lines, *args, **kwargs):  # how many lines each chunk hands the codec
        calls.append(len(lines))
        return set_input(lines, *args, **kwargs)

    codec.set_predict_input = recording
    count = stream_predictions(network, codec, str(source), str(output), options, chunk_lines=chunk_lines)
    return count, calls


def rows_of(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chunks_give_the_same_rows_in_input_order(classifier, tmp_path):
    texts = [" ".join(words.split()[: 3 + i % 7]) for i, (words, _) in enumerate(marker_examples(300, seed=9))]
    lines = [t if i % 10 else "" for i, t in enumerate(texts)]  # blank lines: a record each, with no prediction
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole, chunked = tmp_path / "whole.jsonl", tmp_path / "chunked.jsonl"
    count, calls = predict(classifier, source, whole, chunk_lines=100_000)
    assert calls == [300] and count == 300
    count, calls = predict(classifier, source, chunked, chunk_lines=16)
    assert count == 300 and max(calls) == 16 and sum(calls) == 300  # never more than a chunk at a time
    assert [r["text"] for r in rows_of(chunked)] == lines and sum(r["label"] is None for r in rows_of(chunked)) == 30
    assert rows_of(chunked) == rows_of(whole)


def test_a_bad_line_in_the_middle_is_named_after_everything_before_it_is_written(classifier, tmp_path):
    texts = [f"zig w{i % 40} tac" for i in range(100)]
    raw = "\n".join(texts).encode() + b"\n"
    lines = raw.split(b"\n")
    lines[56] = b"caf\xe9 \xff"  # line 57: not UTF-8
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        predict(classifier, source, out, chunk_lines=10)
    assert (info.value.path, info.value.line) == (str(source), 57)
    assert str(info.value).endswith(":57: invalid UTF-8 at byte 3 of the line")
    assert [r["text"] for r in rows_of(out)] == texts[:56]  # lines 1-56, the 51-56 of the broken chunk too


def test_conll_input_is_cut_between_sentences_and_a_bad_sentence_stops_it(tagger, tmp_path):
    sentences = [f"we {w}\nsaw {w}\n" for w in ("a", "b", "c", "d", "e", "f", "g", "h")]
    source, out = tmp_path / "in.conll", tmp_path / "out.jsonl"
    source.write_text("\n".join(sentences), encoding="utf-8")
    count, calls = predict(tagger, source, out, chunk_lines=4, input_format="conll")
    assert count == 8 and all(c % 3 == 0 for c in calls[:-1])  # whole sentences (2 lines + blank) each chunk
    assert [r["tokens"] for r in rows_of(out)] == [["we", "saw"]] * 8
    broken = sentences[:5] + ["we e\nsaw e extra column\n"] + sentences[6:]
    source.write_text("\n".join(broken), encoding="utf-8")
    with pytest.raises(DataError, match=r":17: expected 2 columns, found 4"):
        predict(tagger, source, out, chunk_lines=100, input_format="conll")
    assert len(rows_of(out)) == 5  # the five sentences before the broken one


def test_an_unwritable_output_is_named_before_any_work(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("zig w1 tac\n", encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"a-file/out.jsonl: cannot write the output: Not a directory"):
        predict(classifier, source, blocker / "out.jsonl", chunk_lines=10)
    with pytest.raises(DataError, match="no text to predict"):
        source.write_text("\n \n", encoding="utf-8")
        predict(classifier, source, tmp_path / "out.jsonl", chunk_lines=10)
