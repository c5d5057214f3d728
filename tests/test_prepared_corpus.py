"""Prepared corpora of the language model (data.prepare): the streamed reader gives read_lines' text piece by piece,
the id file holds the in-memory path's ids and vocabulary, its cache follows the file's content and the settings,
and training on the memory-mapped ids gives the in-memory path's batches and loss."""

import gzip
import json
import random

import numpy as np
import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.data.textfile import read_lines
from seqkit.data.textstream import content_hash, text_blocks
from seqkit.tasks.language_model.codec import LanguageModelCodec
from seqkit.tasks.language_model.prepared import smallest_dtype
from seqkit.tasks.language_model.tbptt import ChunkLoader, TBPTTChunks

TRICKY = [
    "\ufeffHéllo wörld\r\nsecond  line\r\r\n\n€ and 漢字 here\nlast",  # BOM, CRLF, a stray CR, no last newline
    "a\n\r",  # a last line that is only a CR: read_lines drops it
    "one very long line without a newline, cut after its spaces ü ü ü",
    "x\n\n\n  \ny\n",
    "tab\tseparated\u0085words\u2028here\n",  # U+0085 and U+2028 stay inside their line
]


def in_memory_text(path):
    return "".join(line + "\n" for _, line in read_lines(path))


@pytest.mark.parametrize("piece", [1, 3, 7, 4096])
@pytest.mark.parametrize("text", TRICKY)
def test_streamed_blocks_are_read_lines_text_whatever_the_piece_size(tmp_path, text, piece):
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))  # pieces of 1, 3, 7 bytes cut multi-byte characters and CRLFs
    blocks = list(text_blocks(path, piece_bytes=piece))
    assert "".join(blocks) == in_memory_text(path)


def test_a_gzipped_file_streams_as_read_lines_reads_it(tmp_path):
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(TRICKY[0].encode("utf-8")))
    assert "".join(text_blocks(path, piece_bytes=5)) == in_memory_text(path)


@pytest.mark.parametrize("piece", [2, 5, 4096])
def test_bad_input_is_read_lines_error_file_line_and_byte(tmp_path, piece):
    path = tmp_path / "bad.txt"
    path.write_bytes("first ü\nsecond line \xff".encode("utf-8", "surrogateescape")[:-2] + b"\xff oops\nthird\n")
    with pytest.raises(DataError) as expected:
        read_lines(path)
    with pytest.raises(DataError) as streamed:
        list(text_blocks(path, piece_bytes=piece))
    assert str(streamed.value) == str(expected.value) and ":2: invalid UTF-8 at byte" in str(expected.value)
    for content in (b"", b"  \n\t\n"):
        path.write_bytes(content)
        with pytest.raises(DataError, match="file is empty"):
            list(text_blocks(path, piece_bytes=piece))


def test_content_hash_is_sha256_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "t.txt"
    path.write_bytes(b"abc" * 1000)
    assert content_hash(path, piece_bytes=7) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_smallest_dtype_holds_the_vocabulary():
    assert [smallest_dtype(n).name for n in (2, 256, 257, 65536, 65537)] == [
        "uint8",
        "uint8",
        "uint16",
        "uint16",
        "uint32",
    ]


def codec(path, prepare, cache, **settings):
    return LanguageModelCodec(
        train_path=str(path), prepare=prepare, prepare_dir=str(cache), batch_size=2, bptt=3, **settings
    )


def encoded(codec_):
    """The codec's splits read, its vocabulary fitted, each split encoded -> {split: ids as a list}."""
    splits = codec_.read_splits()
    codec_.build(splits["train"][0])
    return {name: np.asarray(codec_.encode(*split)).tolist() for name, split in splits.items()}


def random_text(seed, lines=60):
    rng = random.Random(seed)
    words = ["to", "be", "or", "not", "ü", "漢字", "the", "question", "a", "b"]
    return "".join(" ".join(rng.choices(words, k=rng.randint(0, 9))) + rng.choice(["\n", "\r\n"]) for _ in range(lines))


@pytest.mark.parametrize(
    "settings",
    [
        {"level": "char"},
        {"level": "word"},
        {"level": "word", "min_freq": 3, "max_vocab_size": 4},
        {"level": "char", "max_vocab_size": 5},
    ],
)
def test_prepared_ids_and_vocabulary_are_the_in_memory_ones(tmp_path, monkeypatch, settings):
    monkeypatch.setattr("seqkit.tasks.language_model.prepared.PIECE_BYTES", 64)
    (tmp_path / "train.txt").write_text(random_text(1), encoding="utf-8")
    (tmp_path / "val.txt").write_text("to be ☃ or not to be, zzz\n" * 3, encoding="utf-8")  # ☃, z, ',': unknown
    for val in (None, tmp_path / "val.txt"):  # held out (the last 10%), or a file of its own
        extra = {**settings, "val_path": None if val is None else str(val)}
        memory = codec(tmp_path / "train.txt", False, tmp_path / "cache", **extra)
        prepared = codec(tmp_path / "train.txt", True, tmp_path / "cache", **extra)
        expected, got = encoded(memory), encoded(prepared)
        assert prepared.vocab.itos == memory.vocab.itos
        assert got == expected and set(got) == {"train", "val"}
        assert len(got["val"]) > 0 and memory.vocab.index("<unk>") in got["val"] or val is None


def test_prepared_ids_are_memory_mapped_in_the_smallest_dtype_with_their_vocabulary(tmp_path):
    (tmp_path / "train.txt").write_text(random_text(2), encoding="utf-8")
    prepared = codec(tmp_path / "train.txt", True, tmp_path / "cache", val_path=str(tmp_path / "train.txt"))
    splits = prepared.read_splits()
    prepared.build(splits["train"][0])
    ids = prepared.encode(*splits["train"])
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint8 and not ids.flags.writeable
    (folder,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert json.loads((folder / "vocab.json").read_text())["itos"] == prepared.vocab.itos
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["tokens"] == len(ids) == (folder / "ids.bin").stat().st_size and meta["level"] == "char"


def test_the_cache_follows_the_content_and_the_settings(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("abcabc\n" * 20, encoding="utf-8")
    first = encoded(codec(train, True, tmp_path / "cache"))
    assert "preparing" in capsys.readouterr().err
    assert encoded(codec(train, True, tmp_path / "cache")) == first
    assert "preparing" not in capsys.readouterr().err  # reused
    train.write_text("abcabd\n" * 20, encoding="utf-8")  # same size, another content
    changed = encoded(codec(train, True, tmp_path / "cache"))
    assert "preparing" in capsys.readouterr().err and changed != first
    assert changed == encoded(codec(train, False, tmp_path / "cache"))
    word = encoded(codec(train, True, tmp_path / "cache", level="word"))  # another setting: another file
    assert "preparing" in capsys.readouterr().err and word == encoded(codec(train, False, tmp_path, level="word"))
    vocabularies = sorted(p.name.split(".vocab.")[0] for p in (tmp_path / "cache").glob("*.vocab.*.json"))
    assert len(vocabularies) == 3 and len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 3


@pytest.mark.parametrize("jitter", [False, True])
@pytest.mark.parametrize("world", [1, 2])
def test_batches_from_the_memory_map_equal_the_in_memory_ones(tmp_path, jitter, world):
    ids = np.random.default_rng(0).integers(2, 200, 5003).astype(np.uint8)
    ids.tofile(tmp_path / "ids.bin")
    mapped = np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="r")
    for rank in range(world):
        kwargs = dict(jitter=jitter, seed=3, num_replicas=world, rank=rank)
        memory = TBPTTChunks(torch.from_numpy(ids.astype(np.int64)), 7, bptt=20, **kwargs)
        disk = TBPTTChunks(mapped, 7, bptt=20, **kwargs)
        for _epoch in range(2):  # jitter: a new cut each epoch, the same on both
            pairs = list(zip(memory, disk, strict=True))
            assert len(pairs) > 10
            for a, b in pairs:
                assert b.tokens.dtype == torch.long
                for field in ("tokens", "labels", "lengths", "index"):
                    assert torch.equal(getattr(a, field), getattr(b, field)), field


@pytest.mark.parametrize("jitter", [False, True])
def test_loader_workers_make_one_process_s_batches_in_order_epoch_after_epoch(tmp_path, jitter):
    ids = np.random.default_rng(1).integers(2, 90, 3001).astype(np.uint8)
    ids.tofile(tmp_path / "ids.bin")
    mapped = np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="r")
    reference = TBPTTChunks(torch.from_numpy(ids.astype(np.int64)), 5, bptt=10, jitter=jitter, seed=2)
    loader = ChunkLoader(TBPTTChunks(mapped, 5, bptt=10, jitter=jitter, seed=2), num_workers=2)
    for _epoch in range(2):  # jitter: each epoch's own lengths, in the workers too
        pairs = list(zip(reference, loader, strict=True))
        assert len(pairs) > 20
        for a, b in pairs:
            assert torch.equal(a.tokens, b.tokens) and torch.equal(a.labels, b.labels)
            assert torch.equal(a.lengths, b.lengths)


def test_a_short_run_on_the_prepared_corpus_has_the_in_memory_loss(tmp_path):
    import pytorch_lightning as pl

    from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule
    from seqkit.training import TaskModule

    (tmp_path / "train.txt").write_text(random_text(3, lines=200), encoding="utf-8")
    losses = []
    for prepare, workers in ((False, 0), (True, 0), (True, 2)):
        module = LanguageModelingDataModule(
            train_path=str(tmp_path / "train.txt"),
            prepare=prepare,
            num_workers=workers,
            prepare_dir=str(tmp_path / "cache"),
            bptt=16,
            batch_size=4,
            eval_batch_size=4,
        )
        trainer = pl.Trainer(
            max_epochs=1,
            limit_train_batches=3,
            limit_val_batches=2,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        )
        torch.manual_seed(0)
        task = TaskModule("language_model", **_kwargs(module), embedding_dim=8, backbone={"hidden_size": 8})
        trainer.fit(task, datamodule=module)
        losses.append(float(trainer.callback_metrics["val/loss"]))
        assert isinstance(module.datasets["train"], np.memmap) == prepare
    assert losses[0] == losses[1] == losses[2]


def _kwargs(module):
    module.prepare_data()
    module.setup("fit")
    return module.model_kwargs()


def test_seqkit_prepare_writes_what_train_then_reads_without_preparing_again(tmp_path, capsys):
    from seqkit.app import command

    (tmp_path / "train.txt").write_text(random_text(4), encoding="utf-8")
    (tmp_path / "val.txt").write_text(random_text(5, lines=10), encoding="utf-8")
    args = [f"data.train_path={tmp_path / 'train.txt'}", f"data.val_path={tmp_path / 'val.txt'}"]
    args += [f"data.prepare_dir={tmp_path / 'cache'}", "data.level=word", "data.bptt=8", "data.eval_batch_size=4"]
    assert command.main(["prepare", *args]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["split"] for r in records] == ["train", "val"] and err.count("preparing") == 2
    text = (tmp_path / "train.txt").read_text(encoding="utf-8")
    assert records[0]["dtype"] == "uint8" and records[0]["tokens"] == len(text.split()) + text.count("\n")
    same = dict(level="word", val_path=str(tmp_path / "val.txt"))
    reader = codec(tmp_path / "train.txt", True, tmp_path / "cache", **same)
    assert encoded(reader) == encoded(codec(tmp_path / "train.txt", False, tmp_path, **same))
    assert "preparing" not in capsys.readouterr().err
