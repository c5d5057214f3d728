"""bench_speed.py --sections tagger_sparse (scripts/bench_sparse.py) runs (``--quick``, generated CoNLL files) and
reports its three optimiser set-ups, their ratios and the profiler's phases. Timings are never asserted."""

import pytest
from test_bench_speed import write_fake_conll


@pytest.mark.slow
def test_quick_tagger_sparse_run_reports_every_set_up(tmp_path, capsys):
    write_fake_conll(tmp_path)
    from seqkit.benchmark.speed import main

    figures = main(["--quick", "--sections", "tagger_sparse", "--conll2003", str(tmp_path), "--threads", "1"])[
        "sections"
    ]["tagger_sparse"]
    out = capsys.readouterr().out
    assert figures["data"] == "conll2003" and figures["batches"] == 3
    assert figures["embedding_shape"][1] == 100  # experiment=conll2003 embedding.pretrained=null: 100-d table
    assert set(figures["variants"]) == {"dense, Adam (for-loop)", "dense, fused Adam", "sparse, lazy Adam"}
    for variant in figures["variants"].values():
        assert variant["tokens_per_s"] > 0 and 0 < variant["optimizer_share"] < 1
        assert set(variant["profile_ms"]) == {"forward + nll", "backward", "clip", "optimizer step", "step"}
    for key in ("ratio_fused_vs_forloop", "ratio_sparse_vs_dense", "ratio_sparse_fused_vs_forloop"):
        assert figures[key] > 0
    for label in ("ratio fused/for-loop (dense)", "ratio sparse/dense (both fused)", "torch.profiler"):
        assert label in out
