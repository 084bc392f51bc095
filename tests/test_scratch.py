"""The NumPy BPTT equals torch autograd through the rnnkit layers with the same weights."""

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import scratch


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bptt_matches_autograd(cell):
    B, T, E, H = 3, 6, 4, 5
    rng = np.random.default_rng(1)
    params = scratch.init_params(cell, E, H, seed=1)
    xs = rng.normal(size=(B, T, E))
    h0 = rng.normal(size=(B, H))
    c0 = rng.normal(size=(B, H))
    dhs = rng.normal(size=(B, T, H))

    if cell == "lstm":
        hs, cache = scratch.lstm_forward(params, xs, h0, c0)
        grads, dxs, dh0, dc0 = scratch.lstm_backward(params, cache, dhs)
    elif cell == "rnn":
        hs, cache = scratch.rnn_forward(params, xs, h0)
        grads, dxs, dh0 = scratch.rnn_backward(params, cache, dhs)
    else:
        hs, cache = scratch.gru_forward(params, xs, h0)
        grads, dxs, dh0 = scratch.gru_backward(params, cache, dhs)

    layer = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[cell](E, H).double()
    with torch.no_grad():
        for name, value in params.items():
            getattr(layer.cells[0], name).copy_(torch.from_numpy(value))
    x = torch.from_numpy(xs).requires_grad_()
    h0_t = torch.from_numpy(h0)[None].requires_grad_()
    c0_t = torch.from_numpy(c0)[None].requires_grad_()
    out, _ = layer(x, state=(h0_t, c0_t) if cell == "lstm" else h0_t)
    np.testing.assert_allclose(out.detach().numpy(), hs, atol=1e-12)
    (out * torch.from_numpy(dhs)).sum().backward()
    for name, grad in grads.items():
        np.testing.assert_allclose(getattr(layer.cells[0], name).grad.numpy(), grad, atol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), dxs, atol=1e-10)
    np.testing.assert_allclose(h0_t.grad[0].numpy(), dh0, atol=1e-10)
    if cell == "lstm":
        np.testing.assert_allclose(c0_t.grad[0].numpy(), dc0, atol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_finite_difference_check(cell):
    assert scratch.gradient_check(cell) < 1e-5


def test_hello_learns_o_after_hell():
    result = scratch.train_hello(steps=300)
    assert result.predicted == "ello"
    assert result.losses[-1] < 0.05 < result.losses[0]
    assert result.probs[-1, scratch.VOCAB.index("o")] > 0.9
    assert "p(o)" in result.table()
