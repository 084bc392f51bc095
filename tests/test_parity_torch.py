"""rnnkit layers built with from_torch equal torch.nn in float64: outputs, states, every gradient."""

import itertools

import pytest
import torch
from helpers import assert_close, make_torch, rnnkit_param_grads, torch_param_grads
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

CASES = list(
    itertools.product(
        ["rnn", "lstm", "gru"],  # kind
        [1, 2],  # num_layers
        [False, True],  # bidirectional
        [True, False],  # batch_first
        [False, True],  # with lengths
        ["fused", "reference"],
    )
)


def _state(kind, L, B, H, generator):
    h0 = torch.randn(L, B, H, dtype=torch.float64, generator=generator, requires_grad=True)
    if kind != "lstm":
        return h0, [h0]
    c0 = torch.randn(L, B, H, dtype=torch.float64, generator=generator, requires_grad=True)
    return (h0, c0), [h0, c0]


@pytest.mark.parametrize(("kind", "num_layers", "bidirectional", "batch_first", "masked", "impl"), CASES)
def test_matches_torch(kind, num_layers, bidirectional, batch_first, masked, impl):
    B, T, E, H = 4, 7, 3, 5
    D = 2 if bidirectional else 1
    gen = torch.Generator().manual_seed(1)
    reference = make_torch(
        kind, E, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    layer = rnnkit.from_torch(reference, impl=impl)
    lengths = torch.tensor([7, 3, 1, 5]) if masked else None

    x = torch.randn(B, T, E, dtype=torch.float64, generator=gen)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    x_ours = x.clone().requires_grad_()
    x_theirs = x.clone().requires_grad_()
    state_ours, leaves_ours = _state(kind, num_layers * D, B, H, torch.Generator().manual_seed(2))
    state_theirs, leaves_theirs = _state(kind, num_layers * D, B, H, torch.Generator().manual_seed(2))

    out, state = layer(x_ours, lengths, state_ours)
    if masked:
        packed = pack_padded_sequence(x_theirs, lengths, batch_first=batch_first, enforce_sorted=False)
        expected_packed, expected_state = reference(packed, state_theirs)
        expected, _ = pad_packed_sequence(expected_packed, batch_first=batch_first, total_length=T)
    else:
        expected, expected_state = reference(x_theirs, state_theirs)

    assert_close(out, expected, "output")
    finals = state if kind == "lstm" else (state,)
    expected_finals = expected_state if kind == "lstm" else (expected_state,)
    for ours, theirs in zip(finals, expected_finals):
        assert_close(ours, theirs, "final state")

    # One backward pass through outputs and every final state, with random weights on each.
    weights = [torch.randn(t.shape, dtype=torch.float64, generator=gen) for t in (out, *finals)]
    sum((w * t).sum() for w, t in zip(weights, (out, *finals))).backward()
    sum((w * t).sum() for w, t in zip(weights, (expected, *expected_finals))).backward()

    assert_close(x_ours.grad, x_theirs.grad, "grad of x")
    for ours, theirs in zip(leaves_ours, leaves_theirs):
        assert_close(ours.grad, theirs.grad, "grad of initial state")
    expected_grads = torch_param_grads(reference, kind)
    actual_grads = rnnkit_param_grads(layer)
    assert actual_grads.keys() == expected_grads.keys()
    for name in actual_grads:
        assert_close(actual_grads[name], expected_grads[name], f"grad of {name}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_round_trip_to_torch(kind):
    reference = make_torch(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    back = rnnkit.from_torch(reference).to_torch()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out_a, state_a = reference(x)
    out_b, state_b = back(x)
    assert_close(out_b, out_a, "output")
    for a, b in zip(state_a if kind == "lstm" else (state_a,), state_b if kind == "lstm" else (state_b,)):
        assert_close(b, a, "state")


def test_relu_rnn_matches_torch():
    reference = make_torch("rnn", 3, 4, nonlinearity="relu", batch_first=True)
    layer = rnnkit.from_torch(reference)
    assert layer.nonlinearity == "relu"
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    assert_close(layer(x)[0], reference(x)[0], "output")


def test_from_torch_rejects_what_it_cannot_map():
    with pytest.raises(ValueError, match="bias=True"):
        rnnkit.from_torch(torch.nn.LSTM(3, 4, bias=False))
    with pytest.raises(ValueError, match="proj_size"):
        rnnkit.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="torch.nn.RNN, LSTM or GRU"):
        rnnkit.from_torch(torch.nn.Linear(3, 4))


def test_parameter_counts_are_the_keras_ones():
    # Keras: LSTM 4H(E+H+1), SimpleRNN H(E+H+1); the GRU keeps one extra recurrent bias (H).
    E, H = 64, 64
    assert sum(p.numel() for p in rnnkit.LSTM(E, H).parameters()) == 4 * H * (E + H + 1)
    assert sum(p.numel() for p in rnnkit.RNN(E, H).parameters()) == H * (E + H + 1)
    assert sum(p.numel() for p in rnnkit.GRU(E, H).parameters()) == 3 * H * (E + H + 1) + H
