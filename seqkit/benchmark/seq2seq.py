"""Section ``seq2seq``: task=g2p (BiLSTM 128, dot attention, batch 256) on the built-in CMU dictionary:
1. Lightning Trainer vs a plain PyTorch loop (the same --seq2seq-batches batches; target tokens/s); 1b. GFLOP/s;
2. beam search (beam 5) over the validation words: batched (batch x beam rows a step) vs one sentence at a time
(--seq2seq-single words), and beam 5 vs greedy (untrained weights: the work per step is the same)."""

from __future__ import annotations

from typing import Any, Dict

import torch

from seqkit.benchmark.loops import compare_training_loops, epoch_batches, network_of, target_tokens
from seqkit.benchmark.recipes import describe_model, section_recipe
from seqkit.benchmark.timing import Clock, Table, alternate, compare, inference_figure, summary_of


def bench_seq2seq(args) -> Dict[str, Any]:
    recipe = section_recipe(args, "seq2seq", ["task=g2p"])
    dm, cfg = recipe.datamodule, recipe.cfg
    batches = epoch_batches(dm, None, min(args.seq2seq_batches, args.max_batches or args.seq2seq_batches))
    tokens = target_tokens(batches)
    print(
        f"data:  built-in CMU dictionary, {len(dm.datasets['train']):,} training words, {len(batches)} batches of "
        f"{cfg.data.batch_size}; model: {describe_model(recipe)}, attention {cfg.model.attention}"
    )
    _, init = recipe.initial_model(args.seed)
    loops, _ = compare_training_loops(
        args,
        recipe,
        init,
        batches,
        tokens,
        "seq2seq 1: Lightning Trainer vs plain loop (target tokens/s)",
        count=target_tokens,
        unit="target_token",
        flops_title="seq2seq 1b. achieved FLOP rate vs a GEMM in this run (target tokens)",
    )
    figures: Dict[str, Any] = {"recipe": recipe.overrides, "train": loops["trainer_vs_plain"], "flops": loops["flops"]}

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
