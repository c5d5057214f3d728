"""Achieved FLOP/s of a training step, and the yardstick to read it against: a GEMM timed in the same process.

The step's FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions
of the forward and backward pass: the recurrent gates, the projections, the character CNN; element-wise work
such as the CRF's log-sum-exp or Adam's update is not counted). On CPU, torch runs ``nn.LSTM``/``nn.GRU``/``nn.RNN``
as oneDNN layers (``aten.mkldnn_rnn_layer``, one call a layer and direction, over the padded [T, B] positions even
for packed input), which FlopCounterMode has no formula for: ``RNN_FORMULAS`` counts them (2 FLOPs a
multiply-add of the input and recurrent gate products; the backward pass twice the forward). So the count is
the work the step executes, padding included, and the figures divide it by real tokens.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode


def _rnn_layer_flops(input_shape, w_ih_shape, w_hh_shape, *args, **kwargs) -> int:
    """aten.mkldnn_rnn_layer: input [T, B, I] (or [N, I]), w_ih [G*H, I], w_hh [G*H, H] -> 2 x positions x weights."""
    positions = input_shape[0] * (input_shape[1] if len(input_shape) == 3 else 1)
    return 2 * positions * (w_ih_shape[0] * w_ih_shape[1] + w_hh_shape[0] * w_hh_shape[1])


def _rnn_layer_backward_flops(input_shape, w_ih_shape, w_hh_shape, *args, **kwargs) -> int:
    """Gradients of the inputs, the hidden states and the weights: twice the forward products."""
    return 2 * _rnn_layer_flops(input_shape, w_ih_shape, w_hh_shape)


RNN_FORMULAS = {
    torch.ops.aten.mkldnn_rnn_layer: _rnn_layer_flops,
    torch.ops.aten.mkldnn_rnn_layer_backward: _rnn_layer_backward_flops,
}


def step_flops(
    model: torch.nn.Module, batches: Sequence[Any], loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor]
) -> int:
    """FLOPs of forward + loss + backward over ``batches`` (training mode; gradients are cleared after)."""
    model.train()
    with FlopCounterMode(display=False, custom_mapping=RNN_FORMULAS) as counter:
        for batch in batches:
            loss_fn(model, batch).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def sample(batches: Sequence[Any], count: int) -> list:
    """``count`` batches spread evenly over ``batches`` (bucketed batches differ in length)."""
    if count >= len(batches):
        return list(batches)
    step = len(batches) / count
    return [batches[int(i * step)] for i in range(count)]


def gemm_rate(n: int, repeats: int = 5, min_seconds: float = 0.2) -> Dict[str, float]:
    """GFLOP/s of a square fp32 matmul ``[n, n] @ [n, n]`` (2 n^3 FLOPs), by wall clock and by CPU time: the
    median of ``repeats`` timings of as many products as take ``min_seconds``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up
    calls = 1
    while True:  # how many products fill min_seconds
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        if time.perf_counter() - start >= min_seconds or calls >= 1 << 16:
            break
        calls *= 2
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    flops = 2.0 * n**3 * calls
    return {
        "n": n,
        "gflops": flops / statistics.median(walls) / 1e9,
        "gflops_cpu": flops / max(statistics.median(cpus), 1e-9) / 1e9,
    }


def comparable_gemm_size(hidden_size: int) -> int:
    """A square matmul the size of the recurrent gate block (4 x hidden for an LSTM), kept within 256..2048."""
    return max(256, min(2048, 4 * int(hidden_size)))
