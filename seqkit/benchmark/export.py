"""Section ``export``: inference of the classifier section's model and the tagger section's (eval mode,
length-sorted batches of --export-batch-size training sentences): eager PyTorch vs TorchScript vs onnxruntime
(scripts/export.py's graphs, one thread), sentences/s; the tagger also decoded (eager Viterbi vs onnxruntime
emissions + seqkit.export.runtime's numpy Viterbi). Needs seqkit[export]."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

import torch

from seqkit.benchmark.loops import network_of, real_tokens
from seqkit.benchmark.recipes import classifier_recipe, tagger_recipe
from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, seed_all, summary_of


def export_graphs(model) -> list:
    """The graphs scripts/export.py writes of ``model``: its shape's own (``seqkit.tasks.<shape>.export``, through
    the registry); for an old model class not yet in a shape package, seqkit.export.graphs' table."""
    if hasattr(model, "network"):
        from seqkit.tasks.registry import get, load

        return load(get(model.hparams.shape).export)(model.network)
    from seqkit.export.graphs import SHAPES

    return SHAPES[type(model).__name__][1](model)


def bench_export(args) -> Dict[str, Any]:
    """Inference throughput of the same model run eagerly, as TorchScript and through onnxruntime (one thread),
    for the classifier section's model and the tagger section's (emissions, then with Viterbi decoding)."""
    import numpy as np

    from seqkit.export.exporter import write_graph
    from seqkit.export.runtime import onnx_session, viterbi

    seed_all(args.seed)
    figures: Dict[str, Any] = {"rounds": args.rounds, "onnxruntime_threads": args.threads}
    folder = Path(tempfile.mkdtemp(prefix="seqkit-bench-export-"))
    (cls, cls_what), (tag, tag_what) = classifier_recipe(args), tagger_recipe(args)
    shapes = {
        "classifier": (cls.model(seed=args.seed), cls.datamodule, cls_what),
        "tagger": (tag.model(seed=args.seed), tag.datamodule, tag_what),
    }
    for shape, (module, dm, what) in shapes.items():
        module.eval()
        model, graph = network_of(module), export_graphs(module)[0]
        write_graph(graph, folder / f"{shape}.onnx", "onnx")
        write_graph(graph, folder / f"{shape}.pt", "torchscript")
        scripted, session = (
            torch.jit.load(str(folder / f"{shape}.pt")),
            onnx_session(folder / f"{shape}.onnx", args.threads),
        )
        names = [p.name for p in graph.inputs]
        dm.eval_batch_size = args.export_batch_size
        batches = list(dm.loader(dm.datasets["train"], train=False))[: args.max_batches or None]
        inputs = [[getattr(b, n) for n in names] for b in batches]
        feeds = [{n: t.numpy() for n, t in zip(names, x)} for x in inputs]
        tokens, sentences = real_tokens(batches), sum(len(b) for b in batches)

        def eager(x):
            return model(*x)  # the network's forward takes the graph's inputs

        runs = {
            "eager": lambda: [eager(x) for x in inputs],
            "torchscript": lambda: [scripted(*x) for x in inputs],
            "onnxruntime": lambda: [session.run(None, f)[0] for f in feeds],
        }
        if shape == "tagger":
            decoding = model.crf._effective(torch.float32)
            crf = [t.detach().numpy() for t in decoding]
            runs["eager + Viterbi"] = lambda: [model.decode(eager(x), b.mask) for x, b in zip(inputs, batches)]
            runs["onnxruntime + numpy Viterbi"] = lambda: [
                viterbi(session.run(None, f)[0], f["lengths"], *crf) for f in feeds
            ]
        with torch.no_grad():
            worst = max(float(np.abs(session.run(None, f)[0] - eager(x).numpy()).max()) for f, x in zip(feeds, inputs))
            worst_ts = max(float((scripted(*x) - eager(x)).abs().max()) for x in inputs)
            for run in runs.values():  # warm-up
                run()

            def timed(run) -> Callable[[], Rate]:
                def measure() -> Rate:
                    with Clock() as clock:
                        run()
                    return clock.rate(sentences)

                return measure

            res = alternate({name: timed(run) for name, run in runs.items()}, args.rounds)
        table = Table(
            f"{shape}: {what}; {len(batches)} length-sorted batches of <= {args.export_batch_size}, "
            f"{sentences:,} sentences, {tokens:,} tokens",
            unit="sentences/s",
        )
        for name in runs:
            table.rate(name, res[name])
        for name in runs:
            if name != "eager" and "Viterbi" not in name:
                table.ratio(f"ratio {name}/eager", compare(res[name], res["eager"]))
        if shape == "tagger":
            table.ratio(
                "ratio onnxruntime+numpy/eager (decoded)",
                compare(res["onnxruntime + numpy Viterbi"], res["eager + Viterbi"]),
            )
        table.text(f"largest difference from eager: onnxruntime {worst:.2e}, TorchScript {worst_ts:.2e}")
        table.print()
        figures[shape] = {
            "sentences": sentences,
            "tokens": tokens,
            "batches": len(batches),
            "max_abs_diff_onnx": worst,
            "max_abs_diff_torchscript": worst_ts,
            **{
                f"ratio_{name}_vs_eager": compare(res[name], res["eager"])["wall"]
                for name in ("torchscript", "onnxruntime")
            },
            **{name.replace(" ", "_"): summary_of(res[name], "sentences") for name in runs},
        }
    return figures
