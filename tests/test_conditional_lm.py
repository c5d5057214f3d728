"""One-to-many: a class label embedded into the initial state unrolls sentences of that class."""
import random

import pytorch_lightning as pl
import pytest
import torch
import torch.nn.functional as F

from seqkit.data import ConditionalLanguageModelingDataModule
from seqkit.data.batch import IGNORE_INDEX
from seqkit.models import LanguageModel
from seqkit.nn.decoding import Sampler

WORDS = {"pos": ["good", "great", "fine", "nice"], "neg": ["bad", "awful", "poor", "sad"]}


def write_sentences(path, n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        rows.append(" ".join(rng.choice(WORDS[label] + ["the", "film"]) for _ in range(rng.randint(3, 8))) + f"\t{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def mean_loss(model, batches, flip=False):
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            condition = 1 - batch.condition if flip else batch.condition
            logits, _ = model(batch.tokens, batch.lengths, condition=condition)
            total += F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX,
                                     reduction="sum").item()
            count += int((batch.labels != IGNORE_INDEX).sum())
    return total / count


@pytest.mark.parametrize("every_step", [False, True])
def test_the_condition_is_used_true_class_beats_the_flipped_one_and_samples_follow_it(tmp_path, every_step):
    module = ConditionalLanguageModelingDataModule(train_path=write_sentences(tmp_path / "train.tsv", 400, 0),
                                                   val_path=write_sentences(tmp_path / "val.tsv", 100, 1), batch_size=16)
    module.setup("fit")
    kwargs = module.model_kwargs()
    assert kwargs["num_conditions"] == 2 and kwargs["carry_state"] is False
    torch.manual_seed(0)
    model = LanguageModel(**kwargs, embedding_dim=16, backbone={"cell": "gru", "hidden_size": 32},
                          condition_every_step=every_step, optimizer={"_target_": "torch.optim.Adam", "lr": 0.01})
    pl.Trainer(max_epochs=5, logger=False, enable_progress_bar=False, enable_model_summary=False,
               enable_checkpointing=False).fit(model, datamodule=module)
    model.eval()
    val = list(module.val_dataloader())
    true, flipped = mean_loss(model, val), mean_loss(model, val, flip=True)
    assert true < flipped - 0.5, (true, flipped)  # the class is read: the wrong one costs much more
    prompt = torch.tensor([[module.start_index()]] * 20)
    for name in ("pos", "neg"):
        condition = torch.full((20,), module.condition_index(name))
        ids = model.generate(prompt, 12, Sampler(0.8, generator=torch.Generator().manual_seed(0)), condition,
                             eos=module.start_index())
        words = [w for row in ids.tolist() for w in module.decode_ids(row).split()]
        own = sum(w in WORDS[name] for w in words)
        other = sum(w in WORDS["neg" if name == "pos" else "pos"] for w in words)
        assert own > 10 * max(other, 1) or (own > 20 and other == 0), (name, own, other)


def test_an_unknown_condition_is_a_clear_error(tmp_path):
    module = ConditionalLanguageModelingDataModule(train_path=write_sentences(tmp_path / "t.tsv", 40, 0))
    module.setup("fit")
    with pytest.raises(ValueError, match=r"condition=maybe is not a class of this model; choose one of \['neg', 'pos'\]"):
        module.condition_index("maybe")
