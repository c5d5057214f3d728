"""Section ``seq2seq``: task=g2p (BiLSTM 128, dot attention, batch 256) on the built-in CMU dictionary:
1. Lightning Trainer vs a plain PyTorch loop (the same --seq2seq-batches batches; target tokens/s); 1b. GFLOP/s;
2. beam search (beam 5) over the validation words: batched (batch x beam rows a step) vs one sentence at a time
(--seq2seq-single words), and beam 5 vs greedy (untrained weights: the work per step is the same)."""

from __future__ import annotations

from itertools import islice
from typing import Any, Dict

import torch

from seqkit.benchmark.loops import network_of, report_flops, report_trainer_vs_plain, target_tokens, trainer_vs_plain
from seqkit.benchmark.recipes import describe_model, section_recipe
from seqkit.benchmark.timing import Clock, Table, alternate, compare, inference_figure, seed_all, summary_of


def bench_seq2seq(args) -> Dict[str, Any]:
    seed_all(args.seed)
    recipe = section_recipe(args, "seq2seq", ["task=g2p"])
    dm, cfg = recipe.datamodule, recipe.cfg
    limit = min(args.seq2seq_batches, args.max_batches or args.seq2seq_batches)
    batches = list(islice(dm.train_dataloader(), limit))
    tokens = target_tokens(batches)
    print(
        f"data:  built-in CMU dictionary, {len(dm.datasets['train']):,} training words, {len(batches)} batches of "
        f"{cfg.data.batch_size}; model: {describe_model(recipe)}, attention {cfg.model.attention}"
    )
    init = {k: v.clone() for k, v in recipe.model(seed=args.seed).state_dict().items()}
    res, whole_fit, plain_model = trainer_vs_plain(recipe, init, batches, tokens, args)
    figures: Dict[str, Any] = {
        "recipe": recipe.overrides,
        "train": report_trainer_vs_plain(
            args, "seq2seq 1: Lightning Trainer vs plain loop (target tokens/s)", res, whole_fit, len(batches), tokens
        ),
    }
    figures["flops"] = report_flops(
        args,
        "seq2seq 1b. achieved FLOP rate vs a GEMM in this run (target tokens)",
        plain_model,
        batches,
        target_tokens,
        res,
        cfg.backbone.hidden_size,
        unit="target_token",
    )

    model = network_of(recipe.model(init).eval())
    val = list(dm.val_dataloader())
    if args.max_batches:
        val = val[:1]
    sentences = sum(len(b) for b in val)
    singles = [dm.collate([e]) for e in dm.datasets["val"][: args.seq2seq_single]]

    def decode(fn, data, count):
        def run():
            with torch.no_grad(), Clock() as clock:
                for b in data:
                    fn(b.source, b.source_lengths)
            return clock.rate(count)

        return run

    res2 = alternate(
        {
            "beam": decode(model.beam_decode, val, sentences),
            "greedy": decode(model.greedy_decode, val, sentences),
            "beam_single": decode(model.beam_decode, singles, len(singles)),
        },
        args.rounds,
    )
    r_batch, r_cost = compare(res2["beam"], res2["beam_single"]), compare(res2["beam"], res2["greedy"])
    beam = cfg.model.decode.beam_size
    table = Table(f"seq2seq 2: decoding the validation words (beam {beam})", unit="sentences/s")
    table.rate(f"beam {beam}, batched ({dm.eval_batch_size} a batch)", res2["beam"])
    table.rate(f"beam {beam}, one sentence at a time", res2["beam_single"], f"({len(singles)} sentences)")
    table.rate("greedy, batched", res2["greedy"])
    table.ratio("ratio batched/per-sentence beam", r_batch, 5.0)
    table.ratio("ratio beam/greedy (speed)", r_cost)
    table.print()
    figures["decode"] = {
        "sentences": sentences,
        "ratio_batched_vs_single": r_batch["wall"],
        "ratio_batched_vs_single_cpu": r_batch["cpu"],
        "ratio_beam_vs_greedy": r_cost["wall"],
        **{name: summary_of(res2[name], "sentences") for name in res2},
    }
    figures["inference"] = inference_figure(
        f"batched beam search (beam {beam}), validation words", res2["beam"], "sentences"
    )
    return figures
