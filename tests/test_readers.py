"""Line-per-example classification files (textfile + labelled_text), ClassificationCodec and ClassificationDataModule."""

import gzip
import io
from collections import Counter

import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.data.labelled_text import read_labelled_text
from seqkit.data.textfile import read_lines
from seqkit.tasks.classification.datamodule import ClassificationDataModule


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def error_of(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


def assert_error(err, path, line, *reason_words):
    message = str(err)
    assert path.name in message and str(path) in message, message
    if line is None:
        assert err.line is None
        assert f"{path}: " in message, message
    else:
        assert err.line == line
        assert f"{path}:{line}: " in message, message
    for word in reason_words:
        assert word in message, message
    assert isinstance(err, ValueError)  # callers catching ValueError see it too


# ---- parsing ----------------------------------------------------------------------------------------------


def test_text_tab_label(tmp_path):
    path = write(tmp_path, "a.tsv", "A great phone!  \t1\nnot good\t0\r\n\n  spaced out \t  1  \n")
    examples = read_labelled_text(path, "text_tab_label")
    assert [(e.text, e.label, e.line) for e in examples] == [
        ("A great phone!", "1", 1),
        ("not good", "0", 2),
        ("spaced out", "1", 4),
    ]


def test_text_tab_label_splits_on_the_last_tab(tmp_path):
    path = write(tmp_path, "a.tsv", "left\tmiddle\tpos\n")
    [example] = read_labelled_text(path, "text_tab_label")
    assert (example.text, example.label) == ("left\tmiddle", "pos")


def test_label_space_text(tmp_path):
    path = write(tmp_path, "sst.txt", "1 a gorgeous , witty film .\n0  dull\tand long \n\n1 ok\n")
    examples = read_labelled_text(path, "label_space_text")
    assert [(e.text, e.label, e.line) for e in examples] == [
        ("a gorgeous , witty film .", "1", 1),
        ("dull\tand long", "0", 2),
        ("ok", "1", 4),
    ]


@pytest.mark.parametrize(
    "fmt,content",
    [
        ("text_tab_label", "fine\u0085print here\tpos\nnext line\tneg\n"),
        ("label_space_text", "pos fine\u0085print here\nneg next line\n"),
    ],
)
def test_u0085_inside_a_line_does_not_split_it(tmp_path, fmt, content):
    path = write(tmp_path, "x.txt", content)
    examples = read_labelled_text(path, fmt)
    assert [(e.text, e.label, e.line) for e in examples] == [
        ("fine\u0085print here", "pos", 1),
        ("next line", "neg", 2),
    ]
    assert len(read_lines(path)) == 2


def test_read_lines_strips_bom_and_cr_and_reads_gzip(tmp_path):
    path = tmp_path / "x.tsv.gz"
    with gzip.open(path, "wb") as f:
        f.write("\ufeffone\t1\r\ntwo\t0\n".encode("utf-8"))
    assert read_lines(path) == [(1, "one\t1"), (2, "two\t0")]


# ---- errors: file, line and reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,content,line,words",
    [
        ("text_tab_label", "good\tpos\nno label here\n", 2, ["no tab"]),
        ("text_tab_label", "good\tpos\n\nbad\t  \n", 3, ["empty label"]),
        ("text_tab_label", "good\tpos\n   \tneg\n", 2, ["empty text"]),
        ("text_tab_label", "good\tpos\n\tneg\n", 2, ["empty text"]),
        ("label_space_text", "pos good\n\n\nneg\n", 4, ["no text after the label"]),
        ("label_space_text", "pos good\nneg   \n", 2, ["no text after the label"]),
    ],
)
def test_malformed_line(tmp_path, fmt, content, line, words):
    path = write(tmp_path, "train.txt", content)
    assert_error(error_of(read_labelled_text, path, fmt), path, line, *words)


def test_invalid_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "bad.tsv", b"ok\tpos\nfine\tneg\ncaf\xe9 \xff\tpos\nlater\tneg\n")
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, 3, "invalid UTF-8")


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff\n"])
def test_empty_file(tmp_path, content):
    path = write(tmp_path, "empty.tsv", content)
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, None, "empty")


def test_missing_path(tmp_path):
    path = tmp_path / "nope.tsv"
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, None, "not found")


def test_directory(tmp_path):
    path = tmp_path / "folder.tsv"
    path.mkdir()
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, None, "directory")


def test_unknown_format_raises_value_error(tmp_path):
    path = write(tmp_path, "a.tsv", "x\ty\n")
    with pytest.raises(ValueError, match="format"):
        read_labelled_text(path, "xml")


def gzip_bytes(n=2000):
    return gzip.compress(b"".join(b"line %d\tneg\n" % i for i in range(n)))


def test_not_gzip_data_in_a_gz_file(tmp_path):
    path = write(tmp_path, "plain.tsv.gz", "plain text\tpos\n")
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, None, "cannot read")


def _truncated(data):
    return data[: len(data) // 2]


def _corrupted(data):
    data = bytearray(data)
    for i in range(20, 60):
        data[i] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("damage", [_truncated, _corrupted], ids=["truncated", "corrupted"])
def test_damaged_gzip_is_a_data_error(tmp_path, damage):
    path = write(tmp_path, "train.tsv.gz", damage(gzip_bytes()))
    assert_error(error_of(read_labelled_text, path, "text_tab_label"), path, None, "cannot read")


@pytest.mark.parametrize("split", ["val", "test"])
def test_label_outside_the_training_labels_names_the_file_and_line(tmp_path, split):
    files = {
        "train": write(tmp_path, "train.tsv", "good\tpos\nbad\tneg\n"),
        "val": write(tmp_path, "val.tsv", "fine\tpos\nokay\tneg\n"),
        "test": write(tmp_path, "test.tsv", "fine\tpos\nokay\tneg\n"),
    }
    files[split] = write(tmp_path, f"{split}.tsv", "fine\tpos\n\nmeh\tneutral\n")
    dm = ClassificationDataModule(
        train_path=str(files["train"]), val_path=str(files["val"]), test_path=str(files["test"])
    )
    err = error_of(dm.setup, "fit")
    assert_error(err, files[split], 3, "'neutral'", "pos", "neg")


def test_datamodule_reports_the_malformed_training_file(tmp_path):
    train = write(tmp_path, "train.tsv", "good\tpos\nbad\tneg\nbroken line\n")
    val = write(tmp_path, "val.tsv", "fine\tpos\n")
    dm = ClassificationDataModule(train_path=str(train), val_path=str(val))
    assert_error(error_of(dm.setup, "fit"), train, 3, "no tab")


def test_datamodule_resolves_relative_paths_under_root(tmp_path):
    write(tmp_path, "train.tsv", "good\tpos\nbad\tneg\n")
    write(tmp_path, "val.tsv", "fine\tpos\n")
    dm = ClassificationDataModule(root=str(tmp_path), train_path="train.tsv", val_path="val.tsv")
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 2 and len(dm.datasets["val"]) == 1
    missing = ClassificationDataModule(root=str(tmp_path), train_path="absent.tsv")
    assert_error(error_of(missing.setup, "fit"), tmp_path / "absent.tsv", None, "not found")


# ---- the built-in data set: split --------------------------------------------------------------------------


def builtin_dm(seed=13, **kw):
    return ClassificationDataModule(builtin="sentiment_labelled", split_seed=seed, **kw)


def identities(examples):
    """(text, label, line) is unique across the 3,000 built-in sentences (texts alone are not: 18 repeat)."""
    return [(e.text, e.label, e.line) for e in examples]


def test_builtin_split_sizes_and_stratification():
    dm = builtin_dm()
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 2400, "val": 300, "test": 300}
    assert dm.codec.labels.itos == ["0", "1"]
    for name, examples in dm.datasets.items():
        counts = Counter(dm.codec.labels.itos[e.label] for e in examples)
        assert counts["1"] == counts["0"] == len(examples) // 2, name


def test_builtin_split_is_a_partition_fixed_by_the_seed():
    splits = {k: identities(v[0]) for k, v in builtin_dm(13).codec.read_splits().items()}
    again = {k: identities(v[0]) for k, v in builtin_dm(13).codec.read_splits().items()}
    other = {k: identities(v[0]) for k, v in builtin_dm(14).codec.read_splits().items()}
    assert splits == again  # same seed: same split, same order
    assert set(splits["test"]) != set(other["test"]) and set(splits["val"]) != set(other["val"])
    for parts in (splits, other):
        train, val, test = set(parts["train"]), set(parts["val"]), set(parts["test"])
        assert not train & val and not train & test and not val & test
        assert len(train | val | test) == 3000


def test_builtin_vocabulary_comes_from_train_only():
    dm = builtin_dm()
    dm.setup("fit")
    splits = dm.codec.read_splits()
    train_tokens = {t for e in splits["train"][0] for t in dm.codec.tokenizer(e.text)}
    assert set(dm.codec.vocab.itos[2:]) == train_tokens
    held_out_only = {t for e in splits["test"][0] for t in dm.codec.tokenizer(e.text)} - train_tokens
    assert held_out_only  # held-out text has words training never saw ...
    assert all(t not in dm.codec.vocab for t in held_out_only)  # ... and they are not in the vocabulary
    unk_count = sum(i == dm.codec.vocab.unk_index for e in dm.datasets["test"] for i in e.ids)
    assert unk_count >= len(held_out_only)
    assert all(dm.codec.vocab.unk_index not in e.ids for e in dm.datasets["train"])


# ---- own files -----------------------------------------------------------------------------------------------


def own_rows(n_per_label=45):
    return [(f"text {label} number {i} word{label}{i}", label) for label in ("a", "b") for i in range(n_per_label)]


def test_own_files_without_val_path_hold_out_a_stratified_share(tmp_path):
    train = write(tmp_path, "train.tsv", "".join(f"{t}\t{l}\n" for t, l in own_rows()))
    dm = ClassificationDataModule(train_path=str(train), split=(0.8, 0.1, 0.1), split_seed=3)
    dm.setup("fit")
    assert set(dm.datasets) == {"train", "val"}
    assert len(dm.datasets["train"]) == 80 and len(dm.datasets["val"]) == 10  # 0.1 / (0.8 + 0.1) held out
    for name in ("train", "val"):
        counts = Counter(e.label for e in dm.datasets[name])
        assert counts[0] == counts[1], (name, counts)
    splits = dm.codec.read_splits()
    train_ids, val_ids = set(identities(splits["train"][0])), set(identities(splits["val"][0]))
    assert not train_ids & val_ids and len(train_ids | val_ids) == 90
    # the held-out texts' unique words ("word<label><i>") are not in the vocabulary: it was built from train only
    for e in splits["val"][0]:
        assert e.text.split()[-1] not in dm.codec.vocab
    for e in splits["train"][0]:
        assert e.text.split()[-1] in dm.codec.vocab


def test_own_files_vocabulary_and_labels_from_train_only(tmp_path):
    train = write(tmp_path, "train.tsv", "Good film\tpos\nbad film\tneg\nGOOD good\tpos\n")
    val = write(tmp_path, "val.tsv", "superb film\tpos\n")
    test = write(tmp_path, "test.tsv", "awful acting\tneg\n")
    dm = ClassificationDataModule(train_path=str(train), val_path=str(val), test_path=str(test), min_freq=1)
    dm.setup("fit")
    assert dm.codec.vocab.itos == ["<pad>", "<unk>", "good", "film", "bad"]
    assert dm.codec.labels.itos == ["neg", "pos"]  # sorted, no pad / unk
    assert dm.datasets["val"][0].ids == [1, 3]  # superb -> <unk>
    assert dm.datasets["test"][0].ids == [1, 1]
    assert [e.label for e in dm.datasets["train"]] == [1, 0, 1]
    assert dm.model_kwargs() == {"vocab_size": 5, "num_classes": 2}


def test_state_dict_round_trip_restores_vocab_labels_and_tokenizer(tmp_path):
    train = write(tmp_path, "train.tsv", "Good film!\tpos\nbad film\tneg\nit's fine\tmeh\n")
    test = write(tmp_path, "test.tsv", "GOOD, bad film\tneg\nunseen words\tmeh\n")
    dm = ClassificationDataModule(
        train_path=str(train),
        val_path=str(train),
        test_path=str(test),
        tokenizer={"mode": "whitespace", "lowercase": False},
        min_freq=1,
    )
    dm.setup("fit")
    buffer = io.BytesIO()
    torch.save(dm.state_dict(), buffer)  # as Lightning stores it in a checkpoint
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert set(state) == {"vocab", "labels", "tokenizer"}

    restored = ClassificationDataModule(test_path=str(test))  # no train file, default tokenizer
    restored.load_state_dict(state)
    assert restored.codec.vocab.itos == dm.codec.vocab.itos
    assert restored.codec.labels.itos == dm.codec.labels.itos == ["meh", "neg", "pos"]
    assert restored.codec.tokenizer.to_dict() == {"mode": "whitespace", "lowercase": False}
    restored.setup("test")
    assert "train" not in restored.datasets
    assert [(e.ids, e.label) for e in restored.datasets["test"]] == [(e.ids, e.label) for e in dm.datasets["test"]]
    # the restored whitespace, case-keeping tokenizer is the one in use: "GOOD," is one unknown token
    assert restored.datasets["test"][0].ids == [1, dm.codec.vocab.index("bad"), dm.codec.vocab.index("film")]


def test_setup_without_train_or_state_raises(tmp_path):
    test = write(tmp_path, "test.tsv", "x\tpos\n")
    with pytest.raises(ValueError, match="vocabulary"):
        ClassificationDataModule(test_path=str(test)).setup("test")
