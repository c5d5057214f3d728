"""One-to-many: a class label embedded into the initial state unrolls sentences of that class."""

import json
import random

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from seqkit.data.batch import IGNORE_INDEX
from seqkit.nn.decoding import Sampler
from seqkit.tasks.language_model.datamodule import ConditionalLanguageModelingDataModule
from seqkit.training import TaskModule


def LanguageModel(**kwargs):
    """A language model as train.py builds it (task=conditional_lm): TaskModule over the shape's network."""
    return TaskModule("language_model", **kwargs)


def Classifier(**kwargs):
    """A text classifier as train.py builds it (task=sentiment)."""
    return TaskModule("classification", **kwargs)


WORDS = {"pos": ["good", "great", "fine", "nice"], "neg": ["bad", "awful", "poor", "sad"]}


def write_sentences(path, n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        rows.append(
            " ".join(rng.choice(WORDS[label] + ["the", "film"]) for _ in range(rng.randint(3, 8))) + f"\t{label}"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def mean_loss(model, batches, flip=False):
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            condition = 1 - batch.condition if flip else batch.condition
            logits, _ = model(batch.tokens, batch.lengths, condition=condition)
            total += F.cross_entropy(
                logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
            ).item()
            count += int((batch.labels != IGNORE_INDEX).sum())
    return total / count


@pytest.mark.parametrize("every_step", [False, True])
def test_the_condition_is_used_true_class_beats_the_flipped_one_and_samples_follow_it(tmp_path, every_step):
    module = ConditionalLanguageModelingDataModule(
        train_path=write_sentences(tmp_path / "train.tsv", 400, 0),
        val_path=write_sentences(tmp_path / "val.tsv", 100, 1),
        batch_size=16,
    )
    module.setup("fit")
    kwargs = module.model_kwargs()
    assert kwargs["num_conditions"] == 2 and kwargs["carry_state"] is False
    torch.manual_seed(0)
    model = LanguageModel(
        **kwargs,
        embedding_dim=16,
        backbone={"cell": "gru", "hidden_size": 32},
        condition_every_step=every_step,
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    pl.Trainer(
        max_epochs=5, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False
    ).fit(model, datamodule=module)
    model.eval()
    val = list(module.val_dataloader())
    true, flipped = mean_loss(model, val), mean_loss(model, val, flip=True)
    assert true < flipped - 0.5, (true, flipped)  # the class is read: the wrong one costs much more
    prompt = torch.tensor([[module.start_index()]] * 20)
    for name in ("pos", "neg"):
        condition = torch.full((20,), module.condition_index(name))
        ids = model.network.generate(
            prompt, 12, Sampler(0.8, generator=torch.Generator().manual_seed(0)), condition, eos=module.start_index()
        )
        words = [w for row in ids.tolist() for w in module.decode_ids(row).split()]
        own = sum(w in WORDS[name] for w in words)
        other = sum(w in WORDS["neg" if name == "pos" else "pos"] for w in words)
        assert own > 10 * max(other, 1) or (own > 20 and other == 0), (name, own, other)


def test_an_unknown_condition_is_a_clear_error(tmp_path):
    module = ConditionalLanguageModelingDataModule(train_path=write_sentences(tmp_path / "t.tsv", 40, 0))
    module.setup("fit")
    with pytest.raises(
        ValueError, match=r"condition=maybe is not a class of this model; choose one of \['neg', 'pos'\]"
    ):
        module.condition_index("maybe")


# ---- the two measures of a conditional model: evaluate.py with the flipped class, generate.py's agreement ------
def _script_config(name, *overrides):
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    with initialize_config_dir(
        config_dir=str(Path(__file__).resolve().parents[1] / "seqkit" / "configs"), version_base="1.3"
    ):
        return compose(name, overrides=list(overrides))


def _checkpoint(model, module, path):
    trainer = pl.Trainer(
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=module)
    trainer.save_checkpoint(path)
    return str(path)


def test_evaluate_scores_the_true_and_the_flipped_class_and_agreement_counts_the_requested_label(tmp_path, capsys):
    """The figures computed by hand on a tiny model: evaluate.py options.flip_condition=true is the token-weighted
    loss with every class swapped; generate.py classifier_ckpt= is the share of each class's sentences that the
    classifier labels with that class."""
    from seqkit.app.agreement import classify, sample_sentences
    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import evaluate
    from seqkit.app.generate import generate
    from seqkit.tasks.classification.datamodule import ClassificationDataModule as TextClassificationDataModule

    train, test = write_sentences(tmp_path / "train.tsv", 200, 0), write_sentences(tmp_path / "test.tsv", 40, 1)
    module = ConditionalLanguageModelingDataModule(train_path=train, val_path=test, batch_size=16)
    module.setup("fit")
    torch.manual_seed(0)
    lm = LanguageModel(
        **module.model_kwargs(),
        embedding_dim=8,
        backbone={"cell": "gru", "hidden_size": 16},
        condition_every_step=True,
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.05},
    )
    lm_ckpt = _checkpoint(lm, module, tmp_path / "lm.ckpt")
    lm.eval()

    val = list(module.val_dataloader())
    true, flipped = (
        evaluate(
            _script_config(
                "evaluate", f"ckpt_path={lm_ckpt}", f"data.test_path={test}", f"options.flip_condition={flip}"
            )
        )["test/loss"]
        for flip in (False, True)
    )
    assert true == pytest.approx(mean_loss(lm, val), abs=1e-5)
    assert flipped == pytest.approx(mean_loss(lm, val, flip=True), abs=1e-5) and flipped != pytest.approx(true)

    classes = TextClassificationDataModule(train_path=train, val_path=test, batch_size=16)
    classes.setup("fit")
    classifier = Classifier(**classes.model_kwargs(), embedding_dim=8, backbone={"hidden_size": 8})
    classifier_ckpt = _checkpoint(classifier, classes, tmp_path / "classifier.ckpt")
    classifier.eval()

    capsys.readouterr()
    generate(
        _script_config(
            "generate",
            f"ckpt_path={lm_ckpt}",
            f"classifier_ckpt={classifier_ckpt}",
            "num_samples=30",
            "max_new_tokens=10",
            "seed=5",
        )
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # by hand: the same draws (one seeded generator, class after class), the same classifier
    model, data = load(lm_ckpt)  # (network, codec): what generate.py runs on
    judge, judge_data = load(classifier_ckpt)
    generator = torch.Generator().manual_seed(5)
    expected = {}
    for name in ("neg", "pos"):
        sampler = Sampler(0.8, generator=generator, banned=data.banned_indices())  # as generate.py: never <pad>
        texts = sample_sentences(model, data, data.condition_index(name), 30, sampler, 10)
        expected[f"agreement/{name}"] = pytest.approx(
            sum(label == name for label in classify(judge, judge_data, texts)) / 30
        )
    assert printed["samples"] == 30 and {k: printed[k] for k in expected} == expected
    assert printed["agreement"] == pytest.approx((printed["agreement/neg"] + printed["agreement/pos"]) / 2, abs=1e-5)


def test_agreement_and_evaluate_options_refuse_what_does_not_apply(tmp_path):
    from seqkit.app.generate import generate
    from seqkit.tasks.classification.datamodule import ClassificationDataModule as TextClassificationDataModule

    train = write_sentences(tmp_path / "train.tsv", 40, 0)
    module = ConditionalLanguageModelingDataModule(train_path=train, batch_size=16)
    module.setup("fit")
    lm_ckpt = _checkpoint(
        LanguageModel(**module.model_kwargs(), embedding_dim=4, backbone={"hidden_size": 4}),
        module,
        tmp_path / "lm.ckpt",
    )
    other = tmp_path / "other.tsv"
    other.write_text("".join(f"w{i} w{i + 1}\t{'yes' if i % 2 else 'no'}\n" for i in range(40)), encoding="utf-8")
    classes = TextClassificationDataModule(train_path=str(other), batch_size=16)
    classes.setup("fit")
    classifier_ckpt = _checkpoint(
        Classifier(**classes.model_kwargs(), embedding_dim=4, backbone={"hidden_size": 4}),
        classes,
        tmp_path / "classifier.ckpt",
    )
    with pytest.raises(
        ValueError, match=r"condition 'neg' is not a label of the classifier \(it has \['no', 'yes'\]\)"
    ):
        generate(
            _script_config("generate", f"ckpt_path={lm_ckpt}", f"classifier_ckpt={classifier_ckpt}", "num_samples=2")
        )
    with pytest.raises(
        ValueError, match="is a language_model checkpoint, but classifier_ckpt needs a classification one"
    ):
        generate(_script_config("generate", f"ckpt_path={lm_ckpt}", f"classifier_ckpt={lm_ckpt}", "num_samples=2"))
    from seqkit.app.evaluate import evaluate

    with pytest.raises(ValueError, match="split=val scores the validation split of shipped data: give data.builtin="):
        evaluate(_script_config("evaluate", f"ckpt_path={lm_ckpt}", "split=val"))
    with pytest.raises(
        ValueError, match="options.flip_condition: a SequenceClassifier checkpoint takes no evaluate options"
    ):
        evaluate(
            _script_config(
                "evaluate", f"ckpt_path={classifier_ckpt}", f"data.test_path={other}", "options.flip_condition=true"
            )
        )


def test_generate_unrolls_each_class_as_the_network_does_and_refuses_a_missing_class(tmp_path, capsys, monkeypatch):
    """scripts/generate.py's path (seqkit.app.generate, on the codec rebuilt from the checkpoint) on a conditional
    model: for condition= the sentences the network's own ``generate`` unrolls from that class through the codec
    (one seeded generator, each sentence ending at ``<eos>``), the same again for the same seed; without it one
    error line, from the command and from the script's entry; the codec rebuilt from the checkpoint reads prompts
    and classes as the data module that trained. (Before issue #25 this compared the application's path with the
    Lightning one, which is gone.)"""
    from seqkit.app.checkpoint import load
    from seqkit.app.cli import report_errors
    from seqkit.app.generate import generate
    from seqkit.app.main import main
    from seqkit.tasks.language_model.codec import ConditionalLanguageModelCodec

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    module = ConditionalLanguageModelingDataModule(
        train_path=write_sentences(tmp_path / "train.tsv", 40, 0), batch_size=16
    )
    module.setup("fit")
    torch.manual_seed(0)
    lm_ckpt = _checkpoint(
        LanguageModel(
            **module.model_kwargs(),
            embedding_dim=4,
            backbone={"cell": "gru", "hidden_size": 4},
            condition_every_step=True,
        ),
        module,
        tmp_path / "lm.ckpt",
    )
    reader = ConditionalLanguageModelCodec.from_checkpoint(dict(module.hparams), module.state_dict())
    network, codec = load(lm_ckpt)
    assert reader.condition_names() == codec.condition_names() == module.condition_names() == ["neg", "pos"]
    for prompt in ("the good film", "the zebra", ""):
        assert (
            (reader.encode_prompt(prompt), reader.prompt_text(prompt))
            == (codec.encode_prompt(prompt), codec.prompt_text(prompt))
            == (module.encode_prompt(prompt), module.prompt_text(prompt))
        )
    assert not network.carry_state and network.num_conditions == 2
    capsys.readouterr()
    for condition in ("neg", "pos"):
        args = [f"ckpt_path={lm_ckpt}", f"condition={condition}", "num_samples=3", "max_new_tokens=12", "seed=2"]
        first = generate(_script_config("generate", *args)), capsys.readouterr()
        again = generate(_script_config("generate", *args)), capsys.readouterr()
        assert first == again and len(first[0]) == 3
        sampler = Sampler(0.8, generator=torch.Generator().manual_seed(2), banned=codec.banned_indices())
        eos, expected = codec.start_index(), []
        for _ in range(3):
            ids = network.generate(
                torch.tensor([codec.encode_prompt("")]),
                12,
                sampler,
                torch.tensor([codec.condition_index(condition)]),
                eos=eos,
            )[0].tolist()
            assert eos not in ids[:-1]
            expected.append("".join(codec.stream_piece(i) for i in ids))
        assert first[0] == expected and first[1].out == "".join(t + "\n" for t in expected)
    for command in (
        lambda: report_errors(generate)(_script_config("generate", f"ckpt_path={lm_ckpt}")),
        lambda: main("generate", [f"ckpt_path={lm_ckpt}"]),
    ):
        with pytest.raises(SystemExit):
            command()
        assert (
            capsys.readouterr().err
            == "error: this model generates from a class: give condition=<one of ['neg', 'pos']>\n"
        )
