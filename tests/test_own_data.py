"""Issue 27 (part A), a user's own files: CSV, TSV and JSON lines with headers and named columns for classification
and seq2seq (seqkit.data.columns), header-like first lines and class names with spaces refused with what to set,
predict reading the text (source) column only, the generic tasks (task=classify, task=seq2seq) trained end to end,
and the built-in sets as their presets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqkit.data.columns import read_columns
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import read_labelled_text
from seqkit.data.streaming import STREAM_DEFAULTS
from seqkit.tasks.seq2seq.codec import Seq2SeqCodec
from seqkit.tasks.seq2seq.metrics import text_scores

REPO = Path(__file__).resolve().parents[1]

TICKETS_CSV = (
    "id,text,label\n"
    '1,"My card was charged twice, please help",billing issue\n'
    '2,"Cannot log in\tat all",login\n'
    '3,"He said ""thanks"", then left",praise\n'
    "4,refund not received,billing issue\n"
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_with_a_header_quotes_a_comma_and_a_tab_inside_text_and_class_names_with_spaces(tmp_path):
    path = write(tmp_path, "tickets.csv", TICKETS_CSV)
    got = [(e.line, e.text, e.label) for e in read_labelled_text(path, "csv")]
    assert got == [
        (2, "My card was charged twice, please help", "billing issue"),
        (3, "Cannot log in\tat all", "login"),
        (4, 'He said "thanks", then left', "praise"),
        (5, "refund not received", "billing issue"),
    ]


def test_columns_by_name_or_index_and_an_explicit_header(tmp_path):
    path = write(tmp_path, "t.tsv", "body\tcategory\nhello there\tgreeting\nbye now\tfarewell\n")
    by_name = read_labelled_text(path, "tsv", header=True, text_column="body", label_column="category")
    assert [(e.text, e.label) for e in by_name] == [("hello there", "greeting"), ("bye now", "farewell")]
    by_index = read_labelled_text(path, "tsv", header=True, text_column=0, label_column=1)
    assert [(e.text, e.label) for e in by_index] == [(e.text, e.label) for e in by_name]
    headerless = read_labelled_text(path, "tsv", header=False)  # every line an example
    assert [e.label for e in headerless] == ["category", "greeting", "farewell"]
    with pytest.raises(DataError, match=r"t\.tsv:1: the header has no column 'text' \(it has \['body', 'category'\]\)"):
        read_labelled_text(path, "tsv", header=True, text_column="text")


def test_a_quote_is_text_in_tsv(tmp_path):
    path = write(tmp_path, "q.tsv", 'text\tlabel\n"Great" movie\tpos\nit said "no\tneg\n')
    assert [e.text for e in read_labelled_text(path, "tsv")] == ['"Great" movie', 'it said "no']


def test_json_lines_by_key_and_their_errors(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"text": "a b", "label": "x y"}\n\n{"text": "c", "label": 3}\n')
    assert [(e.line, e.text, e.label) for e in read_labelled_text(path, "jsonl")] == [(1, "a b", "x y"), (3, "c", "3")]
    bad = write(tmp_path, "bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(
        DataError, match=r"bad\.jsonl:2: no key 'label' \(keys: \['text'\]\): set data.label_column to one of them"
    ):
        read_labelled_text(bad, "jsonl")
    with pytest.raises(DataError, match=r"empty\.jsonl:1: no key 'text'"):
        read_labelled_text(write(tmp_path, "empty.jsonl", "{}\n"), "jsonl")
    broken = write(tmp_path, "broken.jsonl", '{"text": "a", "label": "x"}\n{"text": "b",\n')
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        read_labelled_text(broken, "jsonl")


def test_an_unquoted_comma_in_a_csv_text_is_refused_not_cut(tmp_path):
    path = write(tmp_path, "c.csv", "text,label\nfine,pos\nI liked it, really,pos\n")
    with pytest.raises(DataError, match=r"c\.csv:3: 3 fields, but line 1 has 2: quote a text that holds a comma"):
        read_labelled_text(path, "csv")
    stray = write(tmp_path, "s.csv", 'text,label\n"open quote,pos\n')
    with pytest.raises(DataError, match=r"s\.csv:\d: not valid CSV"):
        read_labelled_text(stray, "csv")


@pytest.mark.parametrize("fmt", ["tsv", "text_tab_label"])
def test_a_header_like_first_line_in_a_headerless_read_says_what_to_set(tmp_path, fmt):
    path = write(tmp_path, "h.tsv", "ticket\tcategory\nhello\tbilling\nbye\tlogin\nfoo\tbilling\nbar\tlogin\n")
    with pytest.raises(DataError) as info:
        read_labelled_text(path, fmt)
    assert f"{path}:1: looks like a header (its label 'category' is on no other line): set data.header=true" in str(
        info.value
    )
    assert [e.label for e in read_labelled_text(path, fmt, header=False)][0] == "category"  # asked for: kept
    assert [e.label for e in read_labelled_text(path, fmt, header=True)] == ["billing", "login", "billing", "login"]


def test_label_space_text_refuses_a_class_name_it_would_split(tmp_path):
    path = write(
        tmp_path, "l.txt", "billing issue my card\nbilling issue refund\nbilling issue late\nlogin no\nlogin x\n"
    )
    with pytest.raises(DataError, match=r"l\.txt:1: label 'billing' is always followed by 'issue' \(3 lines\)"):
        read_labelled_text(path, "label_space_text")
    fine = write(tmp_path, "f.txt", "pos a good film\npos the plot\npos great\nneg bad\nneg dull\nneg a mess\n")
    assert [e.label for e in read_labelled_text(fine, "label_space_text")] == ["pos"] * 3 + ["neg"] * 3


def test_a_wrong_format_names_data_formats_choices(tmp_path):
    path = write(tmp_path, "t.csv", TICKETS_CSV)
    with pytest.raises(DataError) as info:
        read_labelled_text(path, "text_tab_label")
    assert str(info.value).endswith(
        "no tab-separated label (expected '<text>\\t<label>'); data.format=text_tab_label "
        "(choices: text_tab_label, label_space_text, csv, tsv, jsonl)"
    )


def test_seq2seq_pairs_in_columns_and_whole_line_targets_refused(tmp_path):
    path = write(tmp_path, "d.csv", 'target,source\n2023-01-05,"Jan 5, 2023"\n2024-12-31,"Dec 31, 2024"\n')
    codec = Seq2SeqCodec(train_path=str(path), format="csv", target_tokens="char")  # task=seq2seq's default
    pairs = codec.read_splits()["train"][0]
    assert [(p.line, p.text, p.target_texts) for p in pairs] == [
        (2, "Jan 5, 2023", ["2023-01-05"]),
        (3, "Dec 31, 2024", ["2024-12-31"]),
    ]
    codec.build(pairs)  # characters by default: each date is many tokens
    assert len(codec.target_vocab) > 10
    spaced = Seq2SeqCodec(train_path=str(path), format="csv", target_tokens="space")
    with pytest.raises(ValueError, match="makes every training target one token.*set data.target_tokens=char"):
        spaced.build(spaced.read_splits()["train"][0])


def test_rows_are_read_one_at_a_time():
    def lines():
        yield 1, "source\ttarget"
        yield 2, "a\tA"
        raise AssertionError("read past the first example")

    rows = read_columns(
        lines(), "tsv", {"source": None, "target": None}, {"source": ("source", 0), "target": ("target", 1)}
    )
    assert next(rows) == (2, {"source": "a", "target": "A"})


def test_exact_match_and_character_error_rate_use_the_closest_reference():
    scores = text_scores(["2023-01-05", "abcd"], [["2023-01-05"], ["abxd", "abce"]])
    assert scores["exact"] == 0.5
    assert scores["cer"] == pytest.approx(1 / 14)  # one edit over 10 + 4 reference characters


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(
    ("preset", "generic", "builtin"),
    [("sentiment", "classify", "sentiment_labelled"), ("g2p", "seq2seq", "cmudict"), ("ner", "tag", "wnut17")],
)
def test_a_preset_is_its_generic_task_plus_its_data(preset, generic, builtin):
    cfg, base = _compose(f"task={preset}"), _compose(f"task={generic}")
    assert cfg.data.builtin == builtin and base.data.builtin is None
    assert cfg.data._target_ == base.data._target_ and cfg.model.shape == base.model.shape
    assert base.hydra.runtime.choices.task == generic  # runs go to outputs/<task>/
    for c in (cfg, base):  # the streaming keys live in the generic task; its preset keeps them
        assert (c.data.streaming, c.data.shuffle_buffer) == (
            STREAM_DEFAULTS["streaming"],
            STREAM_DEFAULTS["shuffle_buffer"],
        )
    assert _compose(f"task={preset}", "data.streaming=true").data.streaming is True
    assert OmegaConf.to_container(base.hydra.run)["dir"].startswith("outputs/${task_name}/runs/")


TINY = [
    "backbone.hidden_size=8",
    "embedding.dim=8",
    "data.batch_size=4",
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=2",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
    "++trainer.num_sanity_val_steps=0",
    "threads=1",
    "logger=csv",
]


def _train(out, *overrides):
    from seqkit.app.train import train

    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={out}", *TINY, *overrides])
    return out / "checkpoints" / "best.ckpt", train(cfg)


def test_classify_trains_on_a_csv_and_predicts_its_text_column_only(tmp_path):
    from seqkit.app.checkpoint import load
    from seqkit.app.predict import predict_with

    rows = ["text,label"] + [f'"word{i} {c}, more",{c} class' for i in range(12) for c in ("alpha", "beta")]
    train = write(tmp_path, "train.csv", "\n".join(rows) + "\n")
    ckpt, figures = _train(tmp_path / "run", "task=classify", f"data.train_path={train}", "data.format=csv")
    assert {"val/acc", "val/f1"} <= set(figures)
    network, codec = load(str(ckpt))
    assert codec.labels.itos == ["alpha class", "beta class"]  # class names with a space, whole
    gold = write(tmp_path, "new.csv", 'label,text\nalpha class,"word1 alpha, more"\n\nbeta class,"beta, beta"\n')
    out = tmp_path / "out.jsonl"
    assert predict_with(network, codec, str(gold), str(out), {}) == 3
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["text"] for g in got] == ["word1 alpha, more", "", "beta, beta"]  # the header is no example
    from seqkit.app.predict_stream import stream_predictions

    chunked = tmp_path / "chunked.jsonl"  # the header read in the first chunk names the columns of the later ones
    assert stream_predictions(network, codec, str(gold), str(chunked), {}, chunk_lines=1) == 3
    assert chunked.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_seq2seq_trains_on_a_tsv_of_dates_with_character_targets(tmp_path):
    from seqkit.app.checkpoint import load
    from seqkit.app.predict import predict_with

    months = ["Jan", "Feb", "Mar", "Apr"]
    rows = ["source\ttarget"] + [f"{months[i % 4]} {i + 1}, 2023\t2023-{i % 4 + 1:02d}-{i + 1:02d}" for i in range(16)]
    train = write(tmp_path, "dates.tsv", "\n".join(rows) + "\n")
    ckpt, figures = _train(
        tmp_path / "run",
        "task=seq2seq",
        f"data.train_path={train}",
        f"data.val_path={train}",
        "model.decode.beam_size=2",
    )
    assert {"val/chrf", "val/bleu", "val/exact", "val/cer"} <= set(figures)
    network, codec = load(str(ckpt))
    assert "-" in codec.target_vocab.itos  # character targets
    out = tmp_path / "out.jsonl"
    assert predict_with(network, codec, str(train), str(out), {}) == 16  # the source column, no header
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["source"] == "Jan 1, 2023"


def test_every_hint_in_these_errors_is_a_valid_override(tmp_path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cases = [
        ("h.tsv", "ticket\tcategory\nhello\tbilling\nbye\tlogin\nfoo\tbilling\nbar\tlogin\n", "tsv", {}),
        ("l.txt", "billing issue a\nbilling issue b\nbilling issue c\n", "label_space_text", {}),
        ("t.csv", TICKETS_CSV, "text_tab_label", {}),
        ("j.jsonl", '{"text": "a"}\n', "jsonl", {}),
        ("n.tsv", "a\tb\nc\td\n", "tsv", {"header": False, "text_column": "body"}),
    ]
    messages = []
    for name, text, fmt, options in cases:
        with pytest.raises(DataError) as info:
            read_labelled_text(write(tmp_path, name, text), fmt, **options)
        messages.append(str(info.value))
    for settings in ({"train_path": str(write(tmp_path, "d.tsv", "a\tx\nb\ty\n")), "target_tokens": "space"}, {}):
        codec = Seq2SeqCodec(**settings)
        with pytest.raises(ValueError) as info:
            codec.build(codec.read_splits()["train"][0])
        messages.append(str(info.value))
    hints = [h.rstrip(".,;)") for m in messages for h in re.findall(r"data\.\w+=\S+", m)]
    assert len(hints) >= 6
    parser = OverridesParser.create()
    for hint in hints:
        parser.parse_override(hint)  # raises on a hint Hydra cannot read


def test_a_seq2seq_header_with_other_names_is_refused_in_a_headerless_read(tmp_path):
    text = "input\toutput\nJan 5, 2023\t2023-01-05\nDec 31, 2024\t2024-12-31\nMay 1, 1999\t1999-05-01\n"
    path = write(tmp_path, "d.tsv", text)
    with pytest.raises(DataError) as info:
        Seq2SeqCodec(train_path=str(path)).read_splits()
    assert str(info.value) == (
        f"{path}:1: looks like a header (no character of its target 'output' is in any other target): set "
        "data.header=true (then name the columns: data.source_column=..., data.target_column=...) or "
        "data.header=false to keep it"
    )
    named = Seq2SeqCodec(train_path=str(path), header=True, source_column="input", target_column="output")
    assert [p.target_texts for p in named.read_splits()["train"][0]][0] == ["2023-01-05"]
    kept = Seq2SeqCodec(train_path=str(path), header=False).read_splits()["train"][0]
    assert [p.text for p in kept][0] == "input"  # asked for: kept as a pair
    words = write(tmp_path, "w.tsv", "cat\tKatze\ndog\tHund\nhat\tHut\n")  # line 1 shares characters: no header
    assert len(Seq2SeqCodec(train_path=str(words)).read_splits()["train"][0]) == 3


def _conll(tmp_path, name="train.conll"):
    sentences = [[("Ann", "B-PER"), ("saw", "O"), ("Rome", "B-LOC")], [("Bo", "B-PER"), ("left", "O")]] * 4
    return write(tmp_path, name, "\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n")


def test_a_tagger_without_validation_data_stops_with_the_setting_to_give(tmp_path):
    train = _conll(tmp_path)
    with pytest.raises(ValueError, match=r"^no validation data: give data.val_path=<file>"):
        _train(tmp_path / "run", "task=tag", f"data.train_path={train}")


def test_a_monitored_metric_the_model_does_not_log_stops_at_the_first_validation(tmp_path):
    train = _conll(tmp_path)  # tags without entities (data.scheme=none) give accuracy, not entity F1
    overrides = ("task=tag", f"data.train_path={train}", f"data.val_path={train}", "data.scheme=none")
    with pytest.raises(ValueError, match=r"^monitor.metric=val/f1: this model logs no such metric \(it logs val/loss"):
        _train(tmp_path / "run", *overrides)
    _, figures = _train(tmp_path / "ok", *overrides, "monitor.metric=val/acc")  # the hint's setting trains
    assert "val/acc" in figures and "val/f1" not in figures
