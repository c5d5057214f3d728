"""Tests for the CoNLL / CoNLL-U readers and the tag-scheme helpers, on small files written in tmp_path."""

import gzip
from contextlib import contextmanager

import pytest

from seqkit.data.conll import TaggedSentence, read_conll, read_conllu, read_tagged
from seqkit.data.errors import DataError
from seqkit.data.tag_schemes import (
    check_tags,
    detect_scheme,
    iob1_to_iob2,
    iob2_to_iobes,
    iobes_to_iob2,
    spans,
)

HINT = " (predictions come in {}; options.output_scheme=input writes them in {})"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@contextmanager
def raises_at(path, line, reason):
    """Assert a DataError whose message names the file, the line (None: no line) and the reason."""
    with pytest.raises(DataError) as info:
        yield info
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: " if line is not None else f"{path}: "), msg
    assert info.value.line == line
    assert reason in msg, msg


CONLL03 = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "call NN I-NP O\n"
    "\n"
    "Peter NNP B-NP B-PER\n"
    "Blackburn NNP I-NP I-PER\n"
    "\n"
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "BRUSSELS NNP B-NP B-LOC\n"
)


# ---------------------------------------------------------------- CoNLL column files


def test_four_columns_with_docstart(tmp_path):
    p = write(tmp_path, "train.txt", CONLL03)
    sents = read_conll(p, log=pytest.fail)  # IOB2 in, IOB2 out: nothing to log
    assert [s.tokens for s in sents] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert sents[0].tags == ["B-ORG", "O", "B-MISC", "O"]
    assert sents[1].tags == ["B-PER", "I-PER"]
    assert (sents[0].line, sents[0].token_lines) == (3, [3, 4, 5, 6])
    assert sents[2].line == 13
    assert isinstance(sents[0], TaggedSentence)


def test_two_columns_tab_separated_odd_tokens_and_whitespace_separator(tmp_path):
    # WNUT-17 style: token<TAB>tag, tokens like '&' and '#tag', a separator line holding only a tab,
    # and U+200B / U+FEFF / U+00A0 inside tokens (text, not separators)
    p = write(
        tmp_path, "wnut.conll", "&\tO\n#yolo\tO\n\t\nwatched\u200bwas\tO\nDubbz\ufeff\tB-person\nx\u00a0y\tI-person\n"
    )
    sents = read_conll(p)
    assert [s.tokens for s in sents] == [["&", "#yolo"], ["watched\u200bwas", "Dubbz\ufeff", "x\u00a0y"]]
    assert sents[1].tags == ["O", "B-person", "I-person"]
    assert sents[1].token_lines == [4, 5, 6]


def test_gz_and_crlf(tmp_path):
    p = tmp_path / "a.conll.gz"
    with gzip.open(p, "wt", encoding="utf-8", newline="") as f:
        f.write("a\tB-X\r\nb\tO\r\n")
    assert read_conll(p)[0].tags == ["B-X", "O"]


def test_label_column_choice(tmp_path):
    p = write(tmp_path, "train.txt", CONLL03)
    pos = read_conll(p, label_column=1, scheme="none")
    assert pos[0].tags == ["NNP", "VBZ", "JJ", "NN"]
    chunk = read_conll(p, label_column=-2, scheme="iob2")
    assert chunk[0].tags == ["B-NP", "B-VP", "B-NP", "I-NP"]
    assert read_conll(p, label_column=3)[0].tags == read_conll(p)[0].tags


def test_label_column_out_of_range(tmp_path):
    p = write(tmp_path, "train.txt", CONLL03)
    with raises_at(p, 3, "label_column 4 is out of range: the file has 4 column(s)"):
        read_conll(p, label_column=4)
    with raises_at(p, 3, "label_column -5 is out of range"):
        read_conll(p, label_column=-5)


def test_one_column_needs_labelled_false(tmp_path):
    p = write(tmp_path, "raw.txt", "Hello\nworld\n\nBye\n")
    with raises_at(p, 1, "labelled data needs a token column and a separate label column"):
        read_conll(p)
    sents = read_conll(p, labelled=False)
    assert [(s.tokens, s.tags) for s in sents] == [(["Hello", "world"], []), (["Bye"], [])]


def test_unlabelled_many_columns(tmp_path):
    p = write(tmp_path, "train.txt", CONLL03)
    sents = read_conll(p, labelled=False)
    assert sents[1].tokens == ["Peter", "Blackburn"] and sents[1].tags == []


def test_wrong_column_count_names_line(tmp_path):
    p = write(tmp_path, "bad.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-NP\n")
    with raises_at(p, 4, "expected 4 columns, found 3"):
        read_conll(p)


def test_only_docstart(tmp_path):
    p = write(tmp_path, "docs.txt", "-DOCSTART- -X- -X- O\n\n")
    with raises_at(p, None, "no sentences"):
        read_conll(p)


# ---------------------------------------------------------------- schemes in the reader

IOB1 = "U.N.\tI-ORG\nofficial\tO\nEkeus\tI-PER\nheads\tO\n\nBonn\tI-LOC\nParis\tB-LOC\nto\tO\nIBM\tI-ORG\nCorp\tI-ORG\n"


def test_iob1_detected_and_converted(tmp_path):
    p = write(tmp_path, "iob1.txt", IOB1)
    messages = []
    sents = read_conll(p, log=messages.append)
    assert sents[0].tags == ["B-ORG", "O", "B-PER", "O"]
    assert sents[1].tags == ["B-LOC", "B-LOC", "O", "B-ORG", "I-ORG"]
    assert messages == [f"{p}: tags are IOB1; converted to IOB2" + HINT.format("IOB2", "IOB1")]


def test_iob1_to_iobes(tmp_path):
    p = write(tmp_path, "iob1.txt", IOB1)
    messages = []
    sents = read_conll(p, scheme="iobes", log=messages.append)
    assert sents[1].tags == ["S-LOC", "S-LOC", "O", "B-ORG", "E-ORG"]
    assert messages == [f"{p}: tags are IOB1; converted to IOBES" + HINT.format("IOBES", "IOB1")]


def test_iob2_kept(tmp_path):
    p = write(tmp_path, "iob2.txt", "a\tB-PER\nb\tI-PER\nc\tB-PER\nd\tO\n")
    messages = []
    assert read_conll(p, log=messages.append)[0].tags == ["B-PER", "I-PER", "B-PER", "O"]
    assert messages == []


def test_iobes_file_read_as_iob2_and_iobes(tmp_path):
    p = write(tmp_path, "iobes.txt", "a\tB-PER\nb\tE-PER\nc\tS-LOC\nd\tO\n")
    messages = []
    assert read_conll(p, log=messages.append)[0].tags == ["B-PER", "I-PER", "B-LOC", "O"]
    assert messages == [f"{p}: tags are IOBES; converted to IOB2" + HINT.format("IOB2", "IOBES")]
    assert read_conll(p, scheme="iobes", log=pytest.fail)[0].tags == ["B-PER", "E-PER", "S-LOC", "O"]


# line 5 starts an entity with I-LOC in a file whose other B- tags start entities (so: not IOB1)
BAD_IOB2 = "a\tB-PER\nb\tI-PER\n\nc\tO\nd\tI-LOC\ne\tI-LOC\nf\tB-ORG\n"


def test_strict_forbidden_i_tag_names_line(tmp_path):
    p = write(tmp_path, "bad.txt", BAD_IOB2)
    with raises_at(p, 5, "tag 'I-LOC' after 'O' does not continue an entity; IOB2 needs 'B-LOC' there"):
        read_conll(p)


def test_strict_iobes_file_grammar_error(tmp_path):
    p = write(tmp_path, "bad.txt", "a\tS-PER\nb\tO\n\nc\tB-LOC\nd\tO\n")
    with raises_at(p, 5, "tag 'O' after 'B-LOC': IOBES needs 'I-LOC' or 'E-LOC' there"):
        read_conll(p, scheme="iobes")


def test_non_strict_repairs_and_logs_count(tmp_path):
    p = write(tmp_path, "bad.txt", BAD_IOB2)
    messages = []
    sents = read_conll(p, strict=False, log=messages.append)
    assert sents[1].tags == ["O", "B-LOC", "I-LOC", "B-ORG"]
    assert len(messages) == 1 and str(p) in messages[0] and "repaired 1 tag" in messages[0]


def test_tag_not_in_scheme(tmp_path):
    p = write(tmp_path, "bad.txt", "a\tB-PER\nb\tO\n\nc\tX-PER\n")
    with raises_at(p, 4, "tag 'X-PER' is not O or B-/I-/E-/S- followed by a type"):
        read_conll(p)
    q = write(tmp_path, "bad2.txt", "a\tO\nb\tB-\n")
    with raises_at(q, 2, "tag 'B-' is not O"):
        read_conll(q, strict=False)


def test_scheme_none_accepts_anything(tmp_path):
    p = write(tmp_path, "pos.txt", "a\tX-PER\nb\tNN\nc\tI-LOC\n")
    assert read_conll(p, scheme="none")[0].tags == ["X-PER", "NN", "I-LOC"]


# ---------------------------------------------------------------- tag_schemes functions


def test_spans():
    assert spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 2),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
    ]
    assert spans(["S-PER", "B-creative-work", "I-creative-work", "E-creative-work", "O"]) == [
        ("PER", 0, 1),
        ("creative-work", 1, 4),
    ]
    assert spans([]) == []


def test_iobes_round_trip():
    iob2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    iobes = iob2_to_iobes(iob2)
    assert iobes == ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
    assert iobes_to_iob2(iobes) == iob2
    assert spans(iobes) == spans(iob2) == [("PER", 0, 3), ("LOC", 4, 5), ("LOC", 5, 7), ("ORG", 8, 9)]
    check_tags(iobes, "iobes")
    check_tags(iob2, "iob2")


def test_iob1_to_iob2():
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]) == [
        "B-PER",
        "I-PER",
        "B-PER",
        "O",
        "B-LOC",
        "B-ORG",
    ]


def test_detect_scheme():
    assert detect_scheme([["B-PER", "I-PER"], ["O", "B-LOC"]]) == "iob2"
    assert detect_scheme([["I-PER", "I-PER", "B-PER"], ["O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["I-PER", "O", "B-LOC"]]) == "iob2"  # B- after O: not IOB1, so a broken IOB2 file
    assert detect_scheme([["B-PER", "E-PER"], ["S-LOC"]]) == "iobes"
    assert detect_scheme([["NNP", "VBZ"]]) == "none"
    assert detect_scheme([["O", "O"]]) == "iob2"


def test_check_tags_lines():
    with pytest.raises(DataError) as e:
        check_tags(["O", "B-PER", "O", "I-PER"], "iob2", path="f.txt", first_line_numbers=10)
    assert str(e.value).startswith("f.txt:13: tag 'I-PER' after 'O'")
    with pytest.raises(DataError) as e:
        check_tags(["O", "B-PER"], "iobes", path="f.txt", first_line_numbers=[4, 7])
    assert str(e.value).startswith("f.txt:7: sentence ends inside an entity")
    with pytest.raises(DataError) as e:
        check_tags(["S-PER"], "iob2", path="f.txt", first_line_numbers=[2])
    assert str(e.value).startswith("f.txt:2: tag 'S-PER' is not valid in IOB2")
    check_tags(["NN", "X-PER"], "none")


# ---------------------------------------------------------------- CoNLL-U

CONLLU = (
    "# sent_id = 1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_\n"
    "4.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t4:conj\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tNew York\tNew York\tPROPN\tNNP\t_\t0\troot\t_\t_\n"
)


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path):
    p = write(tmp_path, "a.conllu", CONLLU)
    sents = read_conllu(p)
    assert sents[0].tokens == ["I", "do", "n't", "know", "."]
    assert sents[0].tags == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert (sents[0].line, sents[0].token_lines) == (3, [3, 5, 6, 7, 9])
    assert sents[1].tokens == ["New York"] and sents[1].line == 12
    assert read_conllu(p, label_column="xpos")[0].tags == ["PRP", "VBP", "RB", "VB", "."]
    assert read_conllu(p, label_column=7)[0].tags == ["nsubj", "aux", "advmod", "root", "punct"]
    assert read_conllu(p, labelled=False)[0].tags == []
    assert read_tagged(p, format="conllu", label_column="xpos")[1].tags == ["NNP"]


def test_conllu_wrong_column_count(tmp_path):
    p = write(tmp_path, "a.conllu", "# c\n1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n2\tgo\tgo\tVERB\tVB\t_\t1\n")
    with raises_at(p, 3, "expected 10 tab-separated columns, found 7"):
        read_conllu(p)


def test_conllu_comment_only_block(tmp_path):
    p = write(tmp_path, "a.conllu", "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n\n# sent_id = 2\n# text = ?\n")
    with raises_at(p, 3, "sentence with no tokens"):
        read_conllu(p)


def test_read_tagged_dispatch(tmp_path):
    p = write(tmp_path, "train.txt", CONLL03)
    assert [s.tokens for s in read_tagged(p)] == [s.tokens for s in read_conll(p)]
    with pytest.raises(ValueError, match="unknown format"):
        read_tagged(p, format="xml")


# ---------------------------------------------------------------- file-level errors propagate


@pytest.mark.parametrize("reader", [read_conll, read_conllu])
def test_bad_utf8_names_line_3(tmp_path, reader):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"a\tO\nb\tO\nc\xff\xfe\tO\n")
    with raises_at(p, 3, "invalid UTF-8"):
        reader(p)


@pytest.mark.parametrize("reader", [read_conll, read_conllu])
def test_empty_file(tmp_path, reader):
    p = write(tmp_path, "empty.txt", "\n  \n\t\n")
    with raises_at(p, None, "file is empty"):
        reader(p)


@pytest.mark.parametrize("fmt", ["conll", "conllu"])
def test_missing_file(tmp_path, fmt):
    p = tmp_path / "nope.txt"
    with raises_at(p, None, "file not found"):
        read_tagged(p, format=fmt)
