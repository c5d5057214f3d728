"""Section ``tagger``: experiment=conll2003 (``--conll2003 DIR``) or task=ner (built-in WNUT-17) with
embedding.pretrained=null (word 100 trained from scratch + char CNN, BiLSTM 200, constrained CRF, batch 16):
1. Lightning Trainer vs a plain BiLSTM-CRF loop (the same --tagger-batches pre-made batches); 1p. with
seqkit[bench], a Flair BiLSTM-CRF of the same size on the same batches (seqkit.benchmark.flair_peer; goal
seqkit/Flair >= 5); 1b. GFLOP/s; 2. the CRF's share of a training step (CRF nll forward+backward alone on the
step's emissions, over the full step); 3. decoding the validation set: Viterbi sentences/s on precomputed
emissions against argmax (the softmax head's decode), and the full model decode (the inference figure)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import torch

from seqkit.benchmark.loops import compare_training_loops, epoch_batches, network_of, plain_train, real_tokens, reset
from seqkit.benchmark.recipes import describe_model, tagger_recipe
from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, inference_figure, median, ratio, summary_of


def bench_tagger(args) -> Dict[str, Any]:
    from seqkit.benchmark.flair_peer import FlairPeer, flair_version

    recipe, what = tagger_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model, init_state = recipe.initial_model(args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    n_train, n_val = len(dm.datasets["train"]), len(dm.datasets["val"])
    word_dropout = float(cfg.model.word_dropout)
    print(f"data:  {what}: {n_train:,} training sentences, {n_val:,} validation")
    print(
        f"model: {describe_model(recipe)}; word {cfg.model.embedding_dim} + char {cfg.model.char_encoder} "
        f"{network_of(model).chars.output_dim}, {cfg.model.head} over {len(dm.tags)} tags, word dropout {word_dropout:g}, "
        f"{n_params:,} parameters; batch {cfg.data.batch_size}"
    )
    figures: Dict[str, Any] = {
        "data": "conll2003" if args.conll2003 else "builtin:wnut17",
        "train_sentences": n_train,
        "val_sentences": n_val,
        "tags": len(dm.tags),
        "parameters": n_params,
        "batch_size": int(cfg.data.batch_size),
        "lr": recipe.lr,
        "word_dropout": word_dropout,
        "rounds": args.rounds,
        "recipe": recipe.overrides,
    }

    # ---- 1. Lightning Trainer vs plain BiLSTM-CRF loop (and the Flair peer): same batches, optimiser -------
    batches = epoch_batches(dm, bucketing=True, limit=args.tagger_batches)
    tokens = real_tokens(batches)
    extra: Dict[str, Callable[[], Rate]] = {}
    version = flair_version() if not args.no_peer else None
    if version is not None:
        peer, warm_peer = FlairPeer(recipe, batches), FlairPeer(recipe, batches[: args.warmup_batches])
        flair_params = sum(p.numel() for p in peer.tagger(args.seed).parameters())
        if peer.tokens() != tokens:
            raise RuntimeError(f"the Flair batches hold {peer.tokens()} tokens, seqkit's {tokens}")
        tagger = peer.tagger(args.seed)
        warm_peer.train(tagger, recipe.optimizer(tagger.parameters()), recipe.clip)

        def run_flair() -> Rate:
            tagger = peer.tagger(args.seed)
            optimizer = recipe.optimizer(tagger.parameters())
            with Clock() as clock:
                peer.train(tagger, optimizer, recipe.clip)
            return clock.rate(tokens)

        extra["flair"] = run_flair

    def report_peer(res: Dict[str, List[Rate]]) -> Dict[str, Any]:
        if version is None:
            why = "--no-peer given" if args.no_peer else 'flair is not installed (pip install -e ".[bench]")'
            print(f"-- 1p. peer: Flair BiLSTM-CRF: skipped, {why}")
            return {"flair": {"skipped": why}}
        r_peer = compare(res["lightning"], res["flair"])
        tp = Table(
            f"1p. peer: Flair {version} BiLSTM-CRF of the same size ({flair_params:,} parameters), the same "
            f"{len(batches)} batches, {recipe.cfg.optimizer._target_.rsplit('.', 1)[-1]} lr {recipe.lr:g}"
        )
        tp.rate("seqkit (pl.Trainer, epoch time)", res["lightning"])
        tp.rate("Flair (forward_loss, backward, clip, step)", res["flair"])
        tp.ratio("ratio seqkit/Flair", r_peer, 5.0)
        tp.print()
        return {
            "flair": {
                "version": version,
                "parameters": flair_params,
                "ratio": r_peer["wall"],
                "ratio_cpu": r_peer["cpu"],
                "target": 5.0,
                "flair": summary_of(res["flair"]),
            }
        }

    title = f"1. Lightning Trainer vs plain BiLSTM-CRF loop ({len(batches)} bucketed batches, {tokens:,} real tokens)"
    loops, _ = compare_training_loops(
        args, recipe, init_state, batches, tokens, title, extra=extra, report_extra=report_peer
    )
    figures.update(loops)

    # ---- 2. the CRF's share of a training step: (a) the full step, (b) the CRF nll forward + backward alone
    # on the emissions of the same batches (detached leaves: nothing flows back into the encoder) ---------
    steps = batches[: args.tagger_step_batches]
    step_tokens = real_tokens(steps)
    step_model = recipe.model(init_state).train()
    with torch.no_grad():
        emissions = [network_of(step_model).scores(b).float() for b in steps]  # training mode: as the step sees them

    def crf_only() -> Rate:
        crf = network_of(step_model).crf
        with Clock() as clock:
            for e, b in zip(emissions, steps):
                crf.nll(e.detach().requires_grad_(), b.labels, b.mask, reduction="mean").backward()
        step_model.zero_grad(set_to_none=True)  # the CRF's gradients must not leak into the next full step
        return clock.rate(step_tokens)

    res2 = alternate(
        {"step": lambda: plain_train(reset(step_model, init_state), steps, recipe).rate(step_tokens), "crf": crf_only},
        args.rounds,
    )
    # (tokens/s of the step) / (tokens/s of the CRF alone) = CRF time / step time
    share = {
        k: ratio(median([getattr(r, k) for r in res2["step"]]), median([getattr(r, k) for r in res2["crf"]]))
        for k in ("wall", "cpu")
    }
    t2 = Table(f"2. the CRF's share of a training step ({len(steps)} batches, {step_tokens:,} real tokens)")
    t2.rate("(a) full step (fwd+nll+bwd+clip+Adam)", res2["step"])
    t2.rate("(b) CRF nll forward + backward alone", res2["crf"])
    t2.text(f"CRF share of a step (b/a by time): {share['wall']:.1%} (by CPU time {share['cpu']:.1%})")
    t2.print()
    figures["crf_share_of_step"] = {
        "batches": len(steps),
        "real_tokens": step_tokens,
        "share": share["wall"],
        "share_cpu": share["cpu"],
        "step": summary_of(res2["step"]),
        "crf": summary_of(res2["crf"]),
    }

    # ---- 3. decoding the validation set (the recipe's length-sorted eval batches): Viterbi vs argmax on the
    # same precomputed emissions, and the whole model (forward + Viterbi) in eval mode ----------------------
    network = network_of(reset(recipe.model(), init_state).eval())
    val = list(dm.val_dataloader())
    sentences = sum(len(b) for b in val)
    with torch.no_grad():
        val_emissions = [network.scores(b).float() for b in val]

    def decode(fn) -> Rate:
        with torch.no_grad(), Clock() as clock:
            for e, b in zip(val_emissions, val):
                fn(e, b.mask)
        return clock.rate(sentences)

    def full_decode() -> Rate:
        with torch.no_grad(), Clock() as clock:
            for b in val:
                network.decode(network.scores(b), b.mask)
        return clock.rate(sentences)

    res3 = alternate(
        {
            "viterbi": lambda: decode(lambda e, m: network.crf.viterbi(e, m)[0]),
            # what the softmax head decodes: argmax of softmax = argmax of the emissions
            "argmax": lambda: decode(lambda e, m: e.argmax(-1).masked_fill(~m, 0)),
            "model": full_decode,
        },
        args.rounds,
    )
    r3 = compare(res3["viterbi"], res3["argmax"])
    viterbi_share = {
        k: ratio(median([getattr(r, k) for r in res3["model"]]), median([getattr(r, k) for r in res3["viterbi"]]))
        for k in ("wall", "cpu")
    }
    t3 = Table(
        f"3. decoding the validation set ({sentences:,} sentences, {len(val)} length-sorted eval batches of "
        f"<= {dm.eval_batch_size})",
        unit="sentences/s",
    )
    t3.rate("Viterbi (CRF) on precomputed emissions", res3["viterbi"])
    t3.rate("argmax (softmax head), same emissions", res3["argmax"])
    t3.rate("full model: forward + Viterbi (no_grad)", res3["model"])
    t3.ratio("ratio Viterbi/argmax", r3)
    t3.text(
        f"Viterbi share of the full model decode: {viterbi_share['wall']:.1%} (by CPU time {viterbi_share['cpu']:.1%})"
    )
    t3.print()
    figures["decode"] = {
        "sentences": sentences,
        "batches": len(val),
        "viterbi_sentences_per_s": median([r.wall for r in res3["viterbi"]]),
        "argmax_sentences_per_s": median([r.wall for r in res3["argmax"]]),
        "model_sentences_per_s": median([r.wall for r in res3["model"]]),
        "ratio_viterbi_argmax": r3["wall"],
        "ratio_viterbi_argmax_cpu": r3["cpu"],
        "viterbi_share_of_model_decode": viterbi_share["wall"],
        "viterbi_share_of_model_decode_cpu": viterbi_share["cpu"],
        **{name: summary_of(res3[name], "sentences") for name in ("viterbi", "argmax", "model")},
    }
    figures["inference"] = inference_figure("forward + Viterbi, validation split", res3["model"], "sentences")
    return figures
