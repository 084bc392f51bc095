"""One step of each cell equals torch.nn's cell with the same (folded) weights."""

import pytest
import torch
from helpers import assert_close

import rnnkit


def _copy_from_torch_cell(cell, torch_cell, kind):
    H = cell.hidden_size
    with torch.no_grad():
        cell.weight_ih.copy_(torch_cell.weight_ih)
        cell.weight_hh.copy_(torch_cell.weight_hh)
        if kind == "gru":
            cell.bias.copy_(
                torch.cat(
                    [
                        (torch_cell.bias_ih + torch_cell.bias_hh)[: 2 * H],
                        torch_cell.bias_ih[2 * H :],
                    ]
                )
            )
            cell.bias_hn.copy_(torch_cell.bias_hh[2 * H :])
        else:
            cell.bias.copy_(torch_cell.bias_ih + torch_cell.bias_hh)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cell_step_matches_torch(kind):
    ours = {"rnn": rnnkit.RNNCell, "lstm": rnnkit.LSTMCell, "gru": rnnkit.GRUCell}[kind](3, 5).double()
    theirs = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](
        3, 5
    ).double()
    _copy_from_torch_cell(ours, theirs, kind)
    x = torch.randn(4, 3, dtype=torch.float64)
    h = torch.randn(4, 5, dtype=torch.float64)
    if kind == "lstm":
        c = torch.randn(4, 5, dtype=torch.float64)
        h_t, (h_new, c_new) = ours(x, (h, c))
        h_exp, c_exp = theirs(x, (h, c))
        assert_close(c_new, c_exp, "c_t")
    else:
        h_t, h_new = ours(x, h)
        h_exp = theirs(x, h)
    assert_close(h_t, h_exp, "h_t")
    assert h_new is h_t


@pytest.mark.parametrize("cell_class", [rnnkit.RNNCell, rnnkit.LSTMCell, rnnkit.GRUCell])
def test_zero_state_by_default(cell_class):
    cell = cell_class(3, 5)
    x = torch.randn(2, 3)
    zeros = torch.zeros(2, 5)
    default = cell(x)[0]
    explicit = cell(x, (zeros, zeros) if cell_class is rnnkit.LSTMCell else zeros)[0]
    torch.testing.assert_close(default, explicit)


def test_initialisation_is_keras_like():
    cell = rnnkit.LSTMCell(6, 8)
    H = 8
    assert torch.all(cell.bias[H : 2 * H] == 1) and torch.all(cell.bias[:H] == 0)
    w = cell.weight_hh.detach()  # (4H, H) with orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(H), atol=1e-5, rtol=0)
    limit = (6 / (6 + 4 * H)) ** 0.5  # Glorot uniform over the whole (4H, E) kernel
    assert cell.weight_ih.abs().max() <= limit
    gru = rnnkit.GRUCell(3, 4)
    with torch.no_grad():
        gru.bias_hn.fill_(3.0)
    gru.reset_parameters()
    assert torch.all(gru.bias_hn == 0)
