"""``export_checkpoint``: the export of a checkpoint loaded through Lightning (``seqkit.run.load_checkpoint``), for a
model class no registered shape converts. Every shape's checkpoints, old and new, export on (network, codec)
without Lightning (``seqkit.app.export``); the file rules (``check_outputs``, atomic writes) are the same."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Dict, Optional

import torch

from seqkit.export.exporter import (
    EXPORT_VERSION,
    _describe,
    check_format,
    check_outputs,
    data_record,
    decoding_info,
    graph_paths,
    output_path,
    plain,
    write_graph,
)
from seqkit.export.graphs import SHAPES
from seqkit.safe_files import atomic_open, write_error


def export_checkpoint(
    ckpt_path: str, fmt: str, output: Optional[str] = None, overwrite: bool = False, pretrained: Optional[str] = None
) -> Dict[str, str]:
    """Write the graphs and the sidecar; -> {graph name or "sidecar": path written}. An existing file is
    replaced only with ``overwrite`` (and the checkpoint never). pretrained: the vectors file of a checkpoint
    trained with one (``data.pretrained=``; a checkpoint never names a file to read)."""
    from seqkit.run import load_checkpoint  # Lightning and Hydra: only once the arguments are known good

    check_format(fmt)
    decoding = None  # the shape's export module may give the sidecar's decoding record (``decoding(network)``)
    model, datamodule = load_checkpoint(ckpt_path, **({"pretrained": str(pretrained)} if pretrained else {}))
    name, hparams = type(model).__name__, dict(model.hparams)
    network = getattr(model, "network", None)
    decoding = None  # the shape's own decoding_info(network), where its export module has one
    if network is not None:  # seqkit.training.TaskModule: its shape's own graphs (seqkit.tasks.<shape>.export)
        from seqkit.tasks.registry import get, load

        spec = get(model.hparams.shape).export
        shape, build, name = load(spec.replace(":graphs", ":SIDECAR_SHAPE")), load(spec), type(network).__name__
        decoding = getattr(importlib.import_module(spec.partition(":")[0]), "decoding", None)  # the shape's own record
        model = (
            network  # the sidecar's decoding settings are the network's; its "model" record the TaskModule's hparams
        )
    elif name not in SHAPES:
        raise ValueError(f"{ckpt_path}: a {name} checkpoint; export knows {', '.join(sorted(SHAPES))}")
    else:
        shape, build = SHAPES[name]
    graphs = build(model)
    base = output_path(Path(output) if output else Path(ckpt_path), fmt)
    paths = graph_paths(base, graphs, fmt)
    sidecar = base.with_suffix(".json")
    check_outputs(
        ckpt_path,
        [*paths.values(), sidecar],
        overwrite,
        default_name=not output,
        pretrained=str(pretrained) if pretrained else None,
    )
    described = {}
    for graph in graphs:
        path = paths[graph.name]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(path, e) from None
        write_graph(graph, path, fmt)
        with torch.no_grad():
            outs = graph.module(*graph.example_args())
        outs = outs if isinstance(outs, tuple) else (outs,)
        described[graph.name] = {
            "file": path.name,
            "inputs": _describe(graph.inputs, graph.example_args()),
            "outputs": _describe(graph.outputs, outs),
        }
    record = {
        "seqkit_export": EXPORT_VERSION,
        "shape": shape,
        "format": fmt,
        "model_class": name,
        "checkpoint": str(ckpt_path),
        "graphs": described,
        "decoding": decoding(model) if decoding else decoding_info(model, shape),
        "model": plain(hparams),
        "data": data_record(datamodule),
    }
    with atomic_open(sidecar) as stream:
        stream.write(json.dumps(record))
    return {**{k: str(v) for k, v in paths.items()}, "sidecar": str(sidecar)}
