"""Section ``forecast``: experiment=etth1 with model.highway=none (LSTM 64, direct head, last-value norm; input
96 -> 24, batch 64) on ETTh1 (``--ett DIR``) or a generated hourly series of the same shape:
1. Lightning Trainer vs a plain PyTorch loop on the same --forecast-batches windows; 1b. GFLOP/s;
2. forecasts/s: Trainer.predict (the Lightning prediction path) against the bare forward, validation windows."""

from __future__ import annotations

from typing import Any, Dict

import torch

from seqkit.benchmark.loops import QUIET_TRAINER, compare_training_loops, epoch_batches, network_of, windows_of
from seqkit.benchmark.recipes import describe_model, forecast_recipe
from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, inference_figure, summary_of


def bench_forecast(args) -> Dict[str, Any]:
    import pytorch_lightning as pl

    recipe, what = forecast_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model, init_state = recipe.initial_model(args.seed)
    batches = epoch_batches(dm, bucketing=False, limit=args.forecast_batches)
    windows = windows_of(batches)
    print(
        f"data:  {what}: {len(dm.datasets['train']):,} training windows of {dm.codec.hparams.input_length} -> "
        f"{dm.codec.hparams.horizon}, {len(dm.datasets['val']):,} validation"
    )
    print(
        f"model: {describe_model(recipe)}; {cfg.model.head} head, {cfg.model.instance_norm} instance norm, "
        f"{cfg.model.loss}, {sum(p.numel() for p in model.parameters()):,} parameters; batch {cfg.data.batch_size}"
    )
    figures: Dict[str, Any] = {
        "data": "etth1" if args.ett else "generated",
        "batches": len(batches),
        "rounds": args.rounds,
        "recipe": recipe.overrides,
    }

    # ---- 1. Lightning Trainer vs plain loop, same windows (as the training steps see them) -------------
    loops, _ = compare_training_loops(
        args,
        recipe,
        init_state,
        batches,
        windows,
        f"1. Lightning Trainer vs plain loop ({len(batches)} batches, {windows:,} windows; rates in windows/s)",
        count=windows_of,
        unit="window",
        flops_title="1b. achieved FLOP rate vs a GEMM in this run (rates from windows/s)",
    )
    figures.update(loops)

    # ---- 2. forecasts a second: Trainer.predict vs the bare forward, validation windows ----------------
    model = recipe.model(init_state).eval()
    network = network_of(model)
    loader = dm.val_dataloader()
    n = len(dm.datasets["val"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, **QUIET_TRAINER)

    def bare() -> Rate:
        with torch.no_grad(), Clock() as clock:
            for batch in loader:
                network(batch.x, batch.future)
        return clock.rate(n)

    def predict() -> Rate:
        with Clock() as clock:
            trainer.predict(model, dataloaders=loader)
        return clock.rate(n)

    res2 = alternate({"predict": predict, "bare": bare}, args.rounds)
    r2 = compare(res2["predict"], res2["bare"])
    t2 = Table(
        f"2. forecasting the validation windows ({n:,} windows of {dm.codec.hparams.horizon} steps, batches of "
        f"{dm.eval_batch_size})",
        unit="forecasts/s",
    )
    t2.rate("Trainer.predict (predict.py's path)", res2["predict"])
    t2.rate("bare forward under no_grad", res2["bare"])
    t2.ratio("ratio predict/bare", r2)
    t2.print()
    figures["predict"] = {
        "windows": n,
        "ratio_predict_bare": r2["wall"],
        **summary_of(res2["predict"], "forecasts"),
        "bare": summary_of(res2["bare"], "forecasts"),
    }
    figures["inference"] = inference_figure("Trainer.predict, validation windows", res2["predict"], "forecasts")
    return figures
