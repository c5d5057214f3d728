"""Which tokens for Multi30k en->de (README "Encoder-decoder"), measured on the data alone, without training:
vocabularies (and subword models) from the training side only, then on validation the share of <unk> ids and
the BLEU / chrF of the references themselves encoded to ids and decoded back (the best any model could score
with those tokens), and the mean lengths (the decoder's steps).

    python docs/multi30k_tokens.py ../shared/data/multi30k
"""

import sys
import time

from seqkit.data import ParallelTextDataModule
from seqkit.tasks.seq2seq.metrics import bleu_chrf

CHOICES = [
    ("space, min_freq=2", dict(source_tokens="space", target_tokens="space", min_freq=2)),
    ("space, min_freq=1", dict(source_tokens="space", target_tokens="space", min_freq=1)),
    ("bpe, 8000 a side", dict(source_tokens="bpe", target_tokens="bpe")),
    ("unigram, 8000 a side", dict(source_tokens="unigram", target_tokens="unigram")),
    (
        "bpe, joint 10000 (share_vocab)",
        dict(source_tokens="bpe", target_tokens="bpe", share_vocab=True, subword_vocab_size=10000),
    ),
]


def main(root: str) -> None:
    for name, settings in CHOICES:
        start = time.process_time()
        dm = ParallelTextDataModule(
            root=root, train_path="train", val_path="val", src_lang="en", tgt_lang="de", **settings
        )
        dm.setup("fit")
        val = dm.datasets["val"]
        src_unk, tgt_unk = dm.vocab.unk_index, dm.target_vocab.unk_index
        src_len, tgt_len = sum(len(e.source) for e in val), sum(len(e.target) for e in val)
        cap = bleu_chrf(
            [dm.detokenize(dm.output_units(e.target)) for e in val],
            [[dm.detokenize(r) for r in e.references] for e in val],
        )
        print(
            f"{name}: vocabulary {len(dm.vocab)} / {len(dm.target_vocab)}; validation <unk>: source "
            f"{sum(i == src_unk for e in val for i in e.source) / src_len:.2%}, target "
            f"{sum(i == tgt_unk for e in val for i in e.target) / tgt_len:.2%} of tokens, "
            f"{sum(tgt_unk in e.target for e in val) / len(val):.1%} of sentences; mean length "
            f"{src_len / len(val):.1f} -> {tgt_len / len(val):.1f} tokens; references through the tokens: "
            f"BLEU {cap['bleu']:.2f}, chrF {cap['chrf']:.2f} ({time.process_time() - start:.1f} s CPU)",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/multi30k")
