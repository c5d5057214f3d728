"""A prepared corpus under two data-parallel processes (gloo, CPU, forked: nothing imported twice): each rank reads its own streams of the
memory-mapped id file, and across the ranks of one epoch every BPTT row's targets are read exactly once."""

import json
import os
import random
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqkit.data.batch import IGNORE_INDEX
from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule


def read_rank(rank: int, world: int, folder: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    module = LanguageModelingDataModule(
        train_path=f"{folder}/train.txt", prepare=True, prepare_dir=f"{folder}/cache", batch_size=3, bptt=5
    )
    module.trainer = SimpleNamespace(world_size=world, global_rank=rank, current_epoch=0)  # as a DDP trainer
    if rank == 0:
        module.prepare_data()  # Lightning: one process a machine, before setup on all
    dist.barrier()
    module.setup("fit")
    batches = list(module.train_dataloader())
    rows = [torch.cat([b.labels[row] for b in batches]) for row in range(3)]
    mine = {
        "rows": [r[r != IGNORE_INDEX].tolist() for r in rows],
        "steps": len(batches),
        "memmap": isinstance(module.datasets["train"], np.memmap),
    }
    every = [None] * world
    dist.all_gather_object(every, mine)
    if rank == 0:
        ids = np.asarray(module.datasets["train"]).tolist()
        with open(f"{folder}/result.json", "w") as f:
            json.dump({"ranks": every, "ids": ids}, f)
    dist.destroy_process_group()


def test_two_ranks_read_every_bptt_row_of_the_id_file_exactly_once(tmp_path):
    rng = random.Random(0)
    (tmp_path / "train.txt").write_text(
        "".join(rng.choice("abcdefghij \n") for _ in range(2000)) + "\n", encoding="utf-8"
    )
    port = 29500 + os.getpid() % 1000
    mp.start_processes(read_rank, args=(2, str(tmp_path), port), nprocs=2, join=True, start_method="fork")
    result = json.loads((tmp_path / "result.json").read_text())
    ranks, ids = result["ranks"], result["ids"]
    assert all(r["memmap"] for r in ranks) and ranks[0]["steps"] == ranks[1]["steps"]  # same steps (DDP)
    together = [t for r in ranks for row in r["rows"] for t in row]  # rank 0's streams, then rank 1's
    assert together == ids[1:]  # every target once, none twice, in the order of the text
    assert all(len(row) > 0 for r in ranks for row in r["rows"])
