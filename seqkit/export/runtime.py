"""Using exported files with numpy only (plus onnxruntime for ONNX): the sidecar, a session, CRF Viterbi.

Nothing here imports torch or the rest of seqkit, so a deployment can copy this one file next to the
exported graphs. Ids come from the sidecar's vocabularies (``data.state.vocab.itos``; unknown words take
``<unk>``'s id), as the checkpoint's data module encodes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Union

import numpy as np


def load_sidecar(path: Union[str, Path]) -> Dict[str, Any]:
    """The JSON written beside the exported graphs (``<output stem>.json``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def onnx_session(path: Union[str, Path], threads: int = 1):
    """An onnxruntime CPU session on ``threads`` threads (intra- and inter-op)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def viterbi(
    emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Best tag path of a linear-chain CRF: emissions [B, T, K], lengths [B] (>= 1), transitions [K, K]
    (from tag i to tag j), start [K], end [K] (the sidecar's ``decoding``) -> tags [B, T] int64, 0 at padding.
    The recursion of ``seqkit.nn.crf.CRF.viterbi``, over the batch at once: at padded steps the scores stay
    and the back-pointers are the identity, so backtracking passes through padding to each last real tag."""
    emissions = np.asarray(emissions, dtype=np.float32)
    transitions, start, end = (np.asarray(a, dtype=np.float32) for a in (transitions, start, end))
    batch, steps, k = emissions.shape
    lengths = np.asarray(lengths)
    identity = np.broadcast_to(np.arange(k), (batch, k))
    delta = start + emissions[:, 0]  # [B, K]
    pointers = []
    for t in range(1, steps):
        scores = delta[:, :, None] + transitions  # [B, K_from, K_to]
        real = (t < lengths)[:, None]
        pointers.append(np.where(real, scores.argmax(1), identity))
        delta = np.where(real, scores.max(1) + emissions[:, t], delta)
    best = (delta + end).argmax(1)
    path = [best]
    for back in reversed(pointers):
        best = np.take_along_axis(back, best[:, None], 1)[:, 0]
        path.append(best)
    tags = np.stack(path[::-1], axis=1).astype(np.int64)
    tags[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    return tags


def decode_tags(sidecar: Dict[str, Any], emissions: np.ndarray, lengths: np.ndarray) -> List[List[str]]:
    """A tagger's emissions [B, T, K] -> tag names per sentence (CRF Viterbi or argmax, as the model decodes,
    after the sidecar's ``outside_bias`` is subtracted from the "O" tag's emissions)."""
    decoding = sidecar["decoding"]
    names = sidecar["data"]["state"]["tags"]["itos"]
    bias = decoding.get("outside_bias", 0.0)  # sidecars before issue 26 have none
    if bias:
        emissions = np.array(emissions, dtype=np.float32)
        emissions[..., names.index("O")] -= bias
    if decoding["method"] == "viterbi":
        ids = viterbi(emissions, lengths, decoding["transitions"], decoding["start"], decoding["end"])
    else:
        ids = np.asarray(emissions).argmax(-1)
    return [[names[i] for i in row[: int(n)]] for row, n in zip(ids, lengths)]
