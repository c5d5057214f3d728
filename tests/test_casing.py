"""Issue 26's casing feature (``model.casing``): every word gets the casing class of Reimers & Gurevych's rules,
computed from its character ids inside the network; a tagger with it sees a change of casing alone (one
without it, and without a character encoder, does not); and a casing tagger trains, is saved, loads, evaluates,
predicts and serves through the application's paths (its export: tests/test_export.py; the shape's contracts:
tests/test_contracts.py, task "tag")."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from seqkit.data.batch import pad_chars
from seqkit.data.vocab import Vocabulary
from seqkit.nn.casing import CASING_CLASSES, CasingEmbedding, casing_classes, char_kinds
from seqkit.tasks.tagging.network import TaggerNetwork

CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"
TABLE = {
    "Paris": "initial_upper",
    "McDonald": "initial_upper",
    "EU": "all_upper",
    "U.S.": "all_upper",
    "A4": "all_upper",  # one digit in two is not "more than half"
    "1996": "numeric",
    "3-2": "mainly_numeric",
    "F16": "mainly_numeric",
    "word": "all_lower",
    "e-mail": "all_lower",
    "x2a": "all_lower",  # a digit, but all_lower comes first
    "iPhone": "other",
    "iPhone4": "contains_digit",
    "-2-": "contains_digit",
    "--": "other",
    "Élan": "initial_upper",
}


def reference_casing(word: str) -> str:
    """Reimers & Gurevych's ``getCasing`` (emnlp2017-bilstm-cnn-crf), as written there, on a Python string."""
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        return "numeric"
    if digits / len(word) > 0.5:
        return "mainly_numeric"
    if word.islower():
        return "all_lower"
    if word.isupper():
        return "all_upper"
    if word[0].isupper():
        return "initial_upper"
    if digits > 0:
        return "contains_digit"
    return "other"


def classes_of(sentences, alphabet: Vocabulary):
    """[[word, ...], ...] -> the [B, T] class names (padding where a sentence is shorter)."""
    chars, char_lengths = pad_chars([[alphabet.encode(w) for w in s] for s in sentences])
    ids = casing_classes(chars, char_lengths, char_kinds(alphabet.itos))
    return [[CASING_CLASSES[i] for i in row] for row in ids.tolist()]


def test_each_word_of_the_table_gets_its_class_and_padded_tokens_padding():
    words = list(TABLE)
    alphabet = Vocabulary.from_counts(Counter(c for w in words for c in w))
    got = classes_of([words, words[:2]], alphabet)
    assert got[0] == [TABLE[w] for w in words]
    assert got[1] == [TABLE[w] for w in words[:2]] + ["padding"] * (len(words) - 2)


def test_the_classes_follow_the_reference_rules_on_random_words():
    rng = random.Random(0)
    letters = "aZ7-éÉ1q."
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 6))) for _ in range(300)]
    alphabet = Vocabulary.from_counts(Counter(letters))
    assert classes_of([words], alphabet)[0] == [reference_casing(w) for w in words]


def test_a_character_the_training_data_never_had_is_neither_upper_nor_lower():
    alphabet = Vocabulary.from_counts(Counter("abc"))  # no upper-case letter: "Abc" reads as <unk> b c
    assert classes_of([["Abc", "ABC", "aBc"]], alphabet)[0] == ["all_lower", "other", "all_lower"]


def _tiny_tagger(casing: bool, alphabet: Vocabulary) -> TaggerNetwork:
    torch.manual_seed(0)
    return TaggerNetwork(
        vocab_size=5,
        tags=["O", "B-LOC", "I-LOC"],
        num_chars=len(alphabet),
        char_encoder="none",
        casing=casing,
        casing_dim=3,
        char_kinds=char_kinds(alphabet.itos),
        embedding_dim=4,
        backbone={"hidden_size": 4, "bidirectional": True},
    ).eval()


@pytest.mark.parametrize("casing", [True, False])
def test_the_tagger_sees_a_change_of_casing_only_with_casing_on(casing):
    """The same word ids, characters that differ in case only: the emissions differ with the casing feature, and
    are equal without it (no character encoder, and the word ids are the same)."""
    alphabet = Vocabulary.from_counts(Counter("parisPARIS"))
    network = _tiny_tagger(casing, alphabet)
    tokens, lengths = torch.tensor([[2, 3], [2, 3]]), torch.tensor([2, 2])
    chars, char_lengths = pad_chars([[alphabet.encode(w) for w in s] for s in (["paris", "is"], ["Paris", "is"])])
    with torch.no_grad():
        emissions = network(tokens, lengths, chars, char_lengths)
    assert network.reads_chars is casing
    assert torch.equal(emissions[0], emissions[1]) is not casing
    if casing:
        assert network.casing.classes(chars, char_lengths).tolist() == [[ALL_LOWER, ALL_LOWER], [INITIAL, ALL_LOWER]]


ALL_LOWER, INITIAL = CASING_CLASSES.index("all_lower"), CASING_CLASSES.index("initial_upper")


def test_the_casing_table_learns_and_a_checkpoint_keeps_the_character_kinds():
    alphabet = Vocabulary.from_counts(Counter("aB1"))
    network = _tiny_tagger(True, alphabet)
    chars, char_lengths = pad_chars([[alphabet.encode(w) for w in ("Ba", "a1", "11")]])
    network.train()
    network(torch.tensor([[2, 3, 4]]), torch.tensor([3]), chars, char_lengths).sum().backward()
    assert network.casing.embedding.weight.grad.abs().sum() > 0
    state = network.state_dict()
    assert torch.equal(state["casing.kinds"], char_kinds(alphabet.itos))
    rebuilt = TaggerNetwork(
        vocab_size=5, tags=["O", "B-LOC", "I-LOC"], num_chars=len(alphabet), char_encoder="none", casing=True
    )
    assert not rebuilt.casing.kinds.any()  # built without the codec: zeros until the weights are loaded
    with pytest.raises(ValueError, match="model.casing=true reads the tokens' characters"):
        TaggerNetwork(vocab_size=5, tags=["0", "1"], char_encoder="none", casing=True)
    with pytest.raises(ValueError, match="kinds is"):
        CasingEmbedding(4, 2, torch.zeros(3, dtype=torch.long))


def test_a_casing_tagger_trains_one_epoch_then_loads_evaluates_predicts_and_serves(tmp_path, capsys):
    from hydra import compose, initialize_config_dir

    from seqkit.app import train as run
    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict_with
    from seqkit.app.served_model import ServedModel

    rows = ["EU B-ORG", "rejects O", "German B-MISC", "call O", ""] * 6 + ["Peter B-PER", "Blackburn I-PER", ""] * 6
    conll = tmp_path / "train.conll"
    conll.write_text("\n".join(rows) + "\n", encoding="utf-8")
    overrides = [
        "task=tag",
        f"data.train_path={conll}",
        f"data.val_path={conll}",
        "model.casing=true",
        "model.casing_dim=3",
        "model.char_encoder=none",
        "embedding.dim=4",
        "backbone.hidden_size=4",
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "seed=0",
        f"paths.output_dir={tmp_path / 'run'}",
    ]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    run.train(cfg)
    best = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["best_checkpoint"]
    raw = torch.load(best, map_location="cpu", weights_only=True)
    assert raw["hyper_parameters"]["casing"] is True and "char_kinds" not in raw["hyper_parameters"]

    network, codec = load(best)
    assert torch.equal(network.casing.kinds, char_kinds(codec.chars.itos)) and network.casing.kinds.any()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        scores = evaluate(compose("evaluate", overrides=[f"ckpt_path={best}", f"data.test_path={conll}"]))
    assert 0.0 <= scores["test/f1"] <= 1.0
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("EU rejects German call\neu rejects german call\n", encoding="utf-8")
    predict_with(network, codec, str(source), str(output), {"input_format": "text"})
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["tokens"] for r in records] == [["EU", "rejects", "German", "call"], ["eu", "rejects", "german", "call"]]
    served = ServedModel(best)  # seqkit serve's model: the same row for the same text
    (answer,) = served.predict_batch(served.predict_key({}), ["EU rejects German call"])
    assert answer["tokens"] == records[0]["tokens"] and answer["tags"] == records[0]["tags"]


def _apple_sentences(n: int, seed: int):
    """ "Apple" (the company, B-ORG) or "apple" (O) among lower-case words: only the casing tells them apart."""
    from seqkit.data.conll import TaggedSentence

    rng, out = random.Random(seed), []
    for i in range(n):
        words = [rng.choice(["we", "ate", "the", "saw", "red", "an"]) for _ in range(rng.randint(1, 4))]
        at = rng.randrange(len(words) + 1)
        tokens, tags = words[:at] + ["Apple" if i % 2 else "apple"] + words[at:], ["O"] * (len(words) + 1)
        tags[at] = "B-ORG" if i % 2 else "O"
        out.append(TaggedSentence(tokens, tags, i + 1, [i + 1] * len(tokens)))
    return out


@pytest.mark.parametrize("casing", [True, False])
def test_with_lower_cased_words_only_the_casing_feature_learns_apple_from_Apple(casing):
    from seqkit.tasks.tagging.codec import TaggingCodec

    codec = TaggingCodec(lowercase=True)  # "Apple" and "apple": one word id, as with GloVe 6B's lower-case words
    train = _apple_sentences(64, 0)
    codec.build(train)
    batch = codec.collate(codec.encode(train, "<train>"))
    assert batch.tokens[batch.chars[..., 0] == codec.chars.index("A")].unique().numel() == 1
    torch.manual_seed(0)
    network = TaggerNetwork(
        **codec.network_kwargs(),
        char_encoder="none",
        casing=casing,
        casing_dim=2,
        embedding_dim=4,
        embedding_dropout=0.0,
        dropout=0.0,
        backbone={"hidden_size": 4, "bidirectional": True},
    )
    optimizer = torch.optim.Adam(network.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        network.loss(batch)["loss"].backward()
        optimizer.step()
    network.eval()
    test = codec.collate(codec.encode(_apple_sentences(400, 1), "<test>"))  # new sentences: no memorised context
    with torch.no_grad():
        tags = network.predict(test)["tags"]
    apples = (test.chars[..., 1:5] == torch.tensor([codec.chars.index(c) for c in "pple"])).all(-1)
    assert int(apples.sum()) == 400
    accuracy = float((tags[apples] == test.labels[apples]).float().mean())
    assert (accuracy == 1.0) if casing else (accuracy <= 0.6)  # chance: 0.5 +- 0.025
