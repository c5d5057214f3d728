"""Section ``lm``: task=lm with model.sample_length=0 (char level, 2-layer LSTM 512, 32 streams x 64 steps):
1. Lightning Trainer (truncated BPTT, state carried and detached) vs a plain PyTorch TBPTT loop over the same
--lm-batches chunks (the network's loss, its ``"state"`` carried); 1b. GFLOP/s; 2. greedy generation of
--lm-generate-tokens characters with incremental state (one step a token) vs recomputing the whole prefix for
every token (the same tokens, checked); 3. fused (packed nn.LSTM) vs cell (nn.LSTMCell loop), plain TBPTT loop."""

from __future__ import annotations

from typing import Any, Dict

import torch

from seqkit.benchmark.loops import compare_training_loops, epoch_batches, network_of, plain_train, real_tokens
from seqkit.benchmark.recipes import LM_OVERRIDES, describe_model, section_recipe
from seqkit.benchmark.timing import Clock, Table, alternate, compare, inference_figure, summary_of


def bench_lm(args) -> Dict[str, Any]:
    from seqkit.nn.decoding import greedy_choice

    recipe = section_recipe(args, "lm", ["task=lm", *LM_OVERRIDES])
    dm, cfg = recipe.datamodule, recipe.cfg
    batches = epoch_batches(dm, None, min(args.lm_batches, args.max_batches or args.lm_batches))
    tokens = real_tokens(batches)
    print(
        f"tiny-shakespeare train, {len(batches)} chunks of {cfg.data.batch_size} streams x {cfg.data.bptt} characters; "
        f"model: {describe_model(recipe)}"
    )
    _, initial = recipe.initial_model(args.seed)
    loops, _ = compare_training_loops(
        args, recipe, initial, batches, tokens, "1. truncated BPTT: Trainer vs plain loop"
    )
    figures: Dict[str, Any] = {"recipe": recipe.overrides, **loops}

    model = network_of(recipe.model(initial).eval())
    prompt = torch.tensor([dm.encode_prompt("ROMEO:")])
    new = args.lm_generate_tokens

    @torch.no_grad()
    def recompute():  # the naive generator: run the whole text again for every new token
        with Clock() as clock:
            ids = prompt
            for _ in range(new):
                logits, _ = model(ids, torch.tensor([ids.size(1)]))
                ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return clock.rate(new), ids[0, prompt.size(1) :]

    def incremental():
        with Clock() as clock:
            ids = model.generate(prompt, new, greedy_choice)[0]
        return clock.rate(new), ids

    gen = alternate({"incremental": incremental, "recompute": recompute}, args.rounds)
    if not all(torch.equal(a[1], b[1]) for a, b in zip(gen["incremental"], gen["recompute"])):
        raise RuntimeError("incremental and recomputed greedy generation differ")
    inc, rec = [r for r, _ in gen["incremental"]], [r for r, _ in gen["recompute"]]
    table = Table(f"2. generation of {new} characters (greedy, batch 1)", unit="tokens/s")
    table.rate("incremental state (step)", inc)
    table.rate("recompute the prefix every step", rec)
    table.ratio("ratio incremental/recompute", compare(inc, rec), 10.0)
    table.print()
    figures["generation"] = {
        "new_tokens": new,
        "ratio": compare(inc, rec)["wall"],
        "target": 10.0,
        "incremental": summary_of(inc),
        "recompute": summary_of(rec),
    }
    figures["inference"] = inference_figure("greedy generation, incremental state, batch 1", inc, "tokens")

    cell_batches = batches[: args.cell_batches]
    cell_tokens = real_tokens(cell_batches)
    impl = alternate(
        {
            "fused": lambda: plain_train(recipe.model(initial), cell_batches, recipe).rate(cell_tokens),
            "cell": lambda: plain_train(recipe.model(initial, extra=["backbone.impl=cell"]), cell_batches, recipe).rate(
                cell_tokens
            ),
        },
        args.rounds,
    )
    table = Table(f"3. fused vs cell loop, plain TBPTT loop, {len(cell_batches)} chunks")
    table.rate("fused (nn.LSTM)", impl["fused"])
    table.rate("cell (nn.LSTMCell loop, same weights)", impl["cell"])
    table.ratio("ratio fused/cell", compare(impl["fused"], impl["cell"]))
    table.print()
    figures["fused_vs_cell"] = {
        "ratio": compare(impl["fused"], impl["cell"])["wall"],
        "fused": summary_of(impl["fused"]),
        "cell": summary_of(impl["cell"]),
    }
    return figures
