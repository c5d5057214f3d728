"""Streamed training files (seqkit/data/streaming.py): every example once per epoch across DDP ranks and workers,
the same steps on every rank, bounded shuffling, an order that is a function of (seed, epoch), the readers' errors
by file and line, and the vocabularies of the in-memory path."""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from torch.utils.data import DataLoader

from seqkit.data.conll import read_conll, stream_conll
from seqkit.data.errors import DataError
from seqkit.data.streaming import STREAMING_AUTO_MB, StreamedExamples, chunk_bounds, streaming_choice
from seqkit.data.textfile import iter_lines, read_lines
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.seq2seq.codec import Seq2SeqCodec, iter_parallel, read_parallel
from seqkit.tasks.tagging.datamodule import TaggingDataModule


@dataclass
class Item:
    index: int
    size: int


def dataset(count, batch_size=4, buffer=5, **kwargs):
    sizes = [1 + (7 * p) % 11 for p in range(count)]
    return StreamedExamples(
        lambda: ((p + 1, s) for p, s in enumerate(sizes)),
        count,
        lambda raws: [Item(-1, s) for s in raws],
        lambda items: [(it.index, it.size) for it in items],
        lambda it: it.size,
        batch_size,
        "<test>",
        shuffle_buffer=buffer,
        seed=3,
        **kwargs,
    )


def epoch_of(world, workers, count, epoch=0, **kwargs):
    """{rank: [batch, ...]} of one epoch, each batch a list of (position, size)."""
    ranks = {}
    for rank in range(world):
        data = dataset(count, num_replicas=world, rank=rank, num_workers=workers, **kwargs)
        data.set_epoch(epoch)
        if workers:  # in this process: worker w of the DataLoader, as get_worker_info would say
            per_worker = []
            for w in range(workers):
                info = SimpleNamespace(id=w, num_workers=workers)
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr("seqkit.data.streaming.get_worker_info", lambda info=info: info)
                    per_worker.append(list(data))
            ranks[rank] = [b for w in per_worker for b in w]
        else:
            ranks[rank] = list(data)
        assert len(ranks[rank]) == len(data)
    return ranks


@pytest.mark.parametrize(
    "count,world,workers",
    [(103, 1, 0), (103, 2, 0), (103, 2, 2), (40, 3, 2), (21, 2, 1), (11, 2, 2)],
)
def test_every_example_once_and_the_same_steps_on_every_rank(count, world, workers):
    ranks = epoch_of(world, workers, count)
    seen = Counter(p for batches in ranks.values() for b in batches for p, _ in b)
    assert set(seen) == set(range(count)) and set(seen.values()) == {1}  # the union is all, no duplicates
    assert len({len(batches) for batches in ranks.values()}) == 1  # the same number of steps (else DDP hangs)
    assert all(1 <= len(b) <= 4 for batches in ranks.values() for b in batches)


def test_shuffling_stays_in_a_chunk_buckets_and_depends_on_seed_and_epoch_alone():
    first, again, second = (epoch_of(1, 0, 103, epoch)[0] for epoch in (0, 0, 1))
    assert first == again and first != second
    bounds = chunk_bounds(103, 5, 1)
    chunk_of = {p: k for k, (a, b) in enumerate(bounds) for p in range(a, b)}
    for batch in first:
        assert len({chunk_of[p] for p, _ in batch}) == 1  # a shard holds one chunk (shuffle_buffer examples)
    assert [p for b in first for p, _ in b] != list(range(103))  # shuffled
    wide = epoch_of(1, 0, 103, buffer=200)[0]  # one chunk: sorted by length inside it
    spread = sum(max(s for _, s in b) - min(s for _, s in b) for b in wide)
    unsorted = sum(max(s for _, s in b) - min(s for _, s in b) for b in dataset(103, buffer=200, bucketing=False))
    assert spread < unsorted / 3


def test_chunks_keep_an_example_for_every_shard():
    assert chunk_bounds(23, 10, 2) == [(0, 10), (10, 20), (20, 23)]  # 3 examples left: enough for 2 shards
    assert chunk_bounds(21, 10, 2) == [(0, 10), (10, 21)]  # 1 example left for 2 shards: joins the chunk before
    with pytest.raises(DataError, match="3 examples cannot be shared by 4 readers"):
        dataset(3, num_replicas=2, num_workers=2)


def test_a_file_that_changed_since_it_was_counted_is_an_error():
    data = dataset(10)
    data.count = 12
    with pytest.raises(DataError, match="changed while training: 12 examples were counted, now 10"):
        list(data)


def test_streaming_choice_by_size():
    limit = STREAMING_AUTO_MB * 2**20
    assert streaming_choice("auto", limit + 1) and not streaming_choice("auto", limit)
    assert streaming_choice(True, 0) and not streaming_choice(False, 10 * limit)
    with pytest.raises(ValueError, match="data.streaming must be auto, true or false"):
        streaming_choice("yes", 0)


@pytest.mark.parametrize("raw", [b"a\nb\n", b"\xef\xbb\xbfa\r\nb", b"a\n\n\n", b"x\n\xff\n", b"\n \n", b"a\x85b\nc"])
def test_lines_read_lazily_are_the_lines_read_at_once(tmp_path, raw):
    path = tmp_path / "f.txt.gz"
    path.write_bytes(gzip.compress(raw))

    def outcome(read):
        try:
            return read(path)
        except DataError as e:
            return str(e)

    assert outcome(read_lines) == outcome(lambda p: list(iter_lines(p)))


def tsv_rows(n):
    return [(" ".join(f"w{(i * j) % 13}" for j in range(1 + i % 7)), f"c{i % 3}") for i in range(n)]


def write_tsv(path, rows):
    path.write_text("".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
    return path


def test_a_streamed_classification_file_trains_on_the_in_memory_vocabularies(tmp_path):
    rows = tsv_rows(90)
    files = dict(
        train_path=str(write_tsv(tmp_path / "t.tsv", rows)), val_path=str(write_tsv(tmp_path / "v.tsv", rows[:9]))
    )
    memory = ClassificationDataModule(**files, streaming=False)
    memory.setup("fit")
    streamed = ClassificationDataModule(**files, streaming=True, shuffle_buffer=16, batch_size=8, num_workers=2)
    streamed.setup("fit")
    assert isinstance(memory.datasets["train"], list)
    assert (
        streamed.codec.vocab.itos == memory.codec.vocab.itos and streamed.codec.labels.itos == memory.codec.labels.itos
    )
    assert len(streamed.datasets["val"]) == 9  # the other splits stay in memory
    batches = list(streamed.train_dataloader())  # two worker processes, each its own shard
    assert sorted(int(i) for b in batches for i in b.index) == list(range(90))
    by_index = {e.index: e.ids for e in memory.codec.encode(memory.codec.read(files["train_path"]), "t")}
    for b in batches:  # the same ids as the in-memory encoding of the same line
        for k, i in enumerate(b.index.tolist()):
            assert b.tokens[k, : b.lengths[k]].tolist() == by_index[i]
    auto = ClassificationDataModule(**files)  # streaming=auto: a small file stays in memory
    auto.setup("fit")
    assert isinstance(auto.datasets["train"], list)


def test_a_malformed_line_of_a_streamed_file_stops_with_its_file_and_line(tmp_path):
    rows = tsv_rows(30)
    path = write_tsv(tmp_path / "t.tsv", rows)
    path.write_text(path.read_text() + "no label here\n", encoding="utf-8")
    dm = ClassificationDataModule(train_path=str(path), val_path=str(path), streaming=True)
    with pytest.raises(DataError, match=rf"^{path}:31: no tab-separated label"):
        dm.setup("fit")
    held_out = ClassificationDataModule(train_path=str(path), streaming=True)
    with pytest.raises(ValueError, match="a streamed training file needs data.val_path"):
        held_out.setup("fit")


def conll(sentences):
    return "\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n"


def test_a_streamed_conll_file_reads_as_the_in_memory_reader_and_converts_iob1(tmp_path):
    iob1 = [[("Ann", "I-PER"), ("met", "O"), ("Bob", "I-PER")], [("in", "O"), ("New", "I-LOC"), ("York", "I-LOC")]]
    path = tmp_path / "t.conll"
    path.write_text(conll(iob1 * 5), encoding="utf-8")
    memory = read_conll(path, log=lambda m: None)
    dm = TaggingDataModule(train_path=str(path), val_path=str(path), streaming=True, pretrained=None)
    dm.setup("fit")
    streamed = [s for _, s in dm.codec.iter_examples(str(path))]
    assert [(s.tokens, s.tags, s.token_lines) for s in streamed] == [(s.tokens, s.tags, s.token_lines) for s in memory]
    assert streamed[0].tags == ["B-PER", "O", "B-PER"]
    assert dm.codec.tags.itos == sorted({t for s in memory for t in s.tags})
    bad = tmp_path / "bad.conll"
    bad.write_text(conll(iob1) + "\nx O\ny I-PER extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{bad}:10: expected 2 columns, found 3"):
        list(stream_conll(bad, found="iob1"))


def test_a_streamed_conllu_file_reads_as_the_in_memory_reader(tmp_path):
    path = tmp_path / "t.conllu"
    lines = ["# sent_id = 1", "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_", "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_"]
    lines += ["2\tdo\tdo\tAUX\t_\t_\t0\troot\t_\t_", "3\tn't\tnot\tPART\t_\t_\t2\tadvmod\t_\t_", ""]
    path.write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    dm = TaggingDataModule(train_path=str(path), val_path=str(path), format="conllu", scheme="none", pretrained=None)
    streamed = [(n, s.tokens, s.tags) for n, s in dm.codec.iter_examples(str(path))]
    assert streamed == [(s.line, s.tokens, s.tags) for s in dm.codec.read(path)]
    assert streamed[1] == (8, ["A", "do", "n't"], ["DET", "AUX", "PART"])


def test_streamed_parallel_text_is_the_in_memory_pairs_and_keeps_its_errors(tmp_path):
    src, tgt = tmp_path / "t.en", tmp_path / "t.de"
    src.write_text("a b\nc\nd e f\n", encoding="utf-8")
    tgt.write_text("x\ny z\nw\n", encoding="utf-8")
    assert [(p.text, p.target_texts, p.line) for p in iter_parallel(src, tgt)] == [
        (p.text, p.target_texts, p.line) for p in read_parallel(src, tgt)
    ]
    codec = Seq2SeqCodec(src_lang="en", tgt_lang="de", target_tokens="char", root=str(tmp_path))
    assert [n for n, _ in codec.iter_examples("t")] == [1, 2, 3]
    tgt.write_text("x\ny z\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t\.en: has 3 lines but .*t\.de has 2"):
        list(iter_parallel(src, tgt))
    subword = Seq2SeqCodec(src_lang="en", tgt_lang="de", source_tokens="bpe", root=str(tmp_path))
    with pytest.raises(ValueError, match="give data.streaming=false"):
        subword.iter_examples("t")


def test_the_training_loop_sets_the_streamed_epoch(tmp_path):
    from seqkit.training.callbacks.epoch_seed import EpochSeed

    data = dataset(20)
    trainer = SimpleNamespace(train_dataloader=DataLoader(data, batch_size=None), current_epoch=4)
    EpochSeed(0).on_train_epoch_start(trainer, None)
    assert data.epoch == 4


def test_the_scale_benchmark_corpus_is_whole_builtin_lines_up_to_its_size(tmp_path):
    from seqkit.benchmark.scale_stream import write_corpus
    from seqkit.data.labelled_text import read_labelled_text

    path = write_corpus(tmp_path / "c.tsv", 0.3)
    assert 0.29 * 2**20 < path.stat().st_size <= 0.3 * 2**20
    examples = read_labelled_text(path)  # every line a well-formed example
    assert {e.label for e in examples} == {"0", "1"} and len(examples) > 3000
