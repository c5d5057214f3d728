"""LanguageModelingDataModule (levels, splits, errors) and LanguageModel (config errors, token-weighted loss,
learning, checkpoint round trip)."""
import math

import pytest
import pytorch_lightning as pl
import torch

from seqkit.data.errors import DataError
from seqkit.data.language_modeling import EOS, LanguageModelingDataModule
from seqkit.models import LanguageModel


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def dm(tmp_path, text="The cat sat.\n  On the  MAT!\n" * 20, **kw):
    kw = {"bptt": 8, "batch_size": 4, "eval_batch_size": 2, **kw}
    module = LanguageModelingDataModule(train_path=write(tmp_path / "train.txt", text), **kw)
    module.setup("fit")
    return module


def test_char_level_keeps_case_and_whitespace_and_holds_out_the_last_tenth(tmp_path):
    text = "The cat sat.\n  On the  MAT!\n" * 20
    module = dm(tmp_path, text)
    train, val = module.datasets["train"], module.datasets["val"]
    assert train.numel() + val.numel() == len(text)
    cut = int(len(text) * 0.9)
    assert module.decode_ids(train.tolist()) == text[:cut]  # never shuffled: the first 90%, exactly
    assert module.decode_ids(val.tolist()) == text[cut:]


def test_word_level_splits_on_whitespace_adds_eos_and_maps_rare_words_to_unk(tmp_path):
    text = "the cat sat\nthe dog sat\n" * 10 + "the zebra sat\n"
    module = dm(tmp_path, text, level="word", min_freq=2, val_fraction=0.1)
    assert EOS in module.vocab and "zebra" not in module.vocab and "cat" in module.vocab
    words = module.vocab.decode(module.datasets["train"][:8].tolist())
    assert words == ["the", "cat", "sat", EOS, "the", "dog", "sat", EOS]
    assert module.decode_ids(module.vocab.encode(["the", "cat", EOS, "a"])) == "the cat\n<unk>"
    assert module.encode_prompt("the zebra")[1:] == [module.vocab.index("the"), module.vocab.unk_index]


def test_validation_file_and_vocabulary_from_training_text_only(tmp_path):
    val = write(tmp_path / "val.txt", "xyz " * 30)
    module = LanguageModelingDataModule(train_path=write(tmp_path / "t.txt", "abc abc\n" * 30), val_path=val, bptt=5,
                                        batch_size=2, eval_batch_size=2)
    module.setup("fit")
    assert "x" not in module.vocab and set(module.datasets["val"].tolist()) == {module.vocab.unk_index, module.vocab.index(" "), module.vocab.index("\n")}


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"  \n\t\n", "empty"), (b"ok line\n\xff\xfe bad\n", ":2: invalid UTF-8"),
])
def test_bad_training_files_are_one_clear_error(tmp_path, content, message):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(DataError, match=message):
        LanguageModelingDataModule(train_path=str(tmp_path / "bad.txt")).setup("fit")


def test_a_validation_text_shorter_than_one_chunk_is_an_error(tmp_path):
    module = LanguageModelingDataModule(train_path=write(tmp_path / "t.txt", "abcdefgh\n" * 50),
                                        val_path=write(tmp_path / "v.txt", "abc\n"), bptt=16, batch_size=4)
    with pytest.raises(DataError, match=r"v.txt: val text has 4 chars, fewer than one BPTT chunk.*data.bptt"):
        module.setup("fit")


@pytest.mark.parametrize("kwargs, message", [({"bptt": 0}, "data.bptt"), ({"level": "byte"}, "data.level")])
def test_bad_settings_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LanguageModelingDataModule(builtin="tinyshakespeare", **kwargs)


def test_prompt_with_unknown_characters_is_rejected_at_char_level(tmp_path):
    module = dm(tmp_path)
    with pytest.raises(ValueError, match=r"prompt: character\(s\) 'Zz' never occur"):
        module.encode_prompt("zZ cat")
    assert module.decode_ids(module.encode_prompt("cat")) == "\ncat"  # after a line start


def test_builtin_tinyshakespeare_is_split_90_10_on_characters():
    module = LanguageModelingDataModule(builtin="tinyshakespeare", batch_size=64)
    module.setup("fit")
    n_train, n_val = module.datasets["train"].numel(), module.datasets["val"].numel()
    assert n_train + n_val == 1115394 and n_train == int(1115394 * 0.9)
    assert len(module.vocab) == 65 + 2  # 65 characters, <pad>, <unk>
    assert module.decode_ids(module.datasets["train"][:14].tolist()) == "First Citizen:"


def test_a_language_model_refuses_a_bidirectional_backbone_and_untieable_weights():
    with pytest.raises(ValueError, match="backbone.bidirectional=false"):
        LanguageModel(10, backbone={"bidirectional": True})
    with pytest.raises(ValueError, match="tie_weights=true needs the embedding size to equal the hidden size"):
        LanguageModel(10, embedding_dim=8, backbone={"hidden_size": 16}, tie_weights=True)
    tied = LanguageModel(10, embedding_dim=16, backbone={"hidden_size": 16}, tie_weights=True)
    assert tied.head.weight is tied.embedding.embedding.weight


def test_validation_loss_is_token_weighted_over_the_whole_text(tmp_path):
    """The logged loss is the mean over every token of the validation text (each predicted once, state
    carried through the chunks of its stream), not a mean of batch means; with one stream it is one
    pass over the whole text."""
    from seqkit.data.language_modeling import split_streams
    torch.manual_seed(0)
    text = "".join("abcab cba\n"[i % 7: i % 7 + 3] for i in range(300))
    module = dm(tmp_path, text, bptt=7)
    model = LanguageModel(len(module.vocab), embedding_dim=4, backbone={"hidden_size": 8}).eval()
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    ids = module.datasets["val"]
    for streams in (1, 3):
        module.eval_batch_size = streams
        logged = trainer.validate(model, datamodule=module, verbose=False)[0]
        inputs, targets, lengths = split_streams(ids, streams)
        with torch.no_grad():
            logits, _ = model(inputs, lengths)  # each whole stream in one pass
            expected = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100,
                                                         reduction="sum").item() / (ids.numel() - 1)
        assert logged["val/loss"] == pytest.approx(expected, abs=1e-5)
        assert logged["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)
        assert logged["val/bpc"] == pytest.approx(expected / math.log(2), rel=1e-5)


def test_trainer_learns_a_periodic_text_and_the_checkpoint_generates_it(tmp_path):
    torch.manual_seed(0)
    module = dm(tmp_path, "abcdefg\n" * 300, bptt=10, batch_size=8, eval_batch_size=4)
    model = LanguageModel(len(module.vocab), embedding_dim=8, backbone={"hidden_size": 24},
                          optimizer={"_target_": "torch.optim.Adam", "lr": 0.02})
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, gradient_clip_val=5.0)
    trainer.fit(model, datamodule=module)
    assert trainer.validate(model, datamodule=module, verbose=False)[0]["val/loss"] < 0.05
    path = tmp_path / "lm.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)  # plain types and tensors only
    assert checkpoint["datamodule_hyper_parameters"]["level"] == "char"
    from seqkit.run import load_checkpoint
    loaded, data = load_checkpoint(str(path))
    from seqkit.nn.decoding import greedy_choice
    out = loaded.generate(torch.tensor([data.encode_prompt("cd")]), 10, greedy_choice)[0].tolist()
    assert data.decode_ids(out) == "efg\nabcdef"


def test_checkpointed_state_is_named_fields_of_plain_python(tmp_path):
    import json
    module = dm(tmp_path)
    state = module.state_dict()
    assert set(state) == {"vocab"} and json.loads(json.dumps(state)) == state
    fresh = LanguageModelingDataModule(builtin="tinyshakespeare")
    fresh.load_state_dict(state)
    assert fresh.vocab.itos == module.vocab.itos
