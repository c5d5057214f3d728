"""The toy shape's data module: a thin CodecDataModule over CountCodec."""

from __future__ import annotations

from typing import Optional

from seqkit.data.codec_datamodule import CodecDataModule
from toyshape.codec import CountCodec


class CountDataModule(CodecDataModule):
    codec_class = CountCodec

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        root: Optional[str] = None,
        batch_size: int = 16,
        eval_batch_size: Optional[int] = None,
        bucketing: bool = True,
        num_workers: int = 0,
    ):
        super().__init__(
            train_path=train_path,
            val_path=val_path,
            test_path=test_path,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )
