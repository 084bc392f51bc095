"""What a torch.nn or Keras user does by habit either works as there or says what to do instead."""

import warnings

import numpy as np
import pytest
import torch
from helpers import LAYERS, assert_close, make_torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.nn.masking import Padding


def test_state_passed_second_as_in_torch_says_where_it_goes():
    x = torch.randn(2, 5, 3)
    lstm = rnnkit.LSTM(3, 4)
    h0 = torch.zeros(1, 2, 4)
    with pytest.raises(TypeError, match=r"second argument is lengths.*layer\(x, state=\(h0, c0\)\)"):
        lstm(x, (h0, h0))
    gru = rnnkit.GRU(3, 4)
    with pytest.raises(TypeError, match=r"layer\(x, state=h0\)"):
        gru(x, h0)
    out, _ = gru(x, state=h0)  # the keyword works
    assert out.shape == (2, 5, 4)


@pytest.mark.parametrize("lengths", [np.array([5, 2]), np.array([5, 2], dtype=np.int32), [5, 2], (5, 2)])
def test_numpy_and_list_lengths_are_accepted(lengths):
    layer = rnnkit.GRU(3, 4).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, h = layer(x, lengths)
    expected, h_expected = layer(x, torch.tensor([5, 2]))
    assert torch.equal(out, expected) and torch.equal(h, h_expected)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
def test_packed_sequence_in_and_out_as_torch(kind, enforce_sorted, batch_first):
    torch.manual_seed(0)
    module = make_torch(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    layer = rnnkit.from_torch(module)
    lengths = torch.tensor([6, 4, 1]) if enforce_sorted else torch.tensor([4, 6, 1])
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    x_in = x if batch_first else x.transpose(0, 1)
    packed = pack_padded_sequence(x_in, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    out_t, state_t = module(packed)
    out_r, state_r = layer(packed)
    assert isinstance(out_r, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(out_r.batch_sizes, out_t.batch_sizes)
    assert_close(out_r.data, out_t.data, "packed output")
    for a, b in zip(state_r if kind == "lstm" else (state_r,), state_t if kind == "lstm" else (state_t,)):
        assert_close(a, b, "state")
    padded_r, lens_r = pad_packed_sequence(out_r, batch_first=batch_first)
    padded_t, _ = pad_packed_sequence(out_t, batch_first=batch_first)
    assert_close(padded_r, padded_t, "unpacked output")
    assert torch.equal(lens_r, lengths)
    with pytest.raises(ValueError, match="carries its lengths"):
        layer(packed, lengths)


def test_dropout_with_one_layer_warns_as_torch_does():
    with pytest.warns(UserWarning, match="num_layers=1 it does nothing"):
        rnnkit.LSTM(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnkit.LSTM(3, 4, num_layers=2, dropout=0.5)


@pytest.mark.parametrize("lengths", [None, torch.tensor([5, 3])])
def test_time_major_bidirectional_output_is_contiguous(lengths):
    layer = rnnkit.LSTM(3, 4, bidirectional=True, batch_first=False)
    out, _ = layer(torch.randn(5, 2, 3), lengths)
    assert out.shape == (5, 2, 8) and out.is_contiguous()


def test_to_torch_on_a_subclass_and_a_clear_error_for_custom_cells():
    class MyLSTM(rnnkit.LSTM):
        pass

    layer = MyLSTM(3, 4).double()
    module = layer.to_torch()
    assert isinstance(module, torch.nn.LSTM)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert_close(module(x)[0], layer(x)[0], "output")

    class LeakyCell(rnnkit.RNNCell):
        pass

    class LeakyRNN(rnnkit.RNN):
        cell_class = LeakyCell

    with pytest.raises(ValueError, match="to_torch needs rnnkit's own cells, got LeakyCell"):
        LeakyRNN(3, 4).to_torch()


def test_lengths_stay_on_the_cpu_for_bookkeeping():
    padding = Padding.from_lengths(torch.tensor([4, 2]), 4)
    assert padding.lengths_cpu.device.type == "cpu" and padding.lengths_cpu.tolist() == [4, 2]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, [7, 3, 1]])
def test_cpu_autocast_bfloat16_runs_as_torch_does(kind, lengths):
    """A bf16 activation (what a Linear gives under autocast) into a float32 layer: refused before;
    now the fused path runs in bf16 with the weights cast per call, gradients reach the float32
    weights, and the numbers stay within bf16 precision of the float32 layer."""
    torch.manual_seed(0)
    layer = LAYERS[kind](6, 8, bidirectional=True)
    x = torch.randn(3, 7, 6)
    expected, _ = layer(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = layer(x.bfloat16(), lengths)
        out32, _ = layer(x, lengths)  # a float32 input is cast too, as autocast casts matmuls
    h_n = state[0] if kind == "lstm" else state
    assert out.dtype == h_n.dtype == out32.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=0.05, rtol=0.05)
    out.float().sum().backward()
    grads = [p.grad for p in layer.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    if lengths is not None:
        assert torch.all(out[2, 1:] == 0)


def _python_flatten(weights, cells):
    """What torch._cudnn_rnn_flatten_weight does on a GPU, in Python, on the CPU: copy the tensors
    into one buffer in order and make each a view into it."""
    buffer = torch.cat([w.detach().reshape(-1) for w in weights])
    offset = 0
    for w in weights:
        w.set_(buffer.untyped_storage(), offset, w.shape, w.stride() if w.is_contiguous() else None)
        offset += w.numel()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_flat_weights_give_the_same_numbers_and_train_in_place(kind):
    """The GPU layout, exercised on the CPU: after flattening, each layer's tensors live in one
    buffer; the kernel is handed the parameters themselves (the GRU's b_hh a differentiable view
    of bias_hn), so forward, every gradient and an optimizer step are unchanged."""
    torch.manual_seed(0)
    flat = LAYERS[kind](3, 4, num_layers=2, bidirectional=True).double()
    plain = LAYERS[kind](3, 4, num_layers=2, bidirectional=True).double()
    plain.load_state_dict(flat.state_dict())
    flat._flatten_weights(_python_flatten)
    for layer in range(2):
        storages = {
            p.untyped_storage().data_ptr()
            for c in flat.cells[2 * layer : 2 * layer + 2]
            for p in c.parameters()
        }
        assert len(storages) == 1, "a layer's parameters must share one buffer"
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    flat_out, plain_out = flat(x, lengths)[0], plain(x, lengths)[0]
    assert_close(flat_out, plain_out, "output of the CPU path")
    # the packed, one-call-per-layer path is what a GPU runs: force it on the CPU for both
    results = []
    for layer_ in (flat, plain):
        cells = list(layer_.cells[:2])
        states = [(torch.zeros(3, 4, dtype=torch.float64),) * (2 if kind == "lstm" else 1)] * 2
        padding = Padding.from_lengths(lengths, 6)
        out, _ = layer_._run_layer(cells, x, states, padding, True, layer=0)
        layer_.zero_grad()
        out.pow(2).sum().backward()
        results.append(
            (out.detach(), {n: p.grad.clone() for n, p in layer_.named_parameters() if p.grad is not None})
        )
    assert flat._flat_recurrent_biases(0) is not None
    assert_close(results[0][0], results[1][0], "output")
    assert results[0][1].keys() == results[1][1].keys()
    for name in results[0][1]:
        assert_close(results[0][1][name], results[1][1][name], f"grad of {name}")
    torch.optim.SGD(flat.parameters(), lr=0.1).step()
    torch.optim.SGD(plain.parameters(), lr=0.1).step()
    for (name, a), b in zip(flat.state_dict().items(), plain.state_dict().values()):
        assert_close(a, b, f"{name} after a step")
    assert flat._flat_recurrent_biases(0) is not None, "an optimizer step keeps the buffer flat"


@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "gru"])
def test_the_gpu_packed_layer_path_equals_the_cpu_path(kind):
    """The one-call-per-layer packed path (what a GPU runs) against the direction-by-direction
    padded path (what the CPU runs), on the CPU: outputs and final states, float64."""
    torch.manual_seed(0)
    layer = LAYERS[kind](3, 4, bidirectional=True).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    expected, state = layer(x, lengths)
    finals = state if kind == "lstm" else (state,)
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    states = [(zeros, zeros) if kind == "lstm" else (zeros,)] * 2
    out, last = layer._run_layer(
        list(layer.cells), x, states, Padding.from_lengths(lengths, 6), True, layer=0
    )
    assert_close(out, expected, "output")
    for i, final in enumerate(finals):
        assert_close(torch.stack([d[i] for d in last]), final, "final state")
