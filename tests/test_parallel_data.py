"""The seq2seq data (ParallelDataModule over Seq2SeqCodec): line-aligned files, TSV, the CMU dictionary, and the errors they can raise."""

import gzip

import pytest

from seqkit.data.cmudict import read_cmudict, split_words
from seqkit.data.errors import DataError
from seqkit.tasks.seq2seq.datamodule import ParallelDataModule
from seqkit.tasks.seq2seq.metrics import bleu_chrf, edit_distance, error_rates


def write(path, text, gz=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def test_line_aligned_files_give_pairs_and_training_only_vocabularies(tmp_path):
    write(tmp_path / "train.en.gz", "a cat\nthe dog runs\n", gz=True)
    write(tmp_path / "train.de.gz", "eine katze\nder hund läuft\n", gz=True)
    write(tmp_path / "val.en", "a bird\n")
    write(tmp_path / "val.de", "ein vogel\n")
    dm = ParallelDataModule(
        root=str(tmp_path),
        train_path="train",
        val_path="val",
        src_lang="en",
        tgt_lang="de",
        source_tokens="space",
        target_tokens="space",
    )
    dm.setup("fit")
    assert "bird" not in dm.vocab and "vogel" not in dm.target_vocab  # learnt from train only
    batch = dm.collate(dm.datasets["train"])
    bos, eos = dm.target_vocab.index("<bos>"), dm.target_vocab.index("<eos>")
    assert batch.target_in[1].tolist() == [bos] + dm.target_vocab.encode(["der", "hund", "läuft"])
    assert batch.target_out[1].tolist() == dm.target_vocab.encode(["der", "hund", "läuft"]) + [eos]
    assert batch.target_out[0, -1] == 0 and batch.source_lengths.tolist() == [2, 3]
    assert dm.detokenize(dm.target_tokens(batch.target_out[1].tolist())) == "der hund läuft"
    assert dm.datasets["val"][0].references == [["ein", "vogel"]]


def test_mismatched_line_counts_name_both_files_and_counts(tmp_path):
    write(tmp_path / "train.en", "a\nb\nc\n")
    write(tmp_path / "train.de", "x\ny\n")
    dm = ParallelDataModule(root=str(tmp_path), train_path="train", src_lang="en", tgt_lang="de")
    with pytest.raises(DataError, match=r"train\.en: has 3 lines but .*train\.de has 2"):
        dm.setup("fit")


def test_an_empty_side_names_its_file_and_line(tmp_path):
    write(tmp_path / "train.en", "a\nb\nc\n")
    write(tmp_path / "train.de", "x\n \nz\n")
    dm = ParallelDataModule(root=str(tmp_path), train_path="train", src_lang="en", tgt_lang="de")
    with pytest.raises(DataError, match=r"train\.de:2: empty line"):
        dm.setup("fit")


def test_invalid_utf8_and_a_bad_tsv_line_are_located(tmp_path):
    write(tmp_path / "bad.tsv", b"ab\tA B\n\xff\tC\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: invalid UTF-8"):
        ParallelDataModule(train_path=str(tmp_path / "bad.tsv")).setup("fit")
    write(tmp_path / "notab.tsv", "ab\tA B\nno tab here\n")
    with pytest.raises(DataError, match=r"notab\.tsv:2: 1 fields, but line 1 has 2"):
        ParallelDataModule(train_path=str(tmp_path / "notab.tsv")).setup("fit")


def test_repeated_sources_are_scored_against_all_their_targets(tmp_path):
    write(tmp_path / "train.tsv", "ab\tA B\ncd\tC D\n")
    write(tmp_path / "val.tsv", "ab\tA B\nab\tA P\ncd\tC D\n")
    dm = ParallelDataModule(
        train_path=str(tmp_path / "train.tsv"), val_path=str(tmp_path / "val.tsv"), group_references=True
    )
    dm.setup("fit")
    assert [e.references for e in dm.datasets["val"]] == [[["A", "B"], ["A", "P"]], [["C", "D"]]]
    assert len(dm.datasets["train"]) == 2


def test_cmudict_reader_strips_stress_merges_variants_and_rejects_a_word_without_phones(tmp_path):
    path = write(
        tmp_path / "d.dict",
        "read R EH1 D\nread(2) R IY1 D\nread(3) R EH0 D # same without stress\naalen AE1 L AH0 N # place, german\n",
    )
    words = read_cmudict(path)
    assert [p for p, _ in words["read"]] == [["R", "EH", "D"], ["R", "IY", "D"]]
    assert words["aalen"][0] == (["AE", "L", "AH", "N"], 4)
    assert len(read_cmudict(path, keep_stress=True)["read"]) == 3
    write(tmp_path / "bad.dict", "ok OW K\nbroken\n")
    with pytest.raises(DataError, match=r"bad\.dict:2: word 'broken' has no phones"):
        read_cmudict(tmp_path / "bad.dict")


def test_word_split_is_deterministic_and_disjoint():
    words = [f"w{i}" for i in range(1000)]
    parts = split_words(words, (0.9, 0.05, 0.05), 13)
    assert [len(p) for p in parts] == [900, 50, 50]
    assert parts == split_words(list(reversed(words)), (0.9, 0.05, 0.05), 13)
    assert len(set().union(*map(set, parts))) == 1000


def test_builtin_cmudict_keeps_every_pronunciation_of_a_word_in_one_split():
    dm = ParallelDataModule(builtin="cmudict", group_references=True)
    splits = dm._read_cmudict()
    words = {name: {p.text for p in pairs} for name, (pairs, _) in splits.items()}
    assert (
        not (words["train"] & words["val"])
        and not (words["val"] & words["test"])
        and not (words["train"] & words["test"])
    )
    total = sum(len(w) for w in words.values())
    assert abs(len(words["val"]) / total - 0.05) < 0.001
    multi = [p for p in splits["val"][0] if len(p.target_texts) > 1]
    assert multi and all(len(set(p.target_texts)) == len(p.target_texts) for p in multi)
    assert all(not any(c.isdigit() for t in p.target_texts for c in t) for p in splits["val"][0])


def test_error_rates_count_a_word_right_when_it_matches_any_reference():
    assert edit_distance("kitten", "sitting") == 3
    refs = [[["R", "EH", "D"], ["R", "IY", "D"]], [["K", "AE", "T"]]]
    assert error_rates([["R", "IY", "D"], ["K", "AE", "T"]], refs) == {"wer": 0.0, "per": 0.0}
    scores = error_rates([["R", "IY", "T"], ["K", "AE", "T"]], refs)  # one substitution against R IY D
    assert scores["wer"] == 0.5 and scores["per"] == pytest.approx(1 / 6)


def test_bleu_and_chrf_come_from_sacrebleu():
    perfect = bleu_chrf(["the cat sat on the mat ."], [["the cat sat on the mat ."]])
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert perfect["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert bleu_chrf(["a dog"], [["the cat sat on the mat ."]])["bleu"] < 5
