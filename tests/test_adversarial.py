"""adversarial_perturbation: a step of the requested size per sentence, along the direction that raises
the loss most, nothing on padding; and the classifier adds the perturbed loss to the clean one."""

import torch
import torch.nn.functional as F

from seqkit.data.batch import Batch
from seqkit.nn import RecurrentEncoder, SequencePooling, adversarial_perturbation
from seqkit.tasks.classification.network import ClassifierNetwork


def small_model():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(6, 8, cell="lstm", bidirectional=True)
    pooling = SequencePooling("mean", encoder.output_size, 2)
    head = torch.nn.Linear(encoder.output_size, 3)
    lengths = torch.tensor([5, 2, 4])
    mask = torch.arange(5)[None, :] < lengths[:, None]

    def loss_of(features):
        return F.cross_entropy(head(pooling(encoder(features, lengths)[0], mask, lengths)), torch.tensor([0, 2, 1]))

    return loss_of, lengths, mask


def test_step_has_the_given_norm_raises_the_loss_and_skips_padding():
    loss_of, lengths, mask = small_model()
    features = torch.randn(3, 5, 6, requires_grad=True)
    loss = loss_of(features)
    r = adversarial_perturbation(loss, features, epsilon=0.5)
    assert not r.requires_grad
    torch.testing.assert_close(r.flatten(1).norm(dim=1), torch.full((3,), 0.5))
    assert torch.all(r[~mask] == 0)
    loss.backward()  # the caller's graph survived
    with torch.no_grad():
        adversarial = loss_of(features + r)
        torch.manual_seed(1)
        random_steps = []
        for _ in range(20):
            noise = torch.randn_like(r) * mask[..., None]
            random_steps.append(loss_of(features + 0.5 * noise / noise.flatten(1).norm(dim=1)[:, None, None]))
    assert adversarial > loss.detach()
    assert adversarial > max(random_steps)  # the gradient direction beats every random direction of equal size


def test_classifier_adds_the_loss_on_perturbed_features():
    torch.manual_seed(0)
    model = ClassifierNetwork(
        20, 2, embedding_dim=8, backbone={"hidden_size": 8, "bidirectional": True}, pooling="mean", adversarial=1.0
    )
    batch = Batch(
        tokens=torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]]),
        lengths=torch.tensor([4, 2]),
        index=torch.tensor([0, 1]),
        labels=torch.tensor([0, 1]),
    )
    model.eval()  # no dropout: both computations below see the same network
    features = model.embed(batch.tokens).detach().requires_grad_()
    clean = F.cross_entropy(model.classify(model.encoder(features, batch.lengths)[0], batch.lengths), batch.labels)
    r = adversarial_perturbation(clean, features, 1.0)
    with torch.no_grad():
        perturbed = F.cross_entropy(
            model.classify(model.encoder(features + r, batch.lengths)[0], batch.lengths), batch.labels
        )
    parts = model.loss(batch)
    torch.testing.assert_close(parts["loss"], clean.detach() + perturbed)
    torch.testing.assert_close(parts["class_loss"], clean.detach())
    torch.testing.assert_close(parts["adversarial_loss"], perturbed)
    assert perturbed > clean


def test_adversarial_training_with_frozen_embeddings():
    """embedding.freeze=true with model.adversarial: the step is taken along the gradient of the (frozen) inputs,
    and the trainable layers above them still learn from both losses."""
    torch.manual_seed(0)
    model = ClassifierNetwork(
        20, 2, embedding_dim=8, backbone={"hidden_size": 8}, pooling="mean", adversarial=1.0, freeze_embeddings=True
    )
    batch = Batch(
        tokens=torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]]),
        lengths=torch.tensor([4, 2]),
        index=torch.tensor([0, 1]),
        labels=torch.tensor([0, 1]),
    )
    model.eval()
    parts = model.loss(batch)
    parts["loss"].backward()
    assert parts["adversarial_loss"] > parts["class_loss"]
    assert model.embedding.embedding.weight.grad is None
    assert model.encoder.rnn.weight_ih_l0.grad.abs().sum() > 0
