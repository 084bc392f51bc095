"""Exact masking: a padded batch gives what each sequence gives alone, unpadded, gradients included."""

import pytest
import torch
from helpers import LAYERS, assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit.nn.masking import Padding


def _run(layer, x, lengths, w_out, w_states):
    """Loss = sum(w_out * output) + sum(w * final state); returns outputs, states, grads."""
    x = x.clone().requires_grad_()
    layer.zero_grad()
    out, state = layer(x, lengths)
    finals = state if isinstance(state, tuple) else (state,)
    loss = (w_out[:, : out.shape[1]] * out).sum() + sum((w * s).sum() for w, s in zip(w_states, finals))
    loss.backward()
    grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
    return out.detach(), [s.detach() for s in finals], x.grad, grads


def check_masked_equals_alone(kind, lengths, num_layers, bidirectional, impl, seed=0):
    torch.manual_seed(seed)
    E, H = 3, 4
    layer = LAYERS[kind](E, H, num_layers=num_layers, bidirectional=bidirectional, impl=impl).double()
    B, T = len(lengths), max(lengths)
    x = torch.randn(B, T, E, dtype=torch.float64)
    w_out = torch.randn(B, T, layer.num_directions * H, dtype=torch.float64)
    n_states = 2 if kind == "lstm" else 1
    LD = num_layers * layer.num_directions
    w_states = [torch.randn(LD, B, H, dtype=torch.float64) for _ in range(n_states)]
    lengths_t = torch.tensor(lengths)

    out, finals, dx, grads = _run(layer, x, lengths_t, w_out, w_states)

    summed = {name: torch.zeros_like(g) for name, g in grads.items()}
    for b, n in enumerate(lengths):
        alone = _run(layer, x[b : b + 1, :n], None, w_out[b : b + 1], [w[:, b : b + 1] for w in w_states])
        out_b, finals_b, dx_b, grads_b = alone
        assert_close(out[b, :n], out_b[0], "output")
        assert torch.all(out[b, n:] == 0), "padded outputs must be exactly zero"
        for s, s_b in zip(finals, finals_b):
            assert_close(s[:, b], s_b[:, 0], "final state")
        assert_close(dx[b, :n], dx_b[0], "grad of x")
        assert torch.all(dx[b, n:] == 0), "padded inputs must get exactly zero gradient"
        for name in summed:
            summed[name] += grads_b[name]
    for name in grads:  # a shared weight's gradient is the sum over the sequences
        assert_close(grads[name], summed[name], f"grad of {name}")


@settings(max_examples=16, deadline=None)
@given(
    kind=st.sampled_from(["rnn", "relu", "lstm", "gru"]),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    num_layers=st.sampled_from([1, 2]),
    bidirectional=st.booleans(),
    impl=st.sampled_from(["fused", "reference"]),
)
def test_masked_batch_equals_each_sequence_alone(kind, lengths, num_layers, bidirectional, impl):
    check_masked_equals_alone(kind, lengths, num_layers, bidirectional, impl)


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
@pytest.mark.parametrize("lengths", [[1, 1, 1], [5, 5], [6, 1, 3]])
def test_edge_lengths(kind, lengths):
    check_masked_equals_alone(kind, lengths, num_layers=2, bidirectional=True, impl="fused")


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
def test_padding_values_are_ignored(kind):
    layer = LAYERS[kind](3, 4, bidirectional=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2])
    garbage = x.clone()
    garbage[1, 2:] = 1e6
    out_a, state_a = layer(x, lengths)
    out_b, state_b = layer(garbage, lengths)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    for a, b in zip(state_a if kind == "lstm" else (state_a,), state_b if kind == "lstm" else (state_b,)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_equals_reference(kind, bidirectional):
    fused = LAYERS[kind](3, 5, num_layers=2, bidirectional=bidirectional, impl="fused").double()
    reference = LAYERS[kind](3, 5, num_layers=2, bidirectional=bidirectional, impl="reference").double()
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    lengths = torch.tensor([8, 4, 1])
    for lens in (None, lengths):
        out_f, state_f = fused(x, lens)
        out_r, state_r = reference(x, lens)
        assert_close(out_f, out_r, "output")
        for a, b in zip(state_f if kind == "lstm" else (state_f,), state_r if kind == "lstm" else (state_r,)):
            assert_close(a, b, "state")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("layers_directions", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("lengths", [[8, 4, 1], [8, 8, 8], None])
def test_return_sequences_false_is_the_last_output(kind, impl, layers_directions, batch_first, lengths):
    """Keras's return_sequences=False: the top layer's final h per direction, concatenated, equal
    to the output sequence read at each sequence's last (forward) and first (backward) real step,
    with the same state and the same gradients (weights and input) as reading those from it."""
    torch.manual_seed(1)
    H, (num_layers, D) = 5, layers_directions
    layer = LAYERS[kind](
        3, H, num_layers=num_layers, bidirectional=D == 2, batch_first=batch_first, impl=impl
    ).double()
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    lens = None if lengths is None else torch.tensor(lengths)
    last = torch.tensor(lengths or [8] * 3) - 1
    weights = torch.randn(3, D * H, dtype=torch.float64)

    def run(return_sequences):
        leaf = x.clone().requires_grad_()
        inputs = leaf if batch_first else leaf.transpose(0, 1)
        out, state = layer(inputs, lens, return_sequences=return_sequences)
        if return_sequences:
            out = out if batch_first else out.transpose(0, 1)
            read = [out[torch.arange(3), last, :H]] + ([out[:, 0, H:]] if D == 2 else [])
            out = torch.cat(read, dim=1)
        layer.zero_grad()
        (weights * out).sum().backward()
        grads = [leaf.grad] + [p.grad.clone() for p in layer.parameters()]
        return out.detach(), state if kind == "lstm" else (state,), grads

    expected, expected_state, expected_grads = run(True)
    final, final_state, final_grads = run(False)
    assert final.shape == (3, D * H)
    assert_close(final, expected, "last output")
    for a, b in zip(final_state, expected_state):
        assert_close(a, b, "state")
    for a, b in zip(final_grads, expected_grads):
        assert_close(a, b, "gradient")


def test_fused_float32_close_to_reference():
    layer = rnnkit.LSTM(8, 16, bidirectional=True)
    x = torch.randn(4, 20, 8)
    lengths = torch.tensor([20, 13, 7, 1])
    out_f, (h_f, c_f) = layer(x, lengths)
    layer.impl = "reference"
    out_r, (h_r, c_r) = layer(x, lengths)
    for a, b in ((out_f, out_r), (h_f, h_r), (c_f, c_r)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_reverse_index_is_its_own_inverse():
    padding = Padding.from_lengths(torch.tensor([4, 2, 1]), 4)
    x = torch.arange(12.0).reshape(3, 4, 1)
    assert padding.reverse(x)[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7], [8, 9, 10, 11]]
    torch.testing.assert_close(padding.reverse(padding.reverse(x)), x)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_gradcheck_with_lengths(impl):
    layer = rnnkit.LSTM(2, 3, num_layers=2, bidirectional=True, impl=impl).double()
    gru = rnnkit.GRU(2, 3, bidirectional=True, impl=impl).double()
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 1])

    def lstm(x, h0, c0):
        out, (h, c) = layer(x, lengths, (h0, c0))
        return out, h, c

    def gru_fn(x, h0):
        return gru(x, lengths, h0)

    assert torch.autograd.gradcheck(lstm, (x, h0, c0))
    assert torch.autograd.gradcheck(gru_fn, (x, h0[:2]))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_float32_fused_masked_equals_alone(kind):
    # float32 goes through torch's oneDNN kernels on CPU: the gate saturation must hold there too.
    layer = LAYERS[kind](8, 16, bidirectional=True)
    x = torch.randn(3, 30, 8)
    lengths = torch.tensor([30, 17, 2])
    out, state = layer(x, lengths)
    finals = state if kind == "lstm" else (state,)
    for b, n in enumerate(lengths.tolist()):
        out_b, state_b = layer(x[b : b + 1, :n])
        torch.testing.assert_close(out[b, :n], out_b[0], atol=2e-6, rtol=1e-5)
        for s, s_b in zip(finals, state_b if kind == "lstm" else (state_b,)):
            torch.testing.assert_close(s[:, b], s_b[:, 0], atol=2e-6, rtol=1e-5)


def test_nan_in_padding_does_not_reach_results_or_gradients():
    layer = rnnkit.GRU(3, 4, bidirectional=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    x[1, 3:] = float("nan")
    x.requires_grad_()
    out, h_n = layer(x, torch.tensor([5, 3]))
    (out.sum() + h_n.sum()).backward()
    assert torch.isfinite(out).all() and torch.isfinite(h_n).all()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("dtype, T", [(torch.float32, 1000), (torch.float64, 8000)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_relu_padding_cannot_overflow(dtype, T, bidirectional):
    """A ReLU RNN's state grows without bound where W_hh has an eigenvalue > 1. A short sequence
    in a batch with a long one must still give its own (finite) numbers: the padded steps may not
    run on and overflow (0 * inf = NaN in the masks, then in every weight gradient)."""
    layer = rnnkit.RNN(4, 8, nonlinearity="relu", bidirectional=bidirectional).to(dtype)
    with torch.no_grad():
        for cell in layer.cells:
            cell.weight_hh.copy_(1.1 * torch.eye(8))
            cell.weight_ih.fill_(0.01)
            cell.bias.zero_()
    x = -torch.ones(2, T, 4, dtype=dtype)  # the long sequence stays at h = 0: relu(negative)
    x[1, 0] = 1e3  # the short one starts at h = 40, and 40 * 1.1^t overflows within T steps
    x.requires_grad_()
    out, h_n = layer(x, torch.tensor([T, 1]))
    assert torch.isfinite(out).all() and torch.isfinite(h_n).all()
    (out.sum() + h_n.sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    out_alone, h_alone = layer(x[1:2, :1].detach())
    torch.testing.assert_close(out[1, :1], out_alone[0], rtol=0, atol=0)
    torch.testing.assert_close(h_n[:, 1], h_alone[:, 0], rtol=0, atol=0)
