"""Bad input gets a ValueError/TypeError that names the argument, the expectation and the value."""

import pytest
import torch

import rnnkit


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"3-D input \(B, T, E\), got 2-D of shape \(5, 3\)"):
        lstm(torch.randn(5, 3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="E=3.*got 7"):
        lstm(torch.randn(2, 5, 7))


def test_not_a_tensor(lstm):
    with pytest.raises(TypeError, match="torch.Tensor, got list"):
        lstm([[1.0, 2.0, 3.0]])


def test_mixed_dtypes(lstm):
    with pytest.raises(TypeError, match="torch.float64 but the weights are torch.float32"):
        lstm(torch.randn(2, 5, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    ("lengths", "error", "message"),
    [
        (torch.tensor([2.0, 3.0]), TypeError, "second argument is lengths .* got a float tensor"),
        (torch.tensor([[2, 3]]), ValueError, r"1-D of size B=2.*got shape \(1, 2\)"),
        (torch.tensor([2, 3, 4]), ValueError, r"1-D of size B=2.*got shape \(3,\)"),
        (torch.tensor([0, 3]), ValueError, r"in \[1, T=5\].*min 0"),
        (torch.tensor([2, 6]), ValueError, r"in \[1, T=5\].*max 6"),
        ("23", TypeError, "sequence of ints, got str"),
        (torch.tensor([True, True]), TypeError, "must hold integers, got dtype torch.bool"),
    ],
)
def test_bad_lengths(lstm, lengths, error, message):
    with pytest.raises(error, match=message):
        lstm(torch.randn(2, 5, 3), lengths)


def test_lengths_as_list_is_accepted(lstm):
    out, _ = lstm(torch.randn(2, 5, 3), [5, 2])
    assert torch.all(out[1, 2:] == 0)


def test_bad_state(lstm):
    x = torch.randn(2, 5, 3)
    good = torch.zeros(4, 2, 4)
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        lstm(x, state=good)
    with pytest.raises(ValueError, match=r"\(L\*D, B, H\) = \(4, 2, 4\), got \(2, 2, 4\)"):
        lstm(x, state=(torch.zeros(2, 2, 4), good))
    with pytest.raises(TypeError, match="state has dtype torch.float64"):
        lstm(x, state=(good.double(), good))
    gru = rnnkit.GRU(3, 4)
    with pytest.raises(TypeError, match="tensor h_0, got tuple"):
        gru(x, state=(torch.zeros(1, 2, 4),))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_layers": 0}, "num_layers must be a positive int, got 0"),
        ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\), got 1.5"),
        ({"impl": "cudnn"}, "impl must be one of"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.LSTM(3, 4, **kwargs)


def test_bad_sizes_and_nonlinearity():
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        rnnkit.GRU(3, 0)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        rnnkit.RNN(3, 4, nonlinearity="sigmoid")


def test_fused_refused_for_a_custom_cell():
    class LeakyCell(rnnkit.RNNCell):
        def forward(self, x_t, h_prev=None):
            h_t, _ = super().forward(x_t, h_prev)
            h_t = 0.5 * h_t + 0.5 * (h_prev if h_prev is not None else 0)
            return h_t, h_t

    class LeakyRNN(rnnkit.RNN):
        cell_class = LeakyCell

    assert LeakyRNN(3, 4).resolved_impl() == "reference"  # auto falls back quietly
    with pytest.raises(ValueError, match="impl='fused' needs rnnkit's own cells, got LeakyCell"):
        LeakyRNN(3, 4, impl="fused")(torch.randn(1, 2, 3))
