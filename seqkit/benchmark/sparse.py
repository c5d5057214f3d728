"""Section ``tagger_sparse`` (scripts/bench_speed.py, or scripts/bench_sparse.py): what the optimiser costs in a tagger training step, and what
``embedding.sparse=true`` (lazy Adam on the word-embedding rows a batch uses) and fused Adam save.

    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections tagger_sparse --conll2003 ../shared/data/conll2003

The model and data are composed from seqkit/configs/ (``experiment=conll2003 embedding.pretrained=null``: a trainable
100-d table over the ~21k training words, 2.1M parameters; without ``--conll2003``, ``task=ner`` on the
built-in WNUT-17, also without vectors). Three optimiser set-ups train the same ``--tagger-step-batches``
batches from the same initial weights, one thread, a plain loop that does what the Trainer does each step
(forward, CRF nll, backward, clip to 5.0, the model's own ``configure_optimizers()`` step, zero_grad),
measured alternately:

  dense, Adam (for-loop)   torch.optim.Adam with foreach/fused off: what seqkit/configs/optimizer/adam.yaml gave before
  dense, fused Adam        seqkit/configs/optimizer/adam.yaml now (fused: true)
  sparse, lazy Adam        embedding.sparse=true: seqkit.training.optim.LazyAdam on the embedding, fused Adam on the rest

It prints tokens/s and the optimiser step's share of the step for each, their ratios, and a torch.profiler
table of one round of each (the phases of a step, and the busiest operators).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch

from seqkit.benchmark.loops import epoch_batches, loss_of, network_of, real_tokens
from seqkit.benchmark.recipes import CONFIGS, compose_config, section_overrides, tagger_overrides
from seqkit.benchmark.timing import Clock, Table, alternate, compare, median, seed_all, summary_of
from seqkit.training.optim import clip_grad_norm_, has_sparse_grad

VARIANTS = {  # name -> (config overrides): the optimiser set-ups compared
    "dense, Adam (for-loop)": ["optimizer.fused=false", "+optimizer.foreach=false", "embedding.sparse=false"],
    "dense, fused Adam": ["embedding.sparse=false"],
    "sparse, lazy Adam": ["embedding.sparse=true"],
}
PHASES = ("forward + nll", "backward", "clip", "optimizer step")


def compose(args, *overrides: str):
    """seqkit/configs/train.yaml with the tagger recipe (see the module docstring), ``--override tagger_sparse:...``
    and ``overrides``."""
    return compose_config(CONFIGS, [*tagger_overrides(args), *section_overrides(args, "tagger_sparse"), *overrides])


def the_optimizer(model):
    """The optimiser of the model's own ``configure_optimizers()`` (with a learning-rate schedule it returns a dict;
    the steps timed here are within one epoch, so the schedule never steps)."""
    configured = model.configure_optimizers()
    return configured["optimizer"] if isinstance(configured, dict) else configured


def train_steps(model, optimizer, batches: Sequence[Any], clip: float):
    """The Trainer's step, in a plain loop. -> (Clock of all steps, Clock of the optimiser steps alone)."""
    from torch.profiler import record_function

    params = [p for g in optimizer.param_groups for p in g["params"]]
    in_step = Clock.zero()
    model.train()
    with Clock() as clock:
        for batch in batches:
            with record_function(PHASES[0]):
                loss = loss_of(model, batch)
            with record_function(PHASES[1]):
                loss.backward()
            with record_function(PHASES[2]):  # what TaskModule.configure_gradient_clipping does
                if has_sparse_grad(params):
                    clip_grad_norm_(params, clip)
                else:
                    torch.nn.utils.clip_grad_norm_(params, clip)
            with record_function(PHASES[3]), Clock() as step:
                optimizer.step()
            optimizer.zero_grad()
            in_step.wall += step.wall
            in_step.cpu += step.cpu
    return clock, in_step


def bench_tagger_sparse(args) -> Dict[str, Any]:
    """The optimiser's share of a tagger step: dense for-loop Adam vs fused Adam vs embedding.sparse=true."""
    from seqkit.app.train import build

    seed_all(args.seed)
    cfgs = {name: compose(args, *overrides) for name, overrides in VARIANTS.items()}
    base = cfgs["dense, fused Adam"]
    dm = build(base.data)
    dm.setup("fit")
    models = {name: build(cfg.model, **dm.model_kwargs()) for name, cfg in cfgs.items()}
    init = {k: v.clone() for k, v in next(iter(models.values())).state_dict().items()}
    clip = float(base.trainer.gradient_clip_val)
    batches = epoch_batches(dm, bucketing=True, limit=args.tagger_step_batches)
    tokens = real_tokens(batches)
    words = network_of(models["sparse, lazy Adam"]).embedding.embedding.weight
    n_params = sum(p.numel() for p in models["dense, fused Adam"].parameters())
    rows = [int(torch.unique(b.tokens).numel()) for b in batches]
    print(
        f"data:  {'CoNLL-2003 train (' + args.conll2003 + ')' if args.conll2003 else 'built-in WNUT-17 train'}, "
        f"{len(batches)} bucketed batches of {base.data.batch_size}, {tokens:,} real tokens"
    )
    print(
        f"model: as {'experiment=conll2003' if args.conll2003 else 'task=ner'} embedding.pretrained=null: word table "
        f"{tuple(words.shape)} ({words.numel():,} of {n_params:,} parameters); a batch uses "
        f"{sum(rows) / len(rows):.0f} of its {words.shape[0]:,} rows on average; lr {base.optimizer.lr}, clip {clip:g}"
    )

    def one(name: str):
        model = models[name]
        model.load_state_dict(init)
        optimizer = the_optimizer(model)
        return train_steps(model, optimizer, batches, clip)

    for name in models:  # warm-up (allocations, first-call costs)
        model = models[name]
        model.load_state_dict(init)
        train_steps(model, the_optimizer(model), batches[: args.warmup_batches], clip)
    results = alternate({name: (lambda n=name: one(n)) for name in models}, args.rounds)
    rates = {name: [clock.rate(tokens) for clock, _ in res] for name, res in results.items()}
    shares = {
        name: {k: median([getattr(s, k) / getattr(c, k) for c, s in res]) for k in ("wall", "cpu")}
        for name, res in results.items()
    }
    table = Table(f"tagger_sparse: optimiser set-ups over the same {len(batches)} batches ({tokens:,} real tokens)")
    for name in models:
        table.rate(
            name, rates[name], f"optimizer step {shares[name]['wall']:.1%} of the step (CPU {shares[name]['cpu']:.1%})"
        )
    before, fused, sparse = (rates[name] for name in models)
    table.ratio("ratio fused/for-loop (dense)", compare(fused, before))
    table.ratio("ratio sparse/dense (both fused)", compare(sparse, fused))
    table.ratio("ratio sparse+fused/for-loop (the saving)", compare(sparse, before))
    table.print()

    profiles = profile_phases(models, one)
    figures: Dict[str, Any] = {
        "data": "conll2003" if args.conll2003 else "builtin:wnut17",
        "batches": len(batches),
        "real_tokens": tokens,
        "embedding_shape": list(words.shape),
        "parameters": n_params,
        "mean_rows_per_batch": sum(rows) / len(rows),
        "rounds": args.rounds,
        **{
            key: compare(a, b)["wall"]
            for key, a, b in (
                ("ratio_fused_vs_forloop", fused, before),
                ("ratio_sparse_vs_dense", sparse, fused),
                ("ratio_sparse_fused_vs_forloop", sparse, before),
            )
        },
        **{
            f"ratio_{key}_cpu": compare(a, b)["cpu"]
            for key, a, b in (
                ("fused_vs_forloop", fused, before),
                ("sparse_vs_dense", sparse, fused),
                ("sparse_fused_vs_forloop", sparse, before),
            )
        },
        "variants": {
            name: {
                **summary_of(rates[name]),
                "optimizer_share": shares[name]["wall"],
                "optimizer_share_cpu": shares[name]["cpu"],
                "profile_ms": profiles[name],
            }
            for name in models
        },
    }
    return figures


def profile_phases(models: Dict[str, Any], one) -> Dict[str, Dict[str, float]]:
    """torch.profiler over one round of each set-up: milliseconds a step in each phase, and the top operators."""
    from torch.profiler import ProfilerActivity, profile

    out: Dict[str, Dict[str, float]] = {}
    lines: List[str] = [f"  {'ms a step (profiler)':<28}" + "".join(f"{p:>16}" for p in PHASES) + f"{'step':>10}"]
    tops = {}
    for name in models:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            one(name)
        events = {e.key: e for e in prof.key_averages()}
        steps = events[PHASES[0]].count
        ms = {p: events[p].cpu_time_total / 1e3 / steps for p in PHASES}
        total = sum(ms.values())
        out[name] = {**{p: round(v, 3) for p, v in ms.items()}, "step": round(total, 3)}
        lines.append(
            f"  {name:<28}" + "".join(f"{ms[p]:>9.2f} ({ms[p] / total:>3.0%})" for p in PHASES) + f"{total:>10.2f}"
        )
        ops = sorted(
            (e for e in prof.key_averages() if e.key not in PHASES and not e.key.startswith("ProfilerStep")),
            key=lambda e: e.self_cpu_time_total,
            reverse=True,
        )[:6]
        tops[name] = ", ".join(f"{e.key} {e.self_cpu_time_total / 1e3 / steps:.2f}" for e in ops)
    print("-- tagger_sparse: torch.profiler, one round of each (ms a step in each phase, share of the step) " + "-" * 4)
    for line in lines:
        print(line)
    print("  busiest operators (self CPU ms a step):")
    for name, text in tops.items():
        print(f"    {name}: {text}")
    return out
