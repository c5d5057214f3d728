"""LanguageModelingDataModule (levels, splits, errors) and the language_model shape's network in TaskModule (config
errors, token-weighted loss, learning, checkpoint round trip)."""

import math

import pytest
import pytorch_lightning as pl
import torch

from seqkit.data.errors import DataError
from seqkit.tasks.language_model.codec import EOS
from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule
from seqkit.training import TaskModule


def LanguageModel(vocab_size, **kwargs):
    """A language model as train.py builds it (task=lm): TaskModule over the shape's network."""
    return TaskModule("language_model", vocab_size=vocab_size, **kwargs)


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
    assert EOS in module.vocab.itos and "zebra" not in module.vocab and "cat" in module.vocab
    words = module.vocab.decode(module.datasets["train"][:8].tolist())
    assert words == ["the", "cat", "sat", EOS, "the", "dog", "sat", EOS]
    ids = [*module.vocab.encode(["the", "cat"]), module.vocab.index(EOS), *module.vocab.encode(["a", EOS])]
    assert module.decode_ids(ids) == "the cat\n<unk> <unk>"  # a word <eos> of text is a word, unknown
    assert module.encode_prompt("the zebra")[1:] == [module.vocab.index("the"), module.vocab.unk_index]


def test_validation_file_and_vocabulary_from_training_text_only(tmp_path):
    val = write(tmp_path / "val.txt", "xyz " * 30)
    module = LanguageModelingDataModule(
        train_path=write(tmp_path / "t.txt", "abc abc\n" * 30), val_path=val, bptt=5, batch_size=2, eval_batch_size=2
    )
    module.setup("fit")
    assert "x" not in module.vocab and set(module.datasets["val"].tolist()) == {
        module.vocab.unk_index,
        module.vocab.index(" "),
        module.vocab.index("\n"),
    }


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"ok line\n\xff\xfe bad\n", ":2: invalid UTF-8"),
    ],
)
def test_bad_training_files_are_one_clear_error(tmp_path, content, message):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(DataError, match=message):
        LanguageModelingDataModule(train_path=str(tmp_path / "bad.txt")).setup("fit")


def test_a_validation_text_shorter_than_one_chunk_is_an_error(tmp_path):
    module = LanguageModelingDataModule(
        train_path=write(tmp_path / "t.txt", "abcdefgh\n" * 50),
        val_path=write(tmp_path / "v.txt", "abc\n"),
        bptt=16,
        batch_size=4,
    )
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
    assert tied.network.head.weight is tied.network.embedding.embedding.weight


def test_validation_loss_is_token_weighted_over_the_whole_text(tmp_path):
    """The logged loss is the mean over every token of the validation text (each predicted once, state
    carried through the chunks of its stream), not a mean of batch means; with one stream it is one
    pass over the whole text."""
    from seqkit.tasks.language_model.tbptt import split_streams

    torch.manual_seed(0)
    text = "".join("abcab cba\n"[i % 7 : i % 7 + 3] for i in range(300))
    module = dm(tmp_path, text, bptt=7)
    model = LanguageModel(len(module.vocab), embedding_dim=4, backbone={"hidden_size": 8}).eval()
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False
    )
    ids = module.datasets["val"]
    for streams in (1, 3):
        module.eval_batch_size = streams
        logged = trainer.validate(model, datamodule=module, verbose=False)[0]
        inputs, targets, lengths = split_streams(ids, streams)
        with torch.no_grad():
            logits, _ = model(inputs, lengths)  # each whole stream in one pass
            expected = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum"
            ).item() / (ids.numel() - 1)
        assert logged["val/loss"] == pytest.approx(expected, abs=1e-5)
        assert logged["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)
        assert logged["val/bpc"] == pytest.approx(expected / math.log(2), rel=1e-5)


def test_trainer_learns_a_periodic_text_and_the_checkpoint_generates_it(tmp_path):
    torch.manual_seed(0)
    module = dm(tmp_path, "abcdefg\n" * 300, bptt=10, batch_size=8, eval_batch_size=4)
    model = LanguageModel(
        len(module.vocab),
        embedding_dim=8,
        backbone={"hidden_size": 24},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.02},
    )
    trainer = pl.Trainer(
        max_epochs=4,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        gradient_clip_val=5.0,
    )
    trainer.fit(model, datamodule=module)
    assert trainer.validate(model, datamodule=module, verbose=False)[0]["val/loss"] < 0.05
    path = tmp_path / "lm.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)  # plain types and tensors only
    assert checkpoint["datamodule_hyper_parameters"]["level"] == "char"
    from seqkit.app.checkpoint import load

    loaded, data = load(str(path))  # (network, codec), without Lightning
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


# ---- the plain network (seqkit.tasks.language_model.network) and the codec, as seqkit.app loads them ----
LSTM2 = [
    "encoder.rnn.weight_ih_l0",
    "encoder.rnn.weight_hh_l0",
    "encoder.rnn.bias_ih_l0",
    "encoder.rnn.bias_hh_l0",
    "encoder.rnn.weight_ih_l1",
    "encoder.rnn.weight_hh_l1",
    "encoder.rnn.bias_ih_l1",
    "encoder.rnn.bias_hh_l1",
]
GRU1 = LSTM2[:4]
LAYOUTS = {  # the state_dict keys LanguageModel wrote before the network moved to seqkit.nn (checkpoints on disk)
    "lstm_tied": (
        dict(
            vocab_size=11,
            embedding_dim=6,
            backbone={"cell": "lstm", "hidden_size": 6, "num_layers": 2},
            tie_weights=True,
            dropout=0.3,
        ),
        ["embedding.embedding.weight", *LSTM2, "head.weight", "head.bias"],
    ),
    "conditional_gru_every_step": (
        dict(
            vocab_size=9,
            level="word",
            embedding_dim=5,
            backbone={"cell": "gru", "hidden_size": 7},
            num_conditions=3,
            condition_every_step=True,
            carry_state=False,
        ),
        [
            "embedding.embedding.weight",
            *GRU1,
            "head.weight",
            "head.bias",
            "condition_state.weight",
            "condition_input.weight",
        ],
    ),
    "conditional_lstm": (
        dict(
            vocab_size=9,
            level="word",
            embedding_dim=5,
            num_conditions=2,
            backbone={"cell": "lstm", "hidden_size": 7, "num_layers": 2},
        ),
        ["embedding.embedding.weight", *LSTM2, "head.weight", "head.bias", "condition_state.weight"],
    ),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_saved_weights_load_into_the_model_and_the_plain_network_with_the_same_outputs(name, tmp_path):
    """The earlier key layout is kept (old checkpoints load), and the network the light path builds from the
    hyper-parameters alone computes exactly what the LightningModule does: logits and generated ids."""
    from seqkit.nn.decoding import Sampler
    from seqkit.tasks.language_model.network import LanguageModelNetwork

    kwargs, keys = LAYOUTS[name]
    torch.manual_seed(0)
    saved = LanguageModel(**kwargs)
    assert list(saved.network.state_dict()) == keys
    torch.save({"hyper_parameters": dict(saved.hparams), "state_dict": saved.network.state_dict()}, tmp_path / "w.pt")
    checkpoint = torch.load(tmp_path / "w.pt", weights_only=True)
    model = TaskModule(**checkpoint["hyper_parameters"])
    network = LanguageModelNetwork.from_hparams(checkpoint["hyper_parameters"])
    assert not isinstance(network, pl.LightningModule) and list(network.state_dict()) == keys
    for m in (model.network, network):
        m.load_state_dict(checkpoint["state_dict"])  # strict: no key missing or left over
        m.eval()
    model.eval()
    tokens, lengths = torch.randint(1, kwargs["vocab_size"], (3, 5)), torch.tensor([5, 4, 2])
    condition = torch.tensor([0, 1, 1]) if kwargs.get("num_conditions") else None
    expected, _ = saved.eval()(tokens, lengths, condition=condition)
    for m in (model, network):
        assert torch.equal(m(tokens, lengths, condition=condition)[0], expected)
    assert (network.num_conditions, network.carry_state) == (
        kwargs.get("num_conditions", 0),
        kwargs.get("carry_state", True),
    )
    samples = [
        m.generate(tokens[:, :2], 6, Sampler(1.0, generator=torch.Generator().manual_seed(3)), condition, eos=2)
        for m in (model.network, network)
    ]
    assert torch.equal(samples[0], samples[1]) and samples[0].size(0) == 3


@pytest.mark.parametrize("level", ["char", "word"])
def test_the_generation_reader_reads_and_writes_text_as_the_data_module_does(tmp_path, level):
    """The codec is rebuilt from what a checkpoint keeps (settings, state) without Lightning; it reads and writes
    text as the data module that trained did (the same vocabulary, the same ids for the same text)."""
    from seqkit.tasks.language_model.codec import LanguageModelCodec

    module = dm(tmp_path, level=level)
    reader = LanguageModelCodec.from_checkpoint(dict(module.hparams), module.state_dict())
    assert reader.built and reader.vocab is not module.vocab and reader.vocab.itos == module.vocab.itos
    tokens, source = reader.read_splits()["train"]
    assert torch.equal(reader.encode(tokens, source), module.datasets["train"])
    prompt = "On the cat" if level == "word" else "On the"
    for method in ("start_index", "banned_indices"):
        assert getattr(reader, method)() == getattr(module, method)()
    assert reader.encode_prompt(prompt) == module.encode_prompt(prompt) and len(reader.encode_prompt(prompt)) > 2
    assert reader.prompt_text(prompt) == module.prompt_text(prompt)
    assert [reader.stream_piece(i) for i in range(len(module.vocab))] == [
        module.stream_piece(i) for i in range(len(module.vocab))
    ]
    assert reader.decode_ids(list(range(len(module.vocab)))) == module.decode_ids(list(range(len(module.vocab))))
    if level == "char":
        with pytest.raises(ValueError, match=r"prompt: character\(s\) 'Zz' never occur"):
            reader.encode_prompt("zZ cat")


def test_characters_only_in_the_held_out_part_are_named_in_one_notice(tmp_path, capsys):
    """The last tenth holds 'x' three times and 'z' once, which the training part never has: one notice says how
    many, how many distinct and which (most frequent first); a held-out part the vocabulary covers gets none."""
    dm(tmp_path, "abc ab\n" * 40 + "xxx z\n" * 1)
    notices = [line for line in capsys.readouterr().err.splitlines() if "never occur" in line]
    assert notices == [
        "[seqkit] notice: 4 chars of the val text (2 distinct: 'x', 'z') never occur in the training text; "
        "the model reads and scores them as <unk>"
    ]
    dm(tmp_path, "abc ab\n" * 40)
    assert "notice" not in capsys.readouterr().err


def test_words_only_in_a_validation_file_are_named_in_one_notice(tmp_path, capsys):
    val = write(tmp_path / "val.txt", "the cat sat on a zebra\n" * 3)
    module = LanguageModelingDataModule(
        train_path=write(tmp_path / "t.txt", "the cat sat\n" * 30), val_path=val, level="word", bptt=4, batch_size=2
    )
    module.setup("fit")
    (notice,) = [line for line in capsys.readouterr().err.splitlines() if "notice" in line]
    assert notice.startswith("[seqkit] notice: 9 words of the val text (3 distinct: 'on', 'a', 'zebra') are not in")
