"""scripts/bench_speed.py runs end to end (``--quick``, generated data) and prints its ratios and a JSON line.

Timings themselves are never asserted: the figures depend on the machine and on whatever else runs on it.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_speed.py"


def write_fake_sst2(directory: Path, n: int = 160, seed: int = 0) -> None:
    """SST-2-shaped file: ``<label> <lower-cased, space-tokenised sentence>``, lengths 2-30."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)] + ["good", "bad", ",", "."]
    lines = [f"{rng.randint(0, 1)} " + " ".join(rng.choice(words) for _ in range(rng.randint(2, 30))) for _ in range(n)]
    (directory / "stsa.binary.train").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.slow
def test_quick_run_prints_ratios_and_json(tmp_path):
    write_fake_sst2(tmp_path)
    proc = run("--quick", "--sections", "classifier", "--sst2", str(tmp_path), "--threads", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "torch threads: 1" in out
    assert "SST-2 train" in out
    for label in ("ratio seqkit/plain (Trainer/plain)", "ratio bucketed/unbucketed", "ratio fused/cell"):
        line = next((l for l in out.splitlines() if label in l), None)
        assert line is not None, f"no {label!r} line in:\n{out}"
        assert line.split(label, 1)[1].split()[0].endswith("x")  # a figure, e.g. "0.981x"
    summary = json.loads(out.strip().splitlines()[-1])  # the last line is the JSON summary
    assert summary["threads"] == 1 and summary["quick"] is True
    figures = summary["sections"]["classifier"]
    assert figures["data"] == "sst2" and figures["train_sentences"] == 160
    for key in ("trainer_vs_plain", "bucketed_vs_unbucketed", "fused_vs_cell"):
        assert figures[key]["ratio"] > 0 and figures[key]["ratio_cpu"] > 0
    assert figures["trainer_vs_plain"]["plain"]["tokens_per_s"] > 0
    assert figures["trainer_vs_plain"]["trainer"]["tokens_per_s"] > 0
    assert 0 < figures["bucketed_vs_unbucketed"]["unbucketed"]["real_fraction"] <= 1
    # the recipe is composed from seqkit/configs/ (task=sentiment's model on the SST-2 file), never re-typed
    assert figures["recipe"][0] == "task=sentiment" and "data.format=label_space_text" in figures["recipe"]
    assert figures["model"] == {
        "cell": "lstm",
        "bidirectional": True,
        "hidden_size": 128,
        "embedding_dim": 128,
        "pooling": "max",
        "parameters": figures["model"]["parameters"],
    }
    assert "1b. achieved FLOP rate vs a GEMM in this run" in out and "Trainer / GEMM" in out
    flops = figures["flops"]
    assert flops["flops_per_token"] > 0 and flops["gemm"]["n"] == 512 and flops["gemm"]["gflops"] > 0
    assert flops["plain"]["fraction_of_gemm"] > 0 and flops["lightning"]["gflops"] > 0
    assert figures["inference"]["unit"] == "sentences" and figures["inference"]["sentences_per_s"] > 0


def test_unknown_section_is_an_argument_error():
    proc = run("--sections", "no_such_section")
    assert proc.returncode == 2
    assert "no_such_section" in proc.stderr
    proc = run("--override", "nosuch:backbone.hidden_size=8")
    assert proc.returncode == 2 and "SECTION:KEY=VALUE" in proc.stderr


def write_fake_conll(directory: Path, n: int = 60, seed: int = 0) -> None:
    """CoNLL-2003-shaped train.txt / valid.txt: ``word POS chunk NER``, IOB2 entities, a -DOCSTART- line."""
    rng = random.Random(seed)
    for name in ("train.txt", "valid.txt"):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for _ in range(n):
            for _ in range(rng.randint(3, 20)):
                if rng.random() < 0.2:
                    kind = rng.choice(["PER", "LOC"])
                    lines += [f"Name{rng.randint(0, 9)} NNP B-NP B-{kind}", f"Jr NNP I-NP I-{kind}"]
                else:
                    lines.append(f"w{rng.randint(0, 99)} NN B-NP O")
            lines.append("")
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_quick_tagger_run_prints_its_figures(tmp_path):
    write_fake_conll(tmp_path)
    proc = run("--quick", "--sections", "tagger", "--conll2003", str(tmp_path), "--threads", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "torch threads: 1" in out
    assert "CoNLL-2003 train/valid" in out and "built-in WNUT-17" not in out
    for title in (
        "1. Lightning Trainer vs plain BiLSTM-CRF loop",
        "2. the CRF's share of a training step",
        "3. decoding the validation set (60 sentences",
    ):
        assert title in out, f"no {title!r} table in:\n{out}"
    for label in ("ratio seqkit/plain (Trainer/plain)", "ratio Viterbi/argmax"):
        line = next((l for l in out.splitlines() if label in l), None)
        assert line is not None, f"no {label!r} line in:\n{out}"
        assert line.split(label, 1)[1].split()[0].endswith("x")  # a figure, e.g. "0.981x"
    assert "CRF share of a step" in out and "Viterbi share of the full model decode" in out
    try:
        import flair  # noqa: F401 (seqkit[bench])

        assert "1p. peer: Flair" in out and "ratio seqkit/Flair" in out
        peer = json.loads(out.strip().splitlines()[-1])["sections"]["tagger"]["flair"]
        assert peer["ratio"] > 0 and peer["target"] == 5.0 and peer["flair"]["tokens_per_s"] > 0
    except ImportError:  # the section says so and goes on
        assert 'peer: Flair BiLSTM-CRF: skipped, flair is not installed (pip install -e ".[bench]")' in out
    summary = json.loads(out.strip().splitlines()[-1])  # the last line is the JSON summary
    assert summary["threads"] == 1 and summary["quick"] is True
    figures = summary["sections"]["tagger"]
    assert figures["data"] == "conll2003" and figures["train_sentences"] == 60 and figures["val_sentences"] == 60
    assert figures["tags"] == 5 and figures["batch_size"] == 16 and figures["word_dropout"] == 0.02
    assert figures["recipe"][0] == "experiment=conll2003" and "embedding.pretrained=null" in figures["recipe"]
    assert figures["flops"]["flops_per_token"] > 1e6 and figures["flops"]["gemm"]["n"] == 800  # BiLSTM 200: 4 x 200
    assert figures["inference"]["sentences_per_s"] == decode_rate(figures)
    # shapes of the figures only: no bound on a timing (the machine may be loaded)
    assert figures["trainer_vs_plain"]["ratio"] > 0 and figures["trainer_vs_plain"]["target"] == 0.95
    assert figures["trainer_vs_plain"]["plain"]["tokens_per_s"] > 0
    assert figures["crf_share_of_step"]["share"] > 0 and figures["crf_share_of_step"]["crf"]["tokens_per_s"] > 0
    decode = figures["decode"]
    assert decode["sentences"] == 60 and decode["batches"] == 1
    for key in ("viterbi_sentences_per_s", "argmax_sentences_per_s", "model_sentences_per_s", "ratio_viterbi_argmax"):
        assert decode[key] > 0


def decode_rate(figures):
    return figures["decode"]["model"]["sentences_per_s"]


def test_tagger_without_its_files_is_an_error(tmp_path):
    proc = run("--quick", "--sections", "tagger", "--conll2003", str(tmp_path))
    assert proc.returncode != 0
    assert "train.txt not found" in proc.stderr


def test_lm_section_times_tbptt_generation_and_cells_in_one_run(capsys):
    """--sections lm (quick): the three comparisons run; generation's two ways give the same tokens (checked inside)."""
    from seqkit.benchmark.speed import main

    lm = main(["--quick", "--sections", "lm", "--threads", "1", "--override", "lm:backbone.hidden_size=24"])[
        "sections"
    ]["lm"]
    assert set(lm) >= {"trainer_vs_plain", "generation", "fused_vs_cell", "flops", "inference"}
    # task=lm composed, the quick sizes and then --override applied (the last override wins)
    assert lm["recipe"] == [
        "task=lm",
        "model.sample_length=0",
        "data.batch_size=8",
        "data.bptt=32",
        "backbone.hidden_size=32",
        "backbone.hidden_size=24",
    ]
    assert lm["flops"]["gemm"]["n"] == 256 and lm["inference"]["tokens_per_s"] > 0
    assert lm["generation"]["target"] == 10.0 and lm["trainer_vs_plain"]["target"] == 0.95
    assert "ratio incremental/recompute" in capsys.readouterr().out
