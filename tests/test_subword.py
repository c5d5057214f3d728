"""Subword tokens (data.source_tokens / target_tokens = bpe | unigram): sentencepiece learnt from the training side
only, deterministic and quiet, its model kept in the checkpoint (weights_only), outputs decoded back to text."""

import json
import random

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from test_scripts import CONFIGS

from seqkit.app.checkpoint import load
from seqkit.app.predict_stream import stream_predictions
from seqkit.app.train import build
from seqkit.data.subword import SubwordModel
from seqkit.tasks.seq2seq.datamodule import ParallelDataModule

EN = [
    "the",
    "dog",
    "dogs",
    "cat",
    "cats",
    "runs",
    "sleeps",
    "jumps",
    "big",
    "small",
    "house",
    "houses",
    "garden",
    "in",
    "near",
    "a",
    "red",
    "green",
    "walking",
    "playing",
    "Anna's",
    "ball,",
    "ball.",
]
DE = {w: w.upper()[::-1] + "en" for w in EN}  # a made-up word-for-word "translation"
UNSEEN = "zyxwvutsrq"  # only ever in validation


def sentences(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(EN) for _ in range(rng.randint(2, 8))) for _ in range(n)]


def write_pair(folder, prefix, source_lines):
    (folder / f"{prefix}.en").write_text("".join(s + "\n" for s in source_lines), encoding="utf-8")
    (folder / f"{prefix}.de").write_text(
        "".join(" ".join(DE.get(w, w) for w in s.split()) + "\n" for s in source_lines), encoding="utf-8"
    )


@pytest.fixture
def parallel_files(tmp_path):
    write_pair(tmp_path, "train", sentences(120, 0))
    write_pair(tmp_path, "val", [f"{s} {UNSEEN}" for s in sentences(30, 1)])  # the unseen word on every line
    return tmp_path


def subword_module(folder, source="bpe", target="unigram", **kwargs):
    return ParallelDataModule(
        root=str(folder),
        train_path="train",
        val_path="val",
        src_lang="en",
        tgt_lang="de",
        source_tokens=source,
        target_tokens=target,
        subword_vocab_size=60,
        batch_size=16,
        **kwargs,
    )


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_subword_units_round_trip_and_training_is_deterministic_and_quiet(kind, capfd):
    texts = sentences(200, 3)
    model = SubwordModel.train(texts, kind, 50)
    assert capfd.readouterr().err == ""  # sentencepiece's training log stays quiet
    assert SubwordModel.train(texts, kind, 50).model == model.model  # the same bytes every time
    for text in texts + sentences(20, 4) + ["Anna's  red   ball."]:
        pieces = model.encode(text)
        assert len(pieces) >= len(text.split())  # at least one piece a word
        assert model.decode(pieces) == " ".join(text.split())  # raw text back (whitespace runs become one space)
    assert len(model.encode("sleeps")) < len("sleeps")  # pieces longer than a character were learnt
    restored = SubwordModel.from_dict(torch.load(_saved(model.to_dict()), weights_only=True))
    assert restored.model == model.model and restored.encode(texts[0]) == model.encode(texts[0])


def _saved(state):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_subword_model_is_learnt_from_the_training_side_only(parallel_files, capfd):
    dm = subword_module(parallel_files, source="bpe", target="bpe", subword_vocab_size_src=200)
    dm.setup("fit")
    err = capfd.readouterr().err
    assert all(line.startswith("[seqkit] ") for line in err.splitlines()), err  # nothing from sentencepiece
    unseen_pieces = dm.source_subword.encode(UNSEEN)
    assert len(unseen_pieces) > 1 and "▁" + UNSEEN not in dm.vocab  # split into known pieces, no unit of its own
    # the control: had validation been read, its word on 30 lines would have been one piece
    with_val = SubwordModel.train([p.text for p in dm.read_splits()["train"][0]] + [f"x {UNSEEN}"] * 30, "bpe", 200)
    assert with_val.encode(UNSEEN) == ["▁" + UNSEEN]
    # validation targets are scored as decoded words, not pieces
    val = dm.datasets["val"][0]
    assert val.references == [dm.read_splits()["val"][0][0].target_texts[0].split()]
    train = dm.datasets["train"][0]
    assert dm.detokenize(dm.output_units(train.target)) == " ".join(train.references[0])


def test_share_vocab_learns_one_subword_model_from_both_sides(parallel_files):
    dm = subword_module(parallel_files, source="unigram", target="unigram", share_vocab=True)
    dm.setup("fit")
    assert dm.source_subword is dm.target_subword and dm.vocab is dm.target_vocab
    assert all(c in dm.vocab for c in "NEDRAG")  # upper-case letters (but A) only occur on the German side


def test_subword_checkpoint_round_trip_and_predict(parallel_files, tmp_path):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "task=g2p",
                "data.builtin=null",
                f"data.root={parallel_files}",
                "data.train_path=train",
                "data.val_path=val",
                "data.src_lang=en",
                "data.tgt_lang=de",
                "data.source_tokens=bpe",
                "data.target_tokens=unigram",
                "data.subword_vocab_size=60",
                "data.batch_size=16",
                "model.metric=bleu",
                "backbone.hidden_size=16",
                "embedding.dim=8",
                "model.decode.beam_size=3",
                "model.decode.n_best=2",
            ],
        )
    pl.seed_everything(0, verbose=False)
    dm = build(cfg.data)
    dm.setup("fit")
    model = build(cfg.model, **dm.model_kwargs())
    trainer = pl.Trainer(
        max_steps=20,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    ckpt = tmp_path / "subword.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=True)["seqkit"]["codec"]  # the codec's state, as the app loader reads it
    assert saved["source_subword"] == {"kind": "bpe", "model": dm.source_subword.model}
    assert saved["target_subword"]["kind"] == "unigram" and isinstance(saved["target_subword"]["model"], bytes)

    restored, restored_dm = load(ckpt)  # (network, codec) of the checkpoint alone: no training files read
    line = "the big dog runs near a green house"
    assert restored_dm.tokenizer("source")(line) == dm.tokenizer("source")(line)
    source = tmp_path / "input.txt"
    source.write_text(f"{line}\n\ncats {UNSEEN}\n", encoding="utf-8")
    rows = []
    for network, codec, name in ((model.network, dm.codec, "trained"), (restored, restored_dm, "restored")):
        out = tmp_path / f"{name}.jsonl"
        stream_predictions(network, codec, str(source), str(out), {"attention_plot": str(tmp_path / name)})
        rows.append([json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()])
    plots = sorted((tmp_path / "restored").iterdir())  # one heat map (source pieces x output pieces) per input line
    assert [p.name for p in plots] == ["attention_0001.png", "attention_0003.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots)
    assert rows[0] == rows[1]  # the restored model and tokenisers predict exactly what the trained ones do
    first = rows[1][0]
    assert first["source"] == line and len(first["n_best"]) == 2
    for hyp in first["n_best"]:  # decoded text: sentencepiece's word marks are gone, no piece is left split
        assert "▁" not in hyp["output"]
        pieces = restored_dm.target_subword.encode(hyp["output"])
        assert restored_dm.target_subword.decode(pieces) == hyp["output"]
    assert rows[1][1] == {"source": "", "output": None, "score": None}
