"""seqkit.nn.decoding over a language model's step function: incremental state, greedy, top-k/top-p, seeds."""

import torch

from seqkit.nn.decoding import Sampler, filter_logits, greedy, reorder_state, sample
from seqkit.tasks.language_model.network import LanguageModelNetwork as LanguageModel


def tiny_lm():
    torch.manual_seed(0)
    return LanguageModel(9, embedding_dim=6, backbone=dict(cell="gru", hidden_size=10, num_layers=2)).eval()


def test_greedy_with_incremental_state_equals_recomputing_the_prefix_every_step():
    model = tiny_lm()
    prompt = torch.tensor([[1, 4, 5], [2, 2, 7]])
    with torch.no_grad():
        logits, state = model.prefill(prompt)
        fast = greedy(model.step, state, logits, 12)
        slow = prompt
        for _ in range(12):  # the naive way: run the whole sequence again for each new token
            out, _ = model(slow, torch.full((2,), slow.size(1)))
            slow = torch.cat([slow, out[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(fast, slow[:, 3:])


def test_filter_logits_keeps_top_k_and_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]  # 0.5 < 0.7 <= 0.8
    assert torch.isinf(filter_logits(logits, top_p=0.85)).tolist() == [[False, False, False, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.4)).tolist() == [
        [False, True, True, True]
    ]  # the best always stays


def test_sampling_follows_the_temperature_scaled_distribution():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).expand(20000, 3)
    draws = Sampler(temperature=1.0, generator=torch.Generator().manual_seed(0))(logits)
    share = torch.bincount(draws, minlength=3).float() / draws.numel()
    assert torch.allclose(share, torch.tensor([0.6, 0.3, 0.1]), atol=0.02)
    cold = Sampler(temperature=0.5, generator=torch.Generator().manual_seed(0))(logits)
    expected = torch.tensor([0.36, 0.09, 0.01]) / 0.46  # p ** (1 / T), renormalised
    assert torch.allclose(torch.bincount(cold, minlength=3).float() / cold.numel(), expected, atol=0.02)
    banned = Sampler(generator=torch.Generator().manual_seed(0), banned=[0])(logits)
    assert (banned != 0).all()


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    model = tiny_lm()
    logits, state = model.prefill(torch.tensor([[1, 2]]))
    run = lambda seed: sample(
        model.step,
        state,
        logits,
        30,
        temperature=1.0,
        top_k=5,  # noqa: E731
        generator=torch.Generator().manual_seed(seed),
    )
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_decoding_stops_at_eos_and_streams_tokens():
    seen = []
    step = lambda ids, s: (torch.nn.functional.one_hot(ids + 1, 6).float() * 10, s)  # noqa: E731 (next id = id + 1)
    out = greedy(
        step, None, torch.nn.functional.one_hot(torch.tensor([0, 2]), 6).float() * 10, 10, eos=4, on_token=seen.append
    )
    assert out.tolist() == [[0, 1, 2, 3, 4], [2, 3, 4, 4, 4]]
    assert len(seen) == 5


def test_reorder_state_follows_rows_of_every_tensor():
    h, c = torch.arange(6.0).view(1, 3, 2), torch.arange(6.0).view(1, 3, 2) + 10
    h2, c2 = reorder_state((h, c), torch.tensor([2, 2, 0]))
    assert h2[0, :, 0].tolist() == [4, 4, 0] and c2[0, :, 0].tolist() == [14, 14, 10]
