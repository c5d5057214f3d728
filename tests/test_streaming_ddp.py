"""A streamed training file under DDP: two CPU processes (gloo), each reading with two DataLoader workers, see
every example of an epoch exactly once between them, in the same number of steps (seqkit/data/streaming.py)."""

from __future__ import annotations

import json

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from seqkit.data.streaming import stream_training_set
from seqkit.tasks.classification.codec import ClassificationCodec

N = 157  # not a multiple of 2 processes x 2 workers


def one_rank(rank: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        # what CodecDataModule.setup and train_dataloader do under trainer=ddp, without importing Lightning
        train = stream_training_set(ClassificationCodec(), f"{folder}/train.tsv", 4, shuffle_buffer=8)
        train.shard_as(dist.get_world_size(), dist.get_rank(), num_workers=2)
        train.set_epoch(1)
        loader = DataLoader(train, batch_size=None, num_workers=2)
        indices = [b.index.tolist() for b in loader]
        gathered = [None, None]
        dist.all_gather_object(gathered, {"batches": indices, "len": len(loader)})
        if rank == 0:
            with open(f"{folder}/seen.json", "w") as f:
                json.dump(gathered, f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_with_two_workers_each_see_every_streamed_example_once(tmp_path):
    rows = [(" ".join(f"w{(i * j) % 17}" for j in range(1 + i % 9)), f"c{i % 2}") for i in range(N)]
    (tmp_path / "train.tsv").write_text("".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
    mp.start_processes(one_rank, args=(str(tmp_path),), nprocs=2, start_method="fork")  # no re-import
    ranks = json.loads((tmp_path / "seen.json").read_text())
    seen = [i for r in ranks for b in r["batches"] for i in b]
    assert sorted(seen) == list(range(N))  # the union is every example, and none twice
    assert len(ranks[0]["batches"]) == len(ranks[1]["batches"]) == ranks[0]["len"]  # the same steps on both
    assert all(1 <= len(b) <= 4 for r in ranks for b in r["batches"])
