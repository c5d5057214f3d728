"""The batch dataclasses move to a device as one piece (DeviceMovable), so Lightning does not deep-copy them."""

import torch
from lightning_fabric.utilities.apply_func import move_data_to_device

from seqkit.data.batch import Batch, pad
from seqkit.tasks.seq2seq.codec import ParallelBatch


def batches():
    tokens = pad([[2, 3, 4], [5]])
    lengths = torch.tensor([3, 1])
    yield Batch(tokens=tokens, lengths=lengths, index=torch.arange(2), labels=torch.tensor([0, 1]))
    yield ParallelBatch(
        source=tokens,
        source_lengths=lengths,
        target_in=pad([[2, 6], [2]]),
        target_out=pad([[6, 3], [3]]),
        index=torch.arange(2),
        references=[[["A", "B"]], [["C"]]],
    )


def test_a_batch_on_its_device_is_returned_itself_and_elsewhere_every_tensor_moves():
    for batch in batches():
        assert move_data_to_device(batch, torch.device("cpu")) is batch  # no copy on the training step
        moved = move_data_to_device(batch, torch.device("meta"))
        assert type(moved) is type(batch) and moved is not batch
        for name, value in vars(batch).items():
            if isinstance(value, torch.Tensor):
                new = getattr(moved, name)
                assert new.device.type == "meta" and new.shape == value.shape and new.dtype == value.dtype
            else:
                assert getattr(moved, name) is value  # None, or the references: shared, not copied
