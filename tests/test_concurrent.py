"""The two directions on two threads equal the two in turn and torch.nn: outputs, states, gradients."""

import pytest
import torch
from test_parity_torch import test_matches_torch as matches_torch

import rnnkit
from rnnkit.nn import concurrent


@pytest.fixture
def two_threads(monkeypatch):
    """Concurrent directions on, two torch threads (the suite runs on one); count the pairs."""
    calls = []
    run_pair = concurrent.run_pair

    def counting(*args):
        calls.append(1)
        return run_pair(*args)

    monkeypatch.setattr(concurrent, "run_pair", counting)
    torch.set_num_threads(2)
    previous = concurrent.is_enabled()
    concurrent.set_enabled(True)  # off by default (rnnkit.nn.concurrent's doc says why)
    yield calls
    torch.set_num_threads(1)
    concurrent.set_enabled(previous)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_concurrent_matches_torch(two_threads, kind, num_layers, masked):
    matches_torch(kind, num_layers, True, True, masked, "fused")
    assert len(two_threads) == num_layers  # one concurrent pair per layer: the path was taken


def _run(layer, x, lengths, use_state):
    out, state = layer(x, lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    loss = (h_n**2).sum() if use_state else out.sum()  # an output left unused gets no gradient
    loss.backward()
    return [out.detach(), h_n.detach(), x.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU])
@pytest.mark.parametrize("use_state", [False, True])
def test_concurrent_equals_sequential_in_float32(two_threads, cls, use_state):
    layer = cls(6, 8, bidirectional=True)
    lengths = torch.tensor([9, 4, 1, 7])
    results = []
    for enabled in (False, True):
        concurrent.set_enabled(enabled)
        layer.zero_grad(set_to_none=True)
        x = torch.randn(4, 9, 6, generator=torch.Generator().manual_seed(3), requires_grad=True)
        results.append(_run(layer, x, lengths, use_state))
    for sequential, threaded in zip(*results):
        torch.testing.assert_close(threaded, sequential, atol=1e-6, rtol=1e-5)
    assert len(two_threads) == 1


@pytest.mark.parametrize("grad", [False, True])
def test_concurrent_last_output_only(two_threads, grad):
    """return_sequences=False through the concurrent pair: the same last output, state and
    gradients as with the directions in turn."""
    layer = rnnkit.LSTM(5, 4, num_layers=2, bidirectional=True).double()
    lengths = torch.tensor([6, 2, 4])
    results = []
    for enabled in (False, True):
        concurrent.set_enabled(enabled)
        layer.zero_grad(set_to_none=True)
        x = torch.randn(3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        with torch.set_grad_enabled(grad):
            last, (h_n, c_n) = layer(x.requires_grad_(grad), lengths, return_sequences=False)
        if grad:
            ((last**2).sum() + c_n.sum()).backward()
        results.append([last, h_n, c_n] + ([x.grad] + [p.grad for p in layer.parameters()] if grad else []))
    for sequential, threaded in zip(*results):
        torch.testing.assert_close(threaded, sequential, atol=1e-12, rtol=0)
    assert len(two_threads) == 2  # two layers, the second (top) one without its sequence


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_concurrent_without_gradients(two_threads, mode):
    layer = rnnkit.LSTM(5, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    expected, (expected_h, expected_c) = layer(x, lengths)
    with torch.inference_mode() if mode == "inference_mode" else torch.no_grad():
        out, (h_n, c_n) = layer(x, lengths)
    for ours, theirs in [(out, expected), (h_n, expected_h), (c_n, expected_c)]:
        torch.testing.assert_close(ours, theirs.detach(), atol=1e-12, rtol=0)
        assert not ours.requires_grad
    assert len(two_threads) == 4  # two layers, twice


def test_concurrent_gradcheck(two_threads):
    layer = rnnkit.GRU(3, 2, bidirectional=True).double()
    lengths = torch.tensor([4, 2])
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: layer(x, lengths, h0), (x, h0))
    assert two_threads


def test_thread_count_is_restored_and_one_thread_runs_in_turn(two_threads):
    layer = rnnkit.LSTM(3, 2, bidirectional=True)
    layer(torch.randn(2, 4, 3))
    assert torch.get_num_threads() == 2
    assert len(two_threads) == 1
    torch.set_num_threads(1)
    layer(torch.randn(2, 4, 3))
    assert len(two_threads) == 1  # one thread: the directions run one after the other


def test_an_error_in_a_direction_reaches_the_caller():
    def broken(x):
        raise ValueError("direction failed")

    with pytest.raises(ValueError, match="direction failed"):
        concurrent.run_pair((lambda x: (x * 2,), broken), ((torch.ones(2),), (torch.ones(2),)))


def test_functions_must_return_as_many_tensors():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="as many tensors"):
        concurrent.run_pair((lambda x: (x, x), lambda x: (x,)), ((x,), (x,)))


def _pair_node(out):
    """The _Pair node behind a bidirectional layer's output (out = cat(forward, backward))."""
    node = out.grad_fn
    while "Pair" not in type(node).__name__:
        node = next(fn for fn, _ in node.next_functions if fn is not None)
    return node


def test_recorded_graphs_are_freed_by_backward_and_kept_by_retain_graph(two_threads):
    layer = rnnkit.LSTM(3, 2, bidirectional=True).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    out, _ = layer(x, torch.tensor([4, 2]))
    out.sum().backward(retain_graph=True)
    first = x.grad.clone()
    out.sum().backward()  # the retained graph differentiates again: gradients accumulate
    torch.testing.assert_close(x.grad, 2 * first)
    with pytest.raises(RuntimeError, match="freed|backward through the graph a second time"):
        _ = _pair_node(out).saved_tensors  # both recorded graphs went with the saved tensors
