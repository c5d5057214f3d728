"""Bounded prediction and user text read as text: a sentence longer than options.max_length is refused (naming
its line) or, for a tagger, tagged in pieces; no chunk holds more than its token budget, whatever the input's
blank lines; and a word spelt like a control symbol (<pad>, <bos>, <eos>) is an ordinary word in every shape."""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import FILLERS
from test_tagger_scripts import conll_text

from seqkit.app import predict_stream
from seqkit.app.checkpoint import load
from seqkit.app.config import compose
from seqkit.app.predict import predict as app_predict
from seqkit.app.train import train
from seqkit.data.errors import DataError
from seqkit.data.pretrained import PretrainedVectors
from seqkit.data.vocab import PAD, UNK, Vocabulary
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.language_model.codec import EOS
from seqkit.tasks.language_model.datamodule import ConditionalLanguageModelingDataModule, LanguageModelingDataModule
from seqkit.tasks.seq2seq.datamodule import ParallelDataModule

BOS = "<bos>"
CONTROL_WORDS = [PAD, BOS, EOS, "<PAD>"]


def rows_of(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def trained(folder, *overrides):
    """Train a tiny model into ``folder`` (seqkit.app.train) -> its best checkpoint."""
    train(
        compose(
            "train",
            [
                f"paths.output_dir={folder}",
                *overrides,
                "backbone.hidden_size=8",
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
            ],
        )
    )
    return folder / "checkpoints" / "best.ckpt"


def token_lines(n, first=1):
    """``n`` CoNLL token lines numbered from ``first``, no blank line among them, made as they are read."""
    return ((number, f"w{number % 40} O") for number in range(first, first + n))


# ---- a token budget whatever the blank lines ------------------------------------------------------------------


def test_a_100000_token_conll_input_without_blank_lines_is_cut_into_bounded_chunks_and_pieces():
    read = [0]

    def lines():
        for line in token_lines(100_000):
            read[0] += 1
            yield line

    held, seen = [], []
    for chunk in predict_stream.chunks(lines(), 8192, True, predict_stream.Limit(1000, split=True), budget=5000):
        seen += [n for n, t in chunk if t]
        held.append(read[0] - len(seen))  # read but not yet handed out: one piece at most (and the line after)
        pieces = " ".join("x" if t else "|" for _, t in chunk).split("|")
        assert chunk.tokens <= 5000 and max(p.count("x") for p in pieces) <= 1000
        assert chunk.split == [(chunk[0][0], chunk[-1][0], 1)]  # all of it pieces of the sentence at line 1
    assert seen == list(range(1, 100_001)) and len(held) == 20 and max(held) <= 1001


def test_a_sentence_longer_than_max_length_is_refused_by_line_after_the_sentences_before_it():
    lines = [(1, "we O"), (2, "saw O"), (3, "")] + list(token_lines(100_000, first=4))
    out = predict_stream.chunks(iter(lines), 8192, True, predict_stream.Limit(1000, source="in.conll"))
    assert next(out) == lines[:3]
    with pytest.raises(DataError) as info:
        next(out)
    assert str(info.value) == (
        "in.conll:4: sentence of 100000 tokens is longer than options.max_length=1000 "
        "(raise it, or options.too_long=split)"
    )


def predict_with(network, codec, source, output, chunk_tokens=None, **options):
    """The application's prediction (seqkit.app.predict, no Lightning), with a chosen token budget per chunk."""
    budget = {} if chunk_tokens is None else {"chunk_tokens": chunk_tokens}
    return predict_stream.stream_predictions(network, codec, str(source), str(output), options, **budget)


def runner_of(ckpt):
    network, codec = load(str(ckpt))
    return lambda source, output, **options: predict_with(network, codec, source, output, **options)


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    """A tiny CoNLL tagger with a character encoder."""
    folder = tmp_path_factory.mktemp("tagger")
    for k, name in enumerate(("train", "val")):
        (folder / f"{name}.conll").write_text(conll_text(30, k + 1), encoding="utf-8")
    return trained(
        folder,
        "task=ner",
        "data.builtin=null",
        f"data.train_path={folder / 'train.conll'}",
        f"data.val_path={folder / 'val.conll'}",
        "embedding.dim=8",
        "++model.char={embedding_dim:4,num_filters:4}",
    )


@pytest.fixture(scope="module")
def tagger_run(tagger):
    return runner_of(tagger)


def test_a_tagger_splits_a_long_sentence_into_pieces_and_writes_one_record_with_every_tag(tagger_run, tmp_path):
    rng = random.Random(3)
    long = [rng.choice(FILLERS + ("Paris", "said", "Mary")) for _ in range(2500)]
    conll = tmp_path / "in.conll"
    conll.write_text("we\nsaw\n\n" + "".join(f"{w}\n" for w in long) + "\nthey\nleft\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        DataError,
        match=r"in.conll:4: sentence of 2500 tokens is longer than options.max_length=1000 "
        r"\(raise it, or options.too_long=split\)$",
    ):
        tagger_run(conll, out)  # the default: refuse
    assert [r["tokens"] for r in rows_of(out)] == [["we", "saw"]]
    assert tagger_run(conll, out, too_long="split", chunk_tokens=1000) == 3  # the sentence spans three chunks
    rows = rows_of(out)
    assert [r["tokens"] for r in rows] == [["we", "saw"], long, ["they", "left"]] and len(rows[1]["tags"]) == 2500
    pieces, alone = tmp_path / "pieces.conll", tmp_path / "alone.jsonl"
    pieces.write_text(
        "\n".join("".join(f"{w}\n" for w in long[k : k + 1000]) for k in (0, 1000, 2000)), encoding="utf-8"
    )
    tagger_run(pieces, alone)
    assert rows[1]["tags"] == [t for r in rows_of(alone) for t in r["tags"]]  # the pieces' tags, joined
    text, same = tmp_path / "in.txt", tmp_path / "same.jsonl"
    text.write_text("we saw\n" + " ".join(long) + "\nthey left\n", encoding="utf-8")
    assert tagger_run(text, same, input_format="text", too_long="split") == 3
    assert rows_of(same) == rows
    conll_out = tmp_path / "out.conll"
    tagger_run(conll, conll_out, too_long="split", output_format="conll")
    assert conll_out.read_text(encoding="utf-8").split("\n\n")[1].count("\n") == 2499  # one block of 2500 lines


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny classifier of whitespace tokens (so that a word <pad> reaches the vocabulary as one token)."""
    from conftest import marker_examples, write_tab_file

    folder = tmp_path_factory.mktemp("classifier")
    for k, (name, n) in enumerate((("train", 64), ("val", 16))):
        write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed=k))
    return trained(
        folder,
        f"data.train_path={folder / 'train.tsv'}",
        f"data.val_path={folder / 'val.tsv'}",
        "data.tokenizer.mode=whitespace",
        "model.embedding_dim=8",
    )


def test_a_classifier_refuses_a_text_longer_than_max_length(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("zig w1 tac\n" + " ".join(["w2"] * 1500) + "\nzag w3 tic\n", encoding="utf-8")
    run, out = runner_of(classifier), tmp_path / "out.jsonl"
    with pytest.raises(
        DataError,
        match=r"in.txt:2: text of 1500 tokens is longer than options.max_length=1000 "
        r"\(raise it\)$",
    ):
        run(source, out, input_format="text")
    assert [r["text"] for r in rows_of(out)] == ["zig w1 tac"]
    with pytest.raises(ValueError, match="options.too_long=split is for taggers"):
        run(source, out, input_format="text", too_long="split")
    assert run(source, out, input_format="text", max_length=1500) == 3
    cfg = compose(
        "predict",
        [
            f"ckpt_path={classifier}",
            f"input={source}",
            f"output={tmp_path / 'o'}",
            "options.input_format=text",
            "options.max_length=2000",
        ],
    )
    assert cfg.options.too_long == "refuse" and app_predict(cfg) == 3  # predict.yaml's options
    assert (tmp_path / "o").read_bytes() == out.read_bytes()  # the command writes what the library call wrote


# ---- user text is text -----------------------------------------------------------------------------------------


def test_vocabulary_reads_control_spellings_in_text_as_unknown_words():
    text = [["a", PAD, BOS, "b", EOS, PAD, UNK, PAD, "a"]]
    vocab = Vocabulary.build(text, specials=(BOS, EOS))
    assert vocab.itos == [PAD, UNK, BOS, EOS, "a", "b"]  # <pad>, the most frequent word, is not learnt
    for v in (vocab, Vocabulary.from_dict(vocab.to_dict())):
        assert v.encode([PAD, BOS, EOS, UNK, "a"]) == [1, 1, 1, 1, 4]  # <unk> in text (PTB style) is the unknown id
        assert PAD not in v and BOS not in v and "a" in v
        assert (v.index(PAD), v.index(BOS), v.index(EOS)) == (0, 2, 3)  # for code that places them
    assert Vocabulary.build([[PAD, "x"]], max_size=1).itos == [PAD, UNK, "x"]  # the cap counts words
    assert Vocabulary([PAD, "x"], unk=False, pad=False).encode([PAD]) == [0]  # a label map: no control symbols


def test_pretrained_open_vocabulary_reads_pad_as_unknown(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("the 0.1 0.2\ncat 0.3 0.4\n", encoding="utf-8")
    vocab = Vocabulary(["the"])
    assert PretrainedVectors.load(str(path)).encode(vocab, ["the", PAD, "cat"]) == [2, 1, 3 - 1 + 2]


def test_pad_in_text_is_predicted_as_an_unknown_word_by_a_classifier(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("".join(f"zig w1 {w} w2 tac\nzag {w}\n" for w in ["qqqzzz", *CONTROL_WORDS]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    runner_of(classifier)(source, out, input_format="text")
    probabilities = [r["probabilities"] for r in rows_of(out)]
    assert len(probabilities) == 2 * (1 + len(CONTROL_WORDS))
    assert all(p == probabilities[k % 2] for k, p in enumerate(probabilities))


def test_pad_in_text_is_tagged_as_an_unknown_word(tagger, tagger_run, tmp_path):
    _, codec = load(str(tagger))
    codec.set_predict_input([(1, f"we {' '.join(CONTROL_WORDS)} qqqzzz saw")], "in", input_format="text")
    unk = codec.vocab.unk_index
    assert codec.datasets["predict"][0].ids[1:6] == [unk] * 5
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("".join(f"we saw {w} in Paris\n" for w in ["qqqzzz", *CONTROL_WORDS]), encoding="utf-8")
    tagger_run(source, out, input_format="text")
    assert len({json.dumps(r["tags"]) for r in rows_of(out)}) == 1


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_control_words_in_training_text_are_words_for_classifier_and_conditional_lm(tmp_path):
    lines = [f"good {w} film\tpos" if k % 2 else f"bad {w} film\tneg" for k, w in enumerate(CONTROL_WORDS * 4)]
    train = write_lines(tmp_path / "train.tsv", lines)
    classes = ClassificationDataModule(
        train_path=train, val_path=train, tokenizer={"mode": "whitespace", "lowercase": False}
    )
    classes.setup("fit")
    unk, pads = classes.codec.vocab.unk_index, [e.ids[1] for k, e in enumerate(classes.datasets["train"]) if k % 4 == 0]
    assert pads == [unk] * 4 and classes.codec.vocab.itos.count(PAD) == 1  # <bos>, <eos>: words (no such symbols here)
    assert all(0 not in e.ids for e in classes.datasets["train"])
    module = ConditionalLanguageModelingDataModule(
        train_path=train, val_path=train, tokenizer={"mode": "whitespace", "lowercase": False}
    )
    module.setup("fit")
    eos = module.codec.vocab.index(EOS)
    batch = module.codec.collate(module.datasets["train"])
    assert (batch.tokens == eos).sum() == len(lines) and (batch.tokens[:, 0] == eos).all()  # the start, only
    words = [e.ids[1] for e in module.datasets["train"]]
    assert words[0::4] == words[2::4] == [module.codec.vocab.unk_index] * 4 and 0 not in words  # <pad>, <eos>


def test_control_words_are_words_for_word_and_char_language_models(tmp_path):
    train = write_lines(tmp_path / "train.txt", [f"the {w} cat sat" for w in CONTROL_WORDS * 10])
    word = LanguageModelingDataModule(
        train_path=train, val_path=train, level="word", bptt=4, batch_size=2, eval_batch_size=2
    )
    word.setup("fit")
    ids = word.datasets["train"].tolist()
    vocab = word.codec.vocab
    eos, unk = vocab.index(EOS), vocab.unk_index
    assert ids.count(eos) == 40 and ids.count(0) == 0 and ids.count(unk) == 20  # <pad>, <eos>; <bos>: a word here
    assert ids[:5] == [vocab.index("the"), unk, vocab.index("cat"), vocab.index("sat"), eos]
    (record,) = word.codec.set_predict_input([(1, f"the {EOS} cat")], "in")
    assert record.targets == [vocab.index("the"), unk, vocab.index("cat"), eos]
    char = LanguageModelingDataModule(
        train_path=train, val_path=train, level="char", bptt=4, batch_size=2, eval_batch_size=2
    )
    char.setup("fit")
    char_ids = char.datasets["train"].tolist()
    assert 0 not in char_ids and char.codec.vocab.unk_index not in char_ids


@pytest.mark.parametrize("tokens,share", [("space", False), ("space", True), ("bpe", False)])
def test_control_words_are_words_on_both_sides_of_seq2seq(tmp_path, tokens, share):
    pairs = [(f"a {w} b", f"x {w} y") for w in CONTROL_WORDS * 5] + [("a b", "x y")] * 5
    train = write_lines(tmp_path / "train.tsv", [f"{s}\t{t}" for s, t in pairs])
    dm = ParallelDataModule(
        train_path=train,
        val_path=train,
        source_tokens=tokens,
        target_tokens=tokens,
        share_vocab=share,
        subword_vocab_size=30,
        batch_size=4,
    )
    dm.setup("fit")
    bos, eos = dm.codec.target_vocab.index(BOS), dm.codec.target_vocab.index(EOS)
    controls = {0, bos, eos} if share else {0}
    for e in dm.datasets["train"]:
        assert not controls & set(e.source) and not {0, bos, eos} & set(e.target)
    batch = dm.codec.collate(dm.datasets["train"])
    assert ((batch.target_in == bos).sum(1) == 1).all() and ((batch.target_out == eos).sum(1) == 1).all()
    dm.codec.set_predict_input([(1, f"a {BOS} {EOS} {PAD} b")], "in")
    assert not controls & set(dm.datasets["predict"][0].source)
    if tokens == "space":
        assert dm.codec.vocab.unk_index in dm.datasets["predict"][0].source


def test_pad_in_training_text_is_not_padding_for_a_tagger(tmp_path):
    from seqkit.tasks.tagging.datamodule import TaggingDataModule

    conll = "".join(f"we O\n{w} O\nin O\nParis B-LOC\n\n" for w in CONTROL_WORDS * 3)
    train = tmp_path / "train.conll"
    train.write_text(conll, encoding="utf-8")
    dm = TaggingDataModule(train_path=str(train), val_path=str(train), batch_size=4)
    dm.setup("fit")
    words = [e.ids[1] for e in dm.datasets["train"]]
    assert dm.codec.vocab.itos.count(PAD) == 1 and words[0::4] == [dm.codec.vocab.unk_index] * 3 and 0 not in words
    assert all(0 not in chars for e in dm.datasets["train"] for chars in e.chars)
    assert torch.equal(dm.codec.collate(dm.datasets["train"]).lengths, torch.full((12,), 4))
