"""Section ``gradient_flow``: the classifier section's model and batches under pl.Trainer with
callbacks=gradient_flow (GradientFlow recording every --gradient-flow-every steps, pictures at the end of fit)
against without it (target >= 0.9)."""

from __future__ import annotations

import tempfile
from typing import Any, Dict, List

from seqkit.benchmark.loops import epoch_batches, lightning_train, real_tokens, reset
from seqkit.benchmark.recipes import classifier_recipe, describe_model
from seqkit.benchmark.timing import Rate, Table, alternate, compare, summary_of


def bench_gradient_flow(args) -> Dict[str, Any]:
    from seqkit.training.callbacks import GradientFlow

    recipe, what = classifier_recipe(args)
    model, init_state = recipe.initial_model(args.seed)
    batches = epoch_batches(recipe.datamodule, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    every = args.gradient_flow_every
    print(f"data:  {what}: {len(batches)} bucketed batches x {args.epochs} epoch(s), {tokens:,} real tokens a round")
    print(f"model: {describe_model(recipe)}; GradientFlow every {every} steps, pictures at the end of fit")

    lightning_train(reset(model, init_state), batches[: args.warmup_batches], recipe)
    whole_fit: Dict[str, List[Rate]] = {"off": [], "on": []}
    records: List[int] = []
    with tempfile.TemporaryDirectory() as tmp:

        def run(on: bool) -> Rate:
            callbacks = [GradientFlow(every_n_steps=every, dirpath=tmp)] if on else []
            epochs, whole = lightning_train(reset(model, init_state), batches, recipe, args.epochs, callbacks)
            if on:
                records.append(len(callbacks[0].records))
            whole_fit["on" if on else "off"].append(whole.rate(tokens))
            return epochs.rate(tokens)

        res = alternate({"off": lambda: run(False), "on": lambda: run(True)}, args.rounds)
    r, r_fit = compare(res["on"], res["off"]), compare(whole_fit["on"], whole_fit["off"])
    table = Table(f"gradient flow callback on (every {every} steps, {records[0]} records a round) vs off")
    table.rate("pl.Trainer, no callback (epoch time)", res["off"])
    table.rate("pl.Trainer + GradientFlow (epoch time)", res["on"])
    table.ratio("ratio on/off", r, 0.9)
    table.ratio("ratio on/off incl. fit() and pictures", r_fit)
    table.print()
    return {
        "batches": len(batches),
        "epochs": args.epochs,
        "every_n_steps": every,
        "records_per_round": records[0],
        "real_tokens_per_round": tokens,
        "ratio": r["wall"],
        "ratio_cpu": r["cpu"],
        "ratio_incl_fit_and_pictures": r_fit["wall"],
        "target": 0.9,
        "off": summary_of(res["off"]),
        "on": summary_of(res["on"]),
    }
