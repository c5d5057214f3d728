"""The seq2seq shape (seqkit.tasks.seq2seq) learns an unaligned generated task; its decoders agree with each other; scripts end to end."""

import json
import random

import pytest
import torch
from test_scripts import ok, run_script

from seqkit.tasks.seq2seq.datamodule import ParallelDataModule
from seqkit.tasks.seq2seq.network import Seq2SeqNetwork

LETTERS = "abcdef"


def reversal_rows(n, seed):
    """Spelling -> its letters reversed and upper-cased, with every 'a' read as two phones 'A A' (so the
    output length differs from the input's): an unaligned task that needs attention over the whole source."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 7)))
        phones = [p for c in reversed(word) for p in (["A", "A"] if c == "a" else [c.upper()])]
        rows.append(f"{word}\t{' '.join(phones)}\n")
    return rows


@pytest.fixture
def reversal_files(tmp_path):
    (tmp_path / "train.tsv").write_text("".join(reversal_rows(1500, 0)))
    (tmp_path / "val.tsv").write_text("".join(reversal_rows(100, 1)))
    return tmp_path


def test_seq2seq_learns_an_unaligned_task_and_beam_of_one_is_greedy(reversal_files):
    torch.manual_seed(0)
    dm = ParallelDataModule(
        train_path=str(reversal_files / "train.tsv"),
        val_path=str(reversal_files / "val.tsv"),
        batch_size=32,
        eval_batch_size=100,
    )
    dm.setup("fit")
    model = Seq2SeqNetwork(
        **dm.model_kwargs(),
        embedding_dim=16,
        backbone={"cell": "gru", "hidden_size": 32, "bidirectional": True},
        attention="general",
        decode={"beam_size": 1},
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for epoch in range(4):
        for batch in dm.train_dataloader():
            logits, _ = model(batch.source, batch.source_lengths, batch.target_in)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    batch = next(iter(dm.val_dataloader()))
    outputs = model.greedy_decode(batch.source, batch.source_lengths)
    right = sum(dm.target_tokens(ids) == refs[0] for ids, refs in zip(outputs, batch.references))
    assert right >= 70, f"{right}/100 exact"  # 78 after these 4 epochs; an untrained model gets 0
    beam = model.beam_decode(batch.source, batch.source_lengths)
    for ids, tokens, n in zip(outputs, beam.best().tolist(), beam.lengths[:, 0].tolist()):
        assert model._strip(tokens[:n]) == ids


@pytest.mark.slow
def test_train_predict_nbest_and_attention_plot(reversal_files, tmp_path):
    result = ok(
        run_script(
            "train.py",
            "task=g2p",
            "data.builtin=null",
            f"data.train_path={reversal_files / 'train.tsv'}",
            f"data.val_path={reversal_files / 'val.tsv'}",
            f"data.test_path={reversal_files / 'val.tsv'}",
            "backbone.hidden_size=16",
            "model.embedding_dim=8",
            "data.batch_size=64",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp_path / 'run'}",
            "threads=1",
        )
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"val/wer", "val/per", "test/wer", "test/per"} <= set(summary)
    ckpt = summary["best_checkpoint"]
    plots = tmp_path / "plots"
    out = ok(
        run_script(
            "predict.py",
            f"ckpt_path={ckpt}",
            "input=-",
            "options.n_best=2",
            "options.beam_size=3",
            f"options.attention_plot={plots}",
            stdin="abc\n\nfed\n",
        )
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["source"] for r in rows] == ["abc", "", "fed"]  # output line k answers input line k
    assert rows[1] == {"source": "", "output": None, "score": None}
    for r in (rows[0], rows[2]):
        assert len(r["n_best"]) == 2 and r["n_best"][0] == {"output": r["output"], "score": r["score"]}
        assert r["n_best"][0]["score"] >= r["n_best"][1]["score"]
    assert sorted(p.name for p in plots.iterdir()) == ["attention_0001.png", "attention_0003.png"]  # by input line
    # a parallel corpus whose sides disagree: one line, exit 1
    (tmp_path / "t.en").write_text("a\nb\n")
    (tmp_path / "t.de").write_text("x\n")
    bad = run_script(
        "train.py",
        "task=g2p",
        "data.builtin=null",
        f"data.root={tmp_path}",
        "data.train_path=t",
        "data.src_lang=en",
        "data.tgt_lang=de",
    )
    assert bad.returncode == 1 and "t.en: has 2 lines but" in bad.stderr and "Traceback" not in bad.stderr


def test_experiment_g2p_is_the_measured_recipe_and_its_cosine_decay_runs(reversal_files, tmp_path):
    """experiment=g2p (measured on a GPU only, so no README command runs it on CI): the recipe the README reports,
    and two epochs of it on generated words, its learning rate decaying along the cosine from the config."""
    import pytorch_lightning as pl
    from test_scripts import composed

    from seqkit.app.train import build

    cfg = composed(
        "experiment=g2p",
        f"data.train_path={reversal_files / 'train.tsv'}",
        f"data.val_path={reversal_files / 'val.tsv'}",
        "trainer.max_epochs=2",
        "backbone.hidden_size=16",
        "embedding.dim=8",
    )
    assert (cfg.model.attention, cfg.model.input_feeding, cfg.model.label_smoothing) == ("general", False, 0.1)
    assert cfg.model.scheduler.T_max == 2 and cfg.backbone.num_layers == 2 and cfg.data.batch_size == 256
    dm = build(cfg.data)
    dm.setup("fit")
    model = build(cfg.model, **dm.model_kwargs())
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(cfg.model.scheduler.eta_min)  # stepped once an epoch: at the floor after T_max epochs
