"""The two ways every training section compares: a plain PyTorch loop and the recipe's ``pl.Trainer``, on the same
pre-made batches, with the loss the network itself defines (``module.network.loss(batch)["loss"]``, the very
objective ``seqkit.training.TaskModule.training_step`` optimises). Also the Trainer-vs-plain and FLOP tables
(``compare_training_loops``: a training section's first part), and the Trainer options of a timed run.

Truncated BPTT needs no loop of its own: a network whose ``carries_state`` is true (the language model) gets the
``"state"`` its previous ``loss`` returned as ``loss(batch, state)`` on the next batch (None at an epoch's start),
as ``TaskModule.training_step`` gives it.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, median, summary_of
from seqkit.nn.encoder import detach_state
from seqkit.tasks.registry import call

# ---- the loss: the network's own ------------------------------------------------------------------------------


def network_of(model):
    """The plain-torch network a model trains: ``module.network``."""
    return model.network


def loss_parts(model, batch, state: Any = None) -> Dict[str, Any]:
    """``model.network.loss(batch)``: ``{"loss": ...}`` (through ``seqkit.tasks.registry.call``, as training calls
    it). A network that ``carries_state`` (truncated BPTT) gets the previous batch's state (None at an epoch's
    start) and returns its own under "state"."""
    out, next_state = call(model.network, "loss", batch, "train", state)
    return out if next_state is None else {**out, "state": next_state}


def loss_of(model, batch) -> torch.Tensor:
    """The training objective of one batch from a fresh state (what FLOP counting runs)."""
    return loss_parts(model, batch)["loss"]


def reset(model, init: Dict[str, torch.Tensor]):
    """``model`` with the weights ``init`` again: every timed run of a section starts from the same ones."""
    model.load_state_dict(init)
    return model


# ---- batches and what they hold ------------------------------------------------------------------------------


def epoch_batches(dm, bucketing: Optional[bool], limit: Optional[int]) -> List[Any]:
    """One epoch of the data module's training loader, collated; the first ``limit`` batches if given.
    ``bucketing``: on or off for it (then on again); None: as the data module has it."""
    if bucketing is None:
        return list(islice(dm.train_dataloader(), limit or None))
    dm.bucketing = bucketing
    try:
        return epoch_batches(dm, None, limit)
    finally:
        dm.bucketing = True


def eval_batches(dm, limit: Optional[int]) -> Tuple[List[Any], str]:
    """The validation split in the recipe's eval batches (length-sorted), or training data when nothing is held out."""
    split = "val" if len(dm.datasets.get("val") or []) else "train"
    batches = list(dm.loader(dm.datasets[split], train=False))
    return (batches[:limit] if limit else batches), split


def real_tokens(batches: Sequence[Any]) -> int:
    """Non-pad tokens: the sum of the batches' true lengths."""
    return int(sum(int(b.lengths.sum()) for b in batches))


def padded_positions(batches: Sequence[Any]) -> int:
    return int(sum(b.tokens.numel() for b in batches))


def target_tokens(batches: Sequence[Any]) -> int:
    """seq2seq: the non-pad target tokens."""
    return sum(int((b.target_out != 0).sum()) for b in batches)


def windows_of(batches: Sequence[Any]) -> int:
    """forecasting: the windows."""
    return sum(len(b) for b in batches)


# ---- the two training loops ----------------------------------------------------------------------------------


def plain_train(
    model: torch.nn.Module,
    batches: Sequence[Any],
    recipe,
    epochs: int = 1,
    loss_fn: Callable[..., Dict[str, Any]] = loss_parts,
) -> Clock:
    """The baseline loop: the network's loss, backward, clip_grad_norm_, step, zero_grad, with the recipe's optimiser
    (``cfg.optimizer``) and clipping (``cfg.trainer.gradient_clip_val``); a returned ``"state"`` is carried,
    detached, to the next batch (truncated BPTT). -> time of the steps."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = recipe.optimizer(params)
    clip = recipe.clip
    with Clock() as clock:
        for _ in range(epochs):
            state = None
            for batch in batches:
                parts = loss_fn(model, batch, state)
                state = detach_state(parts.get("state"))
                parts["loss"].backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
                optimizer.zero_grad()
    return clock


def _identity(x):
    return x


# a timed Trainer's options: nothing logged, saved or printed; TRAINING_ONLY: no validation either
QUIET_TRAINER = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}
TRAINING_ONLY = {**QUIET_TRAINER, "num_sanity_val_steps": 0, "limit_val_batches": 0}


def batches_loader(batches: Sequence[Any]):
    """A DataLoader that gives exactly ``batches`` (already collated), in order: what a timed ``fit`` trains on."""
    from torch.utils.data import DataLoader

    return DataLoader(list(batches), batch_size=None, shuffle=False, collate_fn=_identity)


def lightning_train(
    model, batches: Sequence[Any], recipe, epochs: int = 1, callbacks: Sequence[Any] = ()
) -> Tuple[Clock, Clock]:
    """Fit ``model`` with the recipe's pl.Trainer (``cfg.trainer``: clipping, precision, logging interval), training
    only (no logger, checkpoints or validation), plus ``callbacks``, on exactly ``batches`` (already collated).

    -> (time inside the training epochs, time of the whole Trainer construction + fit call)."""
    import pytorch_lightning as pl

    from seqkit.app.train import build_trainer

    class EpochTimer(pl.Callback):
        def __init__(self):
            self.epochs, self._clock = Clock.zero(), Clock()

        def on_train_epoch_start(self, trainer, pl_module):
            self._clock.__enter__()

        def on_train_epoch_end(self, trainer, pl_module):
            self._clock.__exit__()
            self.epochs.wall += self._clock.wall
            self.epochs.cpu += self._clock.cpu

    timer = EpochTimer()
    whole = Clock().__enter__()
    trainer = build_trainer(
        recipe.trainer_cfg,
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        callbacks=[timer, *callbacks],
        **TRAINING_ONLY,
    )
    trainer.fit(model, train_dataloaders=batches_loader(batches))
    whole.__exit__()
    if trainer.global_step != len(batches) * epochs:
        raise RuntimeError(f"Lightning ran {trainer.global_step} steps, expected {len(batches) * epochs}")
    return timer.epochs, whole


def trainer_vs_plain(
    recipe,
    init: Dict[str, torch.Tensor],
    batches: Sequence[Any],
    units: int,
    args,
    epochs: int = 1,
    extra: Optional[Dict[str, Callable[[], Rate]]] = None,
) -> Tuple[Dict[str, List[Rate]], List[Rate], torch.nn.Module]:
    """Warm both up on ``args.warmup_batches``, then time the plain loop and the Trainer alternately from the same
    initial weights ``init`` (plus any ``extra`` measurements in the same rounds).
    -> (rates by name, the Trainer's whole-fit rates, a model holding ``init``)."""
    plain_model, pl_model = recipe.model(init), recipe.model(init)
    warm = batches[: args.warmup_batches]
    plain_train(reset(plain_model, init), warm, recipe)
    lightning_train(reset(pl_model, init), warm, recipe)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        inside, whole = lightning_train(reset(pl_model, init), batches, recipe, epochs)
        whole_fit.append(whole.rate(units))
        return inside.rate(units)

    runs = {
        "plain": lambda: plain_train(reset(plain_model, init), batches, recipe, epochs).rate(units),
        "lightning": run_lightning,
        **(extra or {}),
    }
    return alternate(runs, args.rounds), whole_fit, reset(plain_model, init)


def compare_training_loops(
    args,
    recipe,
    init: Dict[str, torch.Tensor],
    batches: Sequence[Any],
    units: int,
    title: str,
    *,
    epochs: int = 1,
    count: Callable[[Sequence[Any]], int] = real_tokens,
    unit: str = "token",
    flops_title: str = "1b. achieved FLOP rate vs a GEMM in this run",
    extra: Optional[Dict[str, Callable[[], Rate]]] = None,
    report_extra: Optional[Callable[[Dict[str, List[Rate]]], Dict[str, Any]]] = None,
) -> Tuple[Dict[str, Any], torch.nn.Module]:
    """A training section's first part: the plain loop against the Trainer on ``batches`` from ``init``
    (``trainer_vs_plain``, any ``extra`` runs in the same rounds) and its table (``report_trainer_vs_plain``,
    ``title``); then ``report_extra(rates)`` reports the extra runs (-> their figures); then the two loops'
    FLOP rates (``report_flops``: ``count`` units of a batch, ``flops_title``).

    -> (figures: "trainer_vs_plain", report_extra's, "flops"; a model holding ``init``)."""
    res, whole_fit, plain_model = trainer_vs_plain(recipe, init, batches, units, args, epochs, extra)
    loops = {k: res[k] for k in ("plain", "lightning")}
    figures = {"trainer_vs_plain": report_trainer_vs_plain(args, title, loops, whole_fit, len(batches), units)}
    figures.update(report_extra(res) if report_extra is not None else {})
    hidden_size = recipe.cfg.backbone.hidden_size
    figures["flops"] = report_flops(args, flops_title, plain_model, batches, count, loops, hidden_size, unit)
    return figures, plain_model


# ---- what the sections print of it ----------------------------------------------------------------------------


def report_trainer_vs_plain(
    args, title: str, res: Dict[str, List[Rate]], whole_fit: List[Rate], batches: int, tokens: int
) -> Dict[str, Any]:
    """Print the Trainer-vs-plain table of a section (``res``: "plain" and "lightning" rounds) -> its figures."""
    if torch.get_num_threads() != args.threads:
        print(f"warning: torch's thread count changed to {torch.get_num_threads()} during the run")
    r1, r1_fit = compare(res["lightning"], res["plain"]), compare(whole_fit, res["plain"])
    table = Table(title)
    table.rate("plain loop", res["plain"])
    table.rate("pl.Trainer (epoch time)", res["lightning"])
    table.rate("pl.Trainer (whole fit() incl. setup)", whole_fit)
    table.ratio("ratio seqkit/plain (Trainer/plain)", r1, 0.95)
    table.ratio("ratio seqkit/plain incl. fit() setup", r1_fit)
    table.print()
    return {
        "batches": batches,
        "real_tokens_per_round": tokens,
        "ratio": r1["wall"],
        "ratio_cpu": r1["cpu"],
        "ratio_incl_fit_setup": r1_fit["wall"],
        "target": 0.95,
        "plain": summary_of(res["plain"]),
        "trainer": summary_of(res["lightning"]),
        "trainer_whole_fit": summary_of(whole_fit),
    }


def report_flops(
    args,
    title: str,
    model,
    batches: Sequence[Any],
    count: Callable[[Sequence[Any]], int],
    res: Dict[str, List[Rate]],
    hidden_size: int,
    unit: str = "token",
) -> Dict[str, Any]:
    """Achieved GFLOP/s of the section's training loops against a square fp32 GEMM timed now, in this process.

    FLOPs a ``unit`` (token, window) are counted with FlopCounterMode on --flop-batches batches spread over
    ``batches`` (the network's loss from a fresh state + backward; see seqkit.benchmark.flops) and multiplied by
    each loop's units/s."""
    from seqkit.benchmark.flops import comparable_gemm_size, gemm_rate, sample, step_flops

    probe = sample(batches, args.flop_batches)
    per_unit = step_flops(model, probe, loss_of) / max(count(probe), 1)
    gemm = gemm_rate(
        comparable_gemm_size(hidden_size), repeats=3 if args.quick else 5, min_seconds=0.02 if args.quick else 0.2
    )
    table = Table(title, unit="GFLOP/s")
    table.text(
        f"a training step: {per_unit / 1e6:,.2f} MFLOP a {unit} (FlopCounterMode, forward + backward, "
        f"{len(probe)} batches)"
    )
    achieved: Dict[str, Dict[str, float]] = {}
    for name, label in (("plain", "plain loop"), ("lightning", "pl.Trainer (epoch time)"), ("flair", "Flair peer")):
        if name in res:
            rates = [Rate(r.wall * per_unit / 1e9, r.cpu * per_unit / 1e9) for r in res[name]]
            achieved[name] = {"gflops": median([r.wall for r in rates]), "gflops_cpu": median([r.cpu for r in rates])}
            table.lines.append(
                f"  {label:<40} {achieved[name]['gflops']:>11.2f}         {achieved[name]['gflops_cpu']:>11.2f}"
            )
    table.lines.append(
        f"  {'GEMM ' + str(gemm['n']) + 'x' + str(gemm['n']) + ' fp32 (torch.mm), this run':<40} "
        f"{gemm['gflops']:>11.2f}         {gemm['gflops_cpu']:>11.2f}"
    )
    fraction = {
        name: {"wall": a["gflops"] / gemm["gflops"], "cpu": a["gflops_cpu"] / gemm["gflops_cpu"]}
        for name, a in achieved.items()
    }
    for name in achieved:
        table.ratio(f"{'Trainer' if name == 'lightning' else name} / GEMM", fraction[name])
    table.print()
    return {
        "flops_per_" + unit: per_unit,
        "flop_batches": len(probe),
        "gemm": gemm,
        **{
            name: {**a, "fraction_of_gemm": fraction[name]["wall"], "fraction_of_gemm_cpu": fraction[name]["cpu"]}
            for name, a in achieved.items()
        },
    }
