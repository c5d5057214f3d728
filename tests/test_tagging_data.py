"""TaggingDataModule (seqkit.tasks.tagging, over TaggingCodec): vocabularies, tag schemes, columns, batches, pretrained vectors, checkpoint state and
prediction input, on small CoNLL / CoNLL-U files written in tmp_path (plus one test of the shipped data)."""

from __future__ import annotations

import pytest
import torch

from seqkit.data.batch import IGNORE_INDEX, PAD_INDEX
from seqkit.data.errors import DataError
from seqkit.data.tag_schemes import iob2_to_iobes
from seqkit.tasks.tagging.datamodule import TaggingDataModule

torch.set_num_threads(1)

# word POS chunk NER (CoNLL-2003 layout), IOB2 entity tags
TRAIN = """\
-DOCSTART- -X- -X- O

John NNP B-NP B-PER
Smith NNP I-NP I-PER
lives VBZ B-VP O
in IN B-PP O
New NNP B-NP B-LOC
York NNP I-NP I-LOC

Mary NNP B-NP B-PER
visited VBD B-VP O
Berlin NNP B-NP B-LOC
in IN B-PP O
1999 CD B-NP O

Acme NNP B-NP B-ORG
hired VBD B-VP O
Mary NNP B-NP B-PER
"""
TRAIN_SENTENCES = [
    (["John", "Smith", "lives", "in", "New", "York"], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]),
    (["Mary", "visited", "Berlin", "in", "1999"], ["B-PER", "O", "B-LOC", "O", "O"]),
    (["Acme", "hired", "Mary"], ["B-ORG", "O", "B-PER"]),
]
VAL = """\
Zoe NNP B-NP B-PER
lives VBZ B-VP O
in IN B-PP O
Quito NNP B-NP B-LOC
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def decode_labels(dm, example):
    return dm.tags.decode(example.tags)


def make(tmp_path, train=TRAIN, val=VAL, test=None, **kwargs):
    paths = {"train_path": str(write(tmp_path / "train.txt", train))}
    if val is not None:
        paths["val_path"] = str(write(tmp_path / "val.txt", val))
    if test is not None:
        paths["test_path"] = str(write(tmp_path / "test.txt", test))
    dm = TaggingDataModule(**paths, **kwargs)
    dm.setup("fit")
    return dm


# ---- vocabularies ------------------------------------------------------------------------------------
def test_vocabularies_come_from_the_training_file_only(tmp_path):
    dm = make(tmp_path)
    train_words = {w for words, _ in TRAIN_SENTENCES for w in words}
    assert set(dm.vocab.itos) == {"<pad>", "<unk>"} | train_words
    assert dm.vocab.itos[:2] == ["<pad>", "<unk>"]
    assert set(dm.chars.itos) == {"<pad>", "<unk>"} | {c for w in train_words for c in w}
    assert dm.tags.itos == sorted({t for _, tags in TRAIN_SENTENCES for t in tags})  # no <pad>/<unk> in tags
    assert "Zoe" not in dm.vocab and "Q" not in dm.chars  # validation words and characters are not learnt
    val = dm.datasets["val"][0]
    assert val.ids == [dm.vocab.unk_index, dm.vocab.index("lives"), dm.vocab.index("in"), dm.vocab.unk_index]
    assert val.chars[3][0] == dm.chars.unk_index  # "Q" of Quito
    assert decode_labels(dm, val) == ["B-PER", "O", "O", "B-LOC"]
    # training examples encode back to the file's words and tags, -DOCSTART- is no sentence
    assert len(dm.datasets["train"]) == 3
    for example, (words, tags) in zip(dm.datasets["train"], TRAIN_SENTENCES):
        assert dm.vocab.decode(example.ids) == words
        assert decode_labels(dm, example) == tags


def test_validation_tag_unseen_in_training_is_an_error_naming_the_file_and_line(tmp_path):
    train = "John B-PER\nsold O\nAcme B-ORG\n"
    val = "Zoe B-PER\nsold O\nAcme B-ORG\n\nat O\nthe O\nMuseum B-MISC\n"  # line 7: MISC never trained
    with pytest.raises(DataError) as info:
        make(tmp_path, train=train, val=val)
    path = str(tmp_path / "val.txt")
    assert info.value.path == path and info.value.line == 7
    assert str(info.value).startswith(f"{path}:7: ") and "B-MISC" in str(info.value)


def test_test_file_is_checked_too(tmp_path):
    with pytest.raises(DataError) as info:
        make(tmp_path, test="Zoe NNP B-NP B-PER\nrocks VBZ B-VP B-ART\n")
    assert info.value.path == str(tmp_path / "test.txt") and info.value.line == 2


def test_no_train_file_and_no_vocabulary_is_a_clear_error(tmp_path):
    dm = TaggingDataModule(val_path=str(write(tmp_path / "val.txt", VAL)))
    with pytest.raises(ValueError, match="no vocabulary yet"):
        dm.setup("fit")


# ---- tag schemes and columns -------------------------------------------------------------------------
IOB1 = """\
John I-PER
Smith I-PER
visited O
Rome I-LOC
Milan B-LOC
and O
Berlin I-LOC

Acme I-ORG
rose O
"""
IOB1_AS_IOB2 = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "O", "B-LOC"], ["B-ORG", "O"]]


def test_iob1_training_file_is_converted_to_iob2(tmp_path, capsys):
    dm = make(tmp_path, train=IOB1, val="Rome I-LOC\nfell O\n")
    assert dm.tags.itos == ["B-LOC", "B-ORG", "B-PER", "I-PER", "O"]  # no I-LOC / I-ORG: they all start entities
    assert [decode_labels(dm, e) for e in dm.datasets["train"]] == IOB1_AS_IOB2
    assert decode_labels(dm, dm.datasets["val"][0]) == ["B-LOC", "O"]
    err = capsys.readouterr().err
    assert "IOB1" in err and "converted to IOB2" in err


def test_iobes_scheme_gives_iobes_tags(tmp_path):
    dm = make(tmp_path, scheme="iobes")
    assert dm.tags.itos == sorted(dm.tags.itos)
    assert set(dm.tags.itos) == {"B-PER", "E-PER", "B-LOC", "E-LOC", "S-PER", "S-LOC", "S-ORG", "O"}
    for example, (_, tags) in zip(dm.datasets["train"], TRAIN_SENTENCES):
        assert decode_labels(dm, example) == iob2_to_iobes(tags)
    assert decode_labels(dm, dm.datasets["val"][0]) == ["S-PER", "O", "O", "S-LOC"]
    assert dm.model_kwargs()["scheme"] == "iobes"


@pytest.mark.parametrize(
    "column, scheme, expected",
    [
        (1, "none", ["NNP", "NNP", "VBZ", "IN", "NNP", "NNP"]),  # POS: any tags
        (2, "iob2", ["B-NP", "I-NP", "B-VP", "B-PP", "B-NP", "I-NP"]),  # chunks are IOB2 entities
        (-2, "iob2", ["B-NP", "I-NP", "B-VP", "B-PP", "B-NP", "I-NP"]),  # negative: from the end
    ],
)
def test_label_column_picks_the_column(tmp_path, column, scheme, expected):
    dm = make(tmp_path, label_column=column, scheme=scheme)
    first = dm.datasets["train"][0]
    assert decode_labels(dm, first) == expected
    assert dm.vocab.decode(first.ids) == TRAIN_SENTENCES[0][0]  # token column unchanged
    if scheme == "none":
        assert dm.tags.itos == ["CD", "IN", "NNP", "VBD", "VBZ"]


CONLLU = """\
# sent_id = a
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = b
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
2\thome\thome\tADV\tRB\t_\t1\tadvmod\t_\t_
"""


@pytest.mark.parametrize(
    "column, expected",
    [
        ("upos", ["PRON", "AUX", "PART", "VERB", "PUNCT"]),
        ("xpos", ["PRP", "VBP", "RB", "VB", "."]),
    ],
)
def test_conllu_with_upos_or_xpos(tmp_path, column, expected):
    dm = make(tmp_path, train=CONLLU, val=CONLLU, format="conllu", label_column=column, scheme="none")
    first = dm.datasets["train"][0]
    assert dm.vocab.decode(first.ids) == ["I", "do", "n't", "know", "."]  # the multiword token is skipped
    assert decode_labels(dm, first) == expected
    assert "don't" not in dm.vocab
    assert len(dm.datasets["val"]) == 2


# ---- batches -----------------------------------------------------------------------------------------
def test_batches_are_padded_and_aligned(tmp_path):
    dm = make(tmp_path, val=TRAIN, eval_batch_size=8, max_word_length=4)
    batch = next(iter(dm.val_dataloader()))
    sentences = [TRAIN_SENTENCES[i] for i in batch.index.tolist()]
    B, T = len(sentences), max(len(w) for w, _ in sentences)
    longest_word = max(min(len(w), 4) for words, _ in sentences for w in words)
    assert B == 3
    assert batch.tokens.shape == (B, T) and batch.labels.shape == (B, T)
    assert batch.chars.shape == (B, T, longest_word) and batch.char_lengths.shape == (B, T)
    assert batch.lengths.tolist() == [len(w) for w, _ in sentences]
    for i, (words, tags) in enumerate(sentences):
        n = len(words)
        assert batch.tokens[i, :n].tolist() == dm.vocab.encode(words)
        assert (batch.tokens[i, n:] == PAD_INDEX).all()
        assert batch.labels[i, :n].tolist() == dm.tags.encode(tags)
        assert (batch.labels[i, n:] == IGNORE_INDEX).all()
        assert batch.mask[i].tolist() == [True] * n + [False] * (T - n)
        for j, word in enumerate(words):
            cut = word[:4]  # max_word_length cuts the characters, not the word
            assert batch.char_lengths[i, j] == len(cut)
            assert batch.chars[i, j, : len(cut)].tolist() == [dm.chars.index(c) for c in cut]
            assert (batch.chars[i, j, len(cut) :] == PAD_INDEX).all()
        assert (batch.char_lengths[i, n:] == 0).all() and (batch.chars[i, n:] == PAD_INDEX).all()
    assert dm.vocab.index("Berlin") != dm.vocab.unk_index  # the word id is the whole word


def test_training_batches_cover_every_example_once(tmp_path):
    dm = make(tmp_path, batch_size=2)
    seen = sorted(i for b in dm.train_dataloader() for i in b.index.tolist())
    assert seen == [0, 1, 2]


def test_lowercase_and_zero_digits_change_words_but_not_characters(tmp_path):
    train = "Apple B-ORG\nAPPLE B-ORG\napple O\n1999 O\n2134 O\nA1 O\n"
    dm = make(tmp_path, train=train, val="APPLE B-ORG\n1873 O\n", lowercase=True, zero_digits=True)
    assert dm.vocab.itos == ["<pad>", "<unk>", "apple", "0000", "a0"]
    assert {"A", "P", "L", "E", "1", "9", "2", "3", "4"} <= set(dm.chars.itos)  # characters keep the raw word
    assert "0" not in dm.chars  # no "0" in the raw text
    val = dm.datasets["val"][0]
    assert val.ids == [dm.vocab.index("apple"), dm.vocab.index("0000")]  # unseen 1873 -> 0000
    assert val.chars[0] == [dm.chars.index(c) for c in "APPLE"]
    plain = make(tmp_path, train=train, val="APPLE B-ORG\n1873 O\n")
    assert {"Apple", "APPLE", "apple", "1999", "2134"} <= set(plain.vocab.itos)
    assert plain.datasets["val"][0].ids[1] == plain.vocab.unk_index


# ---- pretrained vectors ------------------------------------------------------------------------------
GLOVE = """\
john 0.1 0.2 0.3
Smith -1 -2 -3
paris 4 5 6
Berlin 7 8 9
unused 1 1 1
"""


def test_pretrained_vectors_give_an_id_to_every_word_they_cover_not_a_vocabulary_entry(tmp_path, capsys):
    from seqkit.tasks.tagging.network import TaggerNetwork

    glove = write(tmp_path / "glove.txt", GLOVE)
    val = "Paris B-LOC\nberlin B-LOC\nis O\nnice O\nJohn B-PER\n"
    dm = make(tmp_path, val=val, pretrained=str(glove))
    (tmp_path / "plain").mkdir()
    plain = make(tmp_path / "plain", val=val)
    assert dm.vocab.itos == plain.vocab.itos  # the training split alone: no validation word joins
    assert "Paris" not in dm.vocab and "berlin" not in dm.vocab
    table, rows = dm.vectors.table, dm.vectors.rows(dm.vocab)
    expected = {"John": [0.1, 0.2, 0.3], "Smith": [-1, -2, -3], "Berlin": [7, 8, 9]}  # John: lower-cased match
    for word, vector in expected.items():
        torch.testing.assert_close(table[rows[dm.vocab.index(word)]], torch.tensor(vector, dtype=torch.float32))
    assert rows[PAD_INDEX] == 0 and rows[dm.vocab.index("lives")] == 0
    # validation words the vectors cover get ids past the vocabulary, pointing at their vectors; others <unk>
    V = len(dm.vocab)
    assert dm.datasets["val"][0].ids == [
        V - 1 + 3,
        V - 1 + 4,
        dm.vocab.unk_index,
        dm.vocab.unk_index,
        dm.vocab.index("John"),
    ]
    assert [dm.vectors.row(w) for w in ("Paris", "berlin")] == [3, 4]
    kwargs = dm.model_kwargs()
    assert kwargs["embedding_dim"] == 3 and kwargs["vocab_size"] == V and kwargs["pretrained_words"] == 5
    assert kwargs["pretrained_vectors"] is table and torch.equal(kwargs["pretrained_rows"], rows)
    model = TaggerNetwork(**kwargs, char={"embedding_dim": 4, "num_filters": 4}, backbone={"hidden_size": 4}).eval()
    ids = torch.tensor([dm.datasets["val"][0].ids])
    with torch.no_grad():
        embedded = model.embedding(ids)[0]
    torch.testing.assert_close(embedded[0], torch.tensor([4.0, 5, 6]))  # Paris: its vector (+ <unk>'s zero start)
    torch.testing.assert_close(embedded[1], torch.tensor([7.0, 8, 9]))  # berlin: Berlin's vector
    assert "glove.txt: 3 of" in capsys.readouterr().err  # coverage report


# ---- checkpoint state --------------------------------------------------------------------------------
def test_state_dict_round_trip_rebuilds_the_same_encoding(tmp_path):
    dm = make(tmp_path, test=VAL, lowercase=True)
    state = dm.state_dict()
    loaded = TaggingDataModule(test_path=str(tmp_path / "test.txt"), lowercase=True)
    loaded.load_state_dict(state)
    loaded.setup("test")
    assert (
        loaded.vocab.itos == dm.vocab.itos and loaded.chars.itos == dm.chars.itos and loaded.tags.itos == dm.tags.itos
    )
    kwargs, expected = loaded.model_kwargs(), dm.model_kwargs()
    assert kwargs.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(kwargs[key], value) if isinstance(value, torch.Tensor) else kwargs[key] == value, key
    assert set(loaded.datasets) == {"test"}
    assert loaded.datasets["test"] == dm.datasets["test"]
    # the state is plain data: it survives torch.save / torch.load(weights_only=True)
    torch.save(state, tmp_path / "state.pt")
    assert torch.load(tmp_path / "state.pt", weights_only=True) == state


# ---- the shipped data ---------------------------------------------------------------------------------
def test_builtin_wnut17_and_ud_english_ewt():
    ner = TaggingDataModule(builtin="wnut17")
    ner.setup("fit")
    assert {k: len(v) for k, v in ner.datasets.items()} == {"train": 3394, "val": 1009, "test": 1287}
    assert {t.split("-", 1)[-1] for t in ner.tags.itos} == {
        "O",
        "corporation",
        "creative-work",
        "group",
        "location",
        "person",
        "product",
    }
    pos = TaggingDataModule(builtin="ud_english_ewt", format="conllu", label_column="upos", scheme="none")
    pos.setup("fit")
    assert {k: len(v) for k, v in pos.datasets.items()} == {"train": 12544, "val": 2001}
    assert len(pos.tags) == 17 and {"NOUN", "VERB", "PROPN", "PUNCT"} <= set(pos.tags.itos)
    with pytest.raises(ValueError, match="unknown built-in"):
        TaggingDataModule(builtin="conll2003").setup("fit")


# ---- prediction input --------------------------------------------------------------------------------
def predict_rows(dm, sentences, tag_lists):
    """format_predictions with outputs as run.predict gives them: tag ids padded past each sentence."""
    outputs = []
    for tags in tag_lists:  # None: an empty sentence, which the model never sees
        outputs.append(
            None if tags is None else {"tags": torch.tensor(dm.tags.encode(tags) + [0, 0, 0])}
        )  # padding junk is cut off
    return dm.format_predictions(sentences, outputs)


def test_predict_text_input_and_formatting(tmp_path):
    dm = make(tmp_path)
    lines = [(1, "John Smith visited Quito"), (2, "   "), (3, "Acme  hired\tMary")]
    sentences = dm.set_predict_input(lines, "<stdin>", input_format="text")
    # one record a line: the blank line is an empty sentence, so output line k answers input line k
    assert [s.tokens for s in sentences] == [["John", "Smith", "visited", "Quito"], [], ["Acme", "hired", "Mary"]]
    assert [s.line for s in sentences] == [1, 2, 3]
    examples = dm.datasets["predict"]  # the empty sentence is not fed to the model
    assert examples[0].ids == dm.vocab.encode(["John", "Smith", "visited", "Quito"])
    assert examples[0].ids[3] == dm.vocab.unk_index and examples[0].tags == []
    batch = next(iter(dm.predict_dataloader()))
    assert batch.labels is None and sorted(batch.index.tolist()) == [0, 2]  # positions among the records

    rows = predict_rows(dm, sentences, [["B-PER", "I-PER", "O", "B-LOC"], None, ["B-ORG", "O", "B-PER"]])
    assert rows[1] == {"tokens": [], "tags": [], "spans": []}
    rows = [rows[0], rows[2]]
    assert rows[0] == {
        "tokens": ["John", "Smith", "visited", "Quito"],
        "tags": ["B-PER", "I-PER", "O", "B-LOC"],
        "spans": [
            {"type": "PER", "start": 0, "end": 2, "text": "John Smith"},
            {"type": "LOC", "start": 3, "end": 4, "text": "Quito"},
        ],
    }
    assert [s["text"] for s in rows[1]["spans"]] == ["Acme", "Mary"]
    assert list(dm.format_output(rows, "conll")) == [
        "John\tB-PER",
        "Smith\tI-PER",
        "visited\tO",
        "Quito\tB-LOC",
        "",
        "Acme\tB-ORG",
        "hired\tO",
        "Mary\tB-PER",
        "",
    ]


def test_predict_reads_the_training_format_by_default(tmp_path):
    """A CoNLL-trained tagger reads CoNLL columns unless told otherwise: a raw line is not taken as one token."""
    dm = make(tmp_path)
    lines = [(1, "Zoe B-ART"), (2, "smiled O"), (3, ""), (4, "Mary O")]
    assert [s.tokens for s in dm.set_predict_input(lines, "in.conll")] == [["Zoe", "smiled"], ["Mary"]]
    with pytest.raises(DataError) as info:  # raw text lines of different lengths are wrong CoNLL rows
        dm.set_predict_input([(1, "John met Mary"), (2, "Quito")], "raw.txt")
    assert info.value.line == 2


def test_predict_conll_input_ignores_tag_columns(tmp_path):
    dm = make(tmp_path)
    text = "-DOCSTART- O\n\nZoe B-ART\nsmiled O\n\nMary B-PER\n"  # B-ART: tags are not read
    lines = list(enumerate(text.split("\n")[:-1], start=1))
    sentences = dm.set_predict_input(lines, "input.conll", input_format="conll", output_format="conll")
    assert [s.tokens for s in sentences] == [["Zoe", "smiled"], ["Mary"]]
    assert [s.tags for s in sentences] == [[], []]
    assert [s.token_lines for s in sentences] == [[3, 4], [6]]
    assert len(dm.datasets["predict"]) == 2


def test_predict_conll_input_errors_name_the_source_and_line(tmp_path):
    dm = make(tmp_path)
    lines = [(1, "Zoe x"), (2, "smiled x"), (3, ""), (4, "Mary x y")]
    with pytest.raises(DataError) as info:
        dm.set_predict_input(lines, "input.conll", input_format="conll")
    assert info.value.path == "input.conll" and info.value.line == 4
    blank = dm.set_predict_input([(1, ""), (2, " ")], "<stdin>", input_format="text")  # a record a line, nothing to tag
    assert [s.tokens for s in blank] == [[], []] and dm.datasets["predict"] == []
    with pytest.raises(ValueError, match="input_format"):
        dm.set_predict_input([(1, "a b")], "<stdin>", input_format="json")
    with pytest.raises(ValueError, match="output_format"):
        dm.set_predict_input([(1, "a b")], "<stdin>", output_format="xml")


def test_pos_predictions_have_no_spans(tmp_path):
    dm = make(tmp_path, label_column=1, scheme="none")
    sentences = dm.set_predict_input([(1, "Mary visited Berlin")], "<stdin>", input_format="text")
    rows = predict_rows(dm, sentences, [["NNP", "VBD", "NNP"]])
    assert rows == [{"tokens": ["Mary", "visited", "Berlin"], "tags": ["NNP", "VBD", "NNP"]}]
