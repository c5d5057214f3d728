"""Hostile input, fuzzed (hypothesis): every reader, fed random bytes or a valid file mutated at random, either
returns examples or raises DataError naming the file (and the line, for a problem on a line) — never any other
exception. So does a data module learning from such a training file, and prediction input read from it.

Examples per test: 200 by default (CI); ``SEQKIT_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_readers.py``
for a longer search (examples then random each run instead of the fixed CI sequence).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqkit.data.conll import read_conll, read_conllu
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import read_labelled_text
from seqkit.data.pretrained import load_vectors
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.tagging.datamodule import TaggingDataModule

EXAMPLES = int(os.environ.get("SEQKIT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=EXAMPLES <= 200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID = {
    "text_tab_label": b"a good film\tpos\nbad one\tneg\n\n  spaced text \t neg \nit's fine , really !\tpos\n",
    "label_space_text": b"1 a gorgeous , witty film .\n0 a dull mess .\n\n1 fine\n",
    "conll": (
        b"-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
        b"Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\nin IN B-PP O\nNew NNP B-NP I-LOC\nYork NNP I-NP I-LOC\n"
    ),
    "conll_iobes": b"New S-LOC\n\nNew B-LOC\nYork E-LOC\nis O\n\nBig B-ORG\nBlue I-ORG\nInc E-ORG\n",
    "conllu": (
        "# sent_id = 1\n# text = I can't go.\n1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n"
        "2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_\n2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_\n3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
        "4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n4.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t4:conj\t_\n"
        "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n"
    ).encode(),
    "vectors": b"the 0.1 0.2 0.3\n, -0.5 1e-3 2\nNew York 0.5 0.5 -1\ncaf\xc3\xa9 1 2 3\n",
    "word2vec": b"3 2\nthe 0.1 0.2\nof 1 -1\nand 3 4\n",
}

# pieces that mean something to one reader or another, and bytes that trip up text handling
PIECES = [
    b"\t",
    b" ",
    b"\n",
    b"\n\n",
    b"\r\n",
    b"\r",
    b"-DOCSTART-",
    b"#",
    b"B-",
    b"I-",
    b"E-",
    b"S-",
    b"O",
    b"-",
    b"_",
    b".",
    b"1-2",
    b"0",
    b"3.1",
    b"10",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"nan",
    b"inf",
    b"-inf",
    b"1e999",
    b"\xc2\xa0",
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\xe2\x80\x8b",
    b"pos",
    b"neg",
    b"B-PER",
    b"I-ORG",
    b"\t_\t_\t_",
    b"1\tx\tx\tX\tX\t_\t0\troot\t_\t_",
]


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """``valid`` after 1-8 random edits: insert a piece or random bytes, delete or duplicate a range, replace a
    byte, drop or repeat a line, truncate."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(
            st.sampled_from(["piece", "bytes", "delete", "duplicate", "byte", "drop_line", "repeat_line", "truncate"])
        )
        at = draw(st.integers(0, len(data)))
        if op == "piece":
            data[at:at] = draw(st.sampled_from(PIECES))
        elif op == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 12))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
        elif op == "byte" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op in ("drop_line", "repeat_line"):
            lines = bytes(data).split(b"\n")
            k = at % len(lines)
            lines[k : k + 1] = [] if op == "drop_line" else [lines[k], lines[k]]
            data = bytearray(b"\n".join(lines))
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def hostile(kind: str):
    """Random bytes, random text, or a mutated valid file of ``kind``."""
    return st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        mutated(VALID[kind]),
        mutated(VALID[kind]),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def outcome(read, path: Path, raw: bytes):
    """Run ``read(path)``: its result, or the DataError checked to name the file and a line of it (or none)."""
    try:
        return read(path)
    except DataError as e:
        assert e.path == str(path), f"error names {e.path!r}, not the file read"
        assert e.line is None or 1 <= e.line <= raw.count(b"\n") + 1, f"line {e.line} is not a line of the file"
        assert e.reason.strip()
        return None


def write(folder: Path, name: str, raw: bytes) -> Path:
    path = folder / name
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("fmt", ["text_tab_label", "label_space_text"])
@FUZZ
@given(data=st.data())
def test_labelled_text(folder, fmt, data):
    raw = data.draw(hostile(fmt))
    examples = outcome(lambda p: read_labelled_text(p, fmt), write(folder, "texts.txt", raw), raw)
    for example in examples or []:
        assert example.text.strip() and example.label and "\n" not in example.text


@pytest.mark.parametrize(
    "kind,scheme", [("conll", "iob2"), ("conll", "iobes"), ("conll_iobes", "iob2"), ("conll", "none")]
)
@FUZZ
@given(data=st.data())
def test_conll(folder, kind, scheme, data):
    raw = data.draw(hostile(kind))
    path = write(folder, "tags.conll", raw)
    for labelled in (True, False):
        sentences = outcome(
            lambda p: read_conll(
                p, scheme=scheme, strict=data.draw(st.booleans()), labelled=labelled, log=lambda message: None
            ),
            path,
            raw,
        )
        for s in sentences or []:
            assert s.tokens and len(s.token_lines) == len(s.tokens)
            assert len(s.tags) == (len(s.tokens) if labelled else 0)


@FUZZ
@given(data=st.data())
def test_conllu(folder, data):
    raw = data.draw(hostile("conllu"))
    path = write(folder, "tags.conllu", raw)
    for column in ("upos", "xpos", 7):
        for s in outcome(lambda p: read_conllu(p, label_column=column), path, raw) or []:
            assert s.tokens and len(s.tags) == len(s.tokens)


@pytest.mark.parametrize("kind", ["vectors", "word2vec"])
@FUZZ
@given(data=st.data())
def test_pretrained_vectors(folder, kind, data):
    raw = data.draw(hostile(kind))
    loaded = outcome(load_vectors, write(folder, "vectors.txt", raw), raw)
    if loaded is not None:
        words, vectors = loaded
        assert vectors.dim() == 2 and vectors.size(0) == len(words) and bool(vectors.isfinite().all())


@FUZZ
@given(data=st.data())
def test_gzipped_files(folder, data):
    """A damaged .gz (cut short, bytes flipped) is a DataError too, for the line readers and the vector reader."""
    kind = data.draw(st.sampled_from(["text_tab_label", "conll", "vectors"]))
    raw = data.draw(st.one_of(mutated(gzip.compress(VALID[kind])), st.just(gzip.compress(data.draw(hostile(kind))))))
    path = write(folder, "file.gz", raw)
    read = {
        "text_tab_label": read_labelled_text,
        "conll": lambda p: read_conll(p, log=lambda m: None),
        "vectors": load_vectors,
    }[kind]
    try:
        read(path)
    except DataError as e:
        assert e.path == str(path) and e.reason.strip()


# ---- through a data module: learning from a hostile training file, predicting from hostile input -------------------


@FUZZ
@given(data=st.data())
def test_classification_data_module(folder, data):
    raw = data.draw(hostile("text_tab_label"))
    train = write(folder, "train.tsv", raw)
    val = write(folder, "val.tsv", VALID["text_tab_label"])
    module = ClassificationDataModule(train_path=str(train), val_path=str(val), char_features=True, batch_size=4)
    try:
        module.setup("fit")
    except (
        DataError
    ) as e:  # the validation file is valid: only a training-file problem, or a label val has and train lacks
        assert e.path in (str(train), str(val)) and e.reason.strip()
        return
    for batch in module.train_dataloader():
        assert bool((batch.lengths >= 1).all()) and bool((batch.char_lengths.sum(-1) >= 1).all())
    lines = list(enumerate(raw.decode("utf-8", "replace").split("\n"), start=1))
    try:
        module.codec.set_predict_input(lines, "input.txt")
    except DataError as e:
        assert e.path == "input.txt"
        return
    for batch in module.codec.predict_batches():
        assert bool((batch.lengths >= 1).all())


@pytest.mark.parametrize("input_format", ["text", "conll", "conllu"])
@FUZZ
@given(data=st.data())
def test_tagging_data_module(folder, input_format, data):
    kind = "conllu" if input_format == "conllu" else "conll"
    raw = data.draw(hostile(kind))
    train, val = write(folder, f"train.{kind}", raw), write(folder, f"val.{kind}", VALID[kind])
    module = TaggingDataModule(
        train_path=str(train),
        val_path=str(val),
        format=kind,
        scheme="none" if kind == "conllu" else "iob2",
        batch_size=4,
    )
    try:
        module.setup("fit")
    except DataError as e:
        assert e.path in (str(train), str(val)) and e.reason.strip()
        return
    for batch in module.train_dataloader():
        assert bool((batch.lengths >= 1).all()) and bool((batch.char_lengths.sum(-1) >= 1).all())
    lines = list(enumerate(raw.decode("utf-8", "replace").split("\n"), start=1))
    try:
        module.codec.set_predict_input(lines, "input", input_format=input_format)
    except DataError as e:
        assert e.path == "input"
        return
    for batch in module.codec.predict_batches():
        assert bool((batch.lengths >= 1).all())
