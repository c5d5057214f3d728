"""The scale benchmark's parts (seqkit.benchmark.scale), in-process and fast; the benchmark itself runs with
``python scripts/bench_scale.py --quick`` (docs/large-data.md)."""

import json

import pytest

from seqkit.benchmark import scale


def test_corpora_repeat_tiny_shakespeare_to_the_size_asked_cut_at_a_line_end(tmp_path):
    text = scale.shakespeare()
    path = scale.make_corpus(tmp_path / "c.txt", 2.5)
    data = path.read_bytes()
    assert abs(len(data) - 2.5 * scale.MB) < len(text) and data.endswith(b"\n")
    assert data.startswith(text) and data[len(text) :].startswith(text[:1000])  # repeated
    stamp = path.stat().st_mtime_ns
    assert scale.make_corpus(path, 2.5) == path and path.stat().st_mtime_ns == stamp  # kept, not rewritten


def test_the_probe_records_the_first_step_every_step_end_and_the_peak_rss(tmp_path):
    probe = scale.ScaleProbe(str(tmp_path / "probe.json"))
    for i in range(3):
        probe.on_train_batch_start(None, None, None, i)
        probe.on_train_batch_end(None, None, None, None, i)
    probe.on_train_end(None, None)
    record = json.loads((tmp_path / "probe.json").read_text())
    assert record["first"] <= record["ends"][0] <= record["ends"][-1] and len(record["ends"]) == 3
    assert 0.01 < record["peak_rss_gb"] < 64  # this process: at least torch's tens of MB


def test_the_stream_section_is_skipped_only_when_its_module_is_missing(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(scale.importlib, "import_module", missing)
    assert scale.stream_rows([1], 1) is None

    def broken(name):
        raise ModuleNotFoundError("No module named 'something_it_needs'", name="something_it_needs")

    monkeypatch.setattr(scale.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):  # a missing dependency of the section is not hidden
        scale.stream_rows([1], 1)


def test_quick_means_one_megabyte_and_sizes_parse_as_megabytes():
    quick = scale.parse(["--quick"])
    assert quick.sizes == quick.baseline_sizes == [1.0] and quick.steps == 2
    assert scale.parse(["--sizes", "10,100,1000"]).sizes == [10.0, 100.0, 1000.0]
    rows = [dict.fromkeys(scale.ROW_KEYS, None) | {"section": "lm", "corpus_mb": 10.0}]
    assert scale.table(rows).splitlines()[1].split() == ["lm", "10.0", "-", "-", "-", "-", "-"]
