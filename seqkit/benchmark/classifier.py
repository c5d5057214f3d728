"""Section ``classifier``: task=sentiment (built-in data), or its model on all of SST-2 train (``--sst2 DIR``):
1. Lightning Trainer vs a plain PyTorch loop (same model, batches, optimiser, clipping); 1b. GFLOP/s;
2. bucketed vs shuffled (unbucketed) batches, plain loop; 3. fused (packed nn.LSTM) vs cell (Python loop over
nn.LSTMCell) backbone, plain loop; 4. inference: eval-mode forward over the validation split in eval batches."""

from __future__ import annotations

from typing import Any, Dict, List

import torch

from seqkit.benchmark.loops import (
    compare_training_loops,
    epoch_batches,
    eval_batches,
    padded_positions,
    plain_train,
    real_tokens,
    reset,
)
from seqkit.benchmark.recipes import classifier_recipe, describe_model
from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, inference_figure, median, summary_of


def bench_classifier(args) -> Dict[str, Any]:
    recipe, what = classifier_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model, init_state = recipe.initial_model(args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    figures: Dict[str, Any] = {
        "data": "sst2" if args.sst2 else "builtin:sentiment_labelled",
        "train_sentences": len(dm.datasets["train"]),
        "vocab": len(dm.vocab),
        "recipe": recipe.overrides,
        "model": {
            "cell": cfg.backbone.cell,
            "bidirectional": bool(cfg.backbone.bidirectional),
            "hidden_size": cfg.backbone.hidden_size,
            "embedding_dim": cfg.model.embedding_dim,
            "pooling": cfg.model.pooling,
            "parameters": n_params,
        },
        "batch_size": cfg.data.batch_size,
        "epochs_per_round": args.epochs,
        "rounds": args.rounds,
    }
    print(f"data:  {what}: {len(dm.datasets['train']):,} sentences, vocabulary {len(dm.vocab):,}")
    print(
        f"model: {describe_model(recipe)}; embedding {cfg.model.embedding_dim}, pooling {cfg.model.pooling}, "
        f"{n_params:,} parameters; batch {cfg.data.batch_size}"
    )

    # ---- 1. Lightning Trainer vs plain loop: same model init, same batches, same optimiser ----------
    batches = epoch_batches(dm, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    title = (
        f"1. Lightning Trainer vs plain loop ({len(batches)} bucketed batches x {args.epochs} epoch(s), "
        f"{tokens:,} real tokens a round)"
    )
    loops, plain_model = compare_training_loops(args, recipe, init_state, batches, tokens, title, epochs=args.epochs)
    figures.update(loops)

    # ---- 2. bucketed vs unbucketed (shuffled) batches, plain loop, fresh epoch each round ----------
    padding: Dict[str, List[float]] = {"bucketed": [], "shuffled": []}

    def run_batching(bucketing: bool) -> Rate:
        name = "bucketed" if bucketing else "shuffled"
        flat = [b for _ in range(args.epochs) for b in epoch_batches(dm, bucketing, args.max_batches)]
        padding[name].append(real_tokens(flat) / padded_positions(flat))
        return plain_train(reset(plain_model, init_state), flat, recipe).rate(real_tokens(flat))

    res2 = alternate({"bucketed": lambda: run_batching(True), "shuffled": lambda: run_batching(False)}, args.rounds)
    r2 = compare(res2["bucketed"], res2["shuffled"])
    t2 = Table(f"2. bucketed vs unbucketed batches (plain loop, fresh batches every round, {args.epochs} epoch(s))")
    t2.rate("bucketed (BucketBatchSampler)", res2["bucketed"], f"real/padded {median(padding['bucketed']):.0%}")
    t2.rate("unbucketed (shuffled random batches)", res2["shuffled"], f"real/padded {median(padding['shuffled']):.0%}")
    t2.ratio("ratio bucketed/unbucketed", r2, 1.3)
    t2.print()
    figures["bucketed_vs_unbucketed"] = {
        "ratio": r2["wall"],
        "ratio_cpu": r2["cpu"],
        "target": 1.3,
        "bucketed": {**summary_of(res2["bucketed"]), "real_fraction": median(padding["bucketed"])},
        "unbucketed": {**summary_of(res2["shuffled"]), "real_fraction": median(padding["shuffled"])},
    }

    # ---- 3. fused vs cell backbone: same weights, same (fixed number of) batches --------------------
    few = batches[: args.cell_batches]
    few_tokens = real_tokens(few)
    fused_model = recipe.model(init_state)
    cell_model = recipe.model(init_state, extra=["backbone.impl=cell"])
    plain_train(cell_model, few[: max(1, args.warmup_batches // 4)], recipe)
    res3 = alternate(
        {
            "fused": lambda: plain_train(reset(fused_model, init_state), few, recipe).rate(few_tokens),
            "cell": lambda: plain_train(reset(cell_model, init_state), few, recipe).rate(few_tokens),
        },
        args.rounds,
    )
    r3 = compare(res3["fused"], res3["cell"])
    cell = str(cfg.backbone.cell).upper()
    t3 = Table(f"3. fused vs cell backbone impl (plain loop, the same {len(few)} batches, {few_tokens:,} real tokens)")
    t3.rate(f"fused (packed nn.{cell})", res3["fused"])
    t3.rate(f"cell (loop over nn.{cell}Cell)", res3["cell"])
    t3.ratio("ratio fused/cell", r3)
    t3.print()
    figures["fused_vs_cell"] = {
        "batches": len(few),
        "real_tokens": few_tokens,
        "ratio": r3["wall"],
        "ratio_cpu": r3["cpu"],
        "fused": summary_of(res3["fused"]),
        "cell": summary_of(res3["cell"]),
    }

    # ---- 4. inference: eval-mode forward over the recipe's eval batches ---------------------------------------
    model = reset(recipe.model(), init_state).eval()
    val, split = eval_batches(dm, args.max_batches)
    sentences = sum(len(b) for b in val)

    def forward() -> Rate:
        with torch.inference_mode(), Clock() as clock:
            for b in val:
                model(b.tokens, b.lengths)
        return clock.rate(sentences)

    forward()  # warm-up
    res4 = alternate({"forward": forward}, args.rounds)
    t4 = Table(
        f"4. inference: eval-mode forward, {split} split ({sentences:,} sentences, {len(val)} length-sorted "
        f"batches of <= {dm.eval_batch_size})",
        unit="sentences/s",
    )
    t4.rate("forward (inference_mode)", res4["forward"])
    t4.print()
    figures["inference"] = inference_figure(
        f"eval-mode forward, {split} split, batches of {dm.eval_batch_size}", res4["forward"], "sentences"
    )
    return figures
