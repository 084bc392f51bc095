"""The long-term dependency lab: adding-problem data, equal budgets, gradient probes, exploding demo."""

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.tasks import adding, exploding

CELLS = ("rnn", "lstm", "gru")


# -- data ----------------------------------------------------------------------------------------


def test_predicting_the_mean_gives_one_sixth():
    batch = adding.adding_batch(40_000, 10, torch.Generator().manual_seed(0))
    y = batch.y.double()
    # y = u_a + u_b: mean 1, variance 1/6; the estimate's standard error is about 0.001 here
    assert abs(y.mean().item() - 1.0) < 0.01
    assert abs(torch.mean((y - 1.0) ** 2).item() - adding.MEAN_BASELINE_MSE) < 0.005
    assert abs(torch.mean((y - y.mean()) ** 2).item() - 1 / 6) < 0.005


@pytest.mark.parametrize("T", [2, 7, 50])
def test_one_marker_in_each_half_and_the_target_is_their_sum(T):
    batch = adding.adding_batch(500, T, torch.Generator().manual_seed(1))
    numbers, markers = batch.x[..., 0], batch.x[..., 1]  # (B, T)
    assert batch.x.shape == (500, T, 2)
    assert ((numbers >= 0) & (numbers <= 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    half = T // 2
    assert (markers[:, :half].sum(1) == 1).all()
    assert (markers[:, half:].sum(1) == 1).all()
    torch.testing.assert_close(batch.y, (numbers * markers).sum(1))
    # both halves are used all over: every first-half position is marked somewhere in the batch
    assert (markers[:, :half].sum(0) > 0).all()


def test_online_batches_are_fresh_and_reproducible():
    a = adding.online_batches(3, 4, 12, seed=5)
    b = adding.online_batches(3, 4, 12, seed=5)
    for x, y in zip(a, b):
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)
    assert not torch.equal(a[0].x, a[1].x)
    assert not torch.equal(a[0].x, adding.online_batches(1, 4, 12, seed=6)[0].x)


def test_bad_lengths_and_settings_are_named():
    with pytest.raises(ValueError, match="T must be an int >= 2"):
        adding.adding_batch(4, 1)
    with pytest.raises(ValueError, match="steps must be a positive multiple of eval_every=100"):
        adding.AddingConfig(steps=150)
    with pytest.raises(ValueError, match="--cells must be a comma-separated list"):
        adding.parse_cells("lstm,transformer")


# -- equal parameter budgets ---------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", [1, 7, 32])
def test_parameter_formula_counts_the_model(cell, hidden):
    model = adding.AddingModel(cell, hidden)
    assert adding.count_parameters(cell, hidden) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("budget", [adding.AddingConfig().budget, 10_000, 17_217])
def test_hidden_sizes_for_a_budget_are_within_two_percent(budget):
    for cell in CELLS:
        H = adding.hidden_for_budget(cell, budget)
        count = adding.count_parameters(cell, H)
        assert abs(count - budget) / budget < 0.02, (cell, H, count)
        # and no neighbouring size is closer
        for other in (H - 1, H + 1):
            assert abs(adding.count_parameters(cell, other) - budget) >= abs(count - budget)


def test_default_budget_hidden_sizes():
    budget = adding.AddingConfig().budget
    assert [adding.hidden_for_budget(c, budget) for c in CELLS] == [65, 32, 37]
    assert [adding.count_parameters(c, h) for c, h in zip(CELLS, (65, 32, 37))] == [4486, 4513, 4515]


# -- gradient probes -----------------------------------------------------------------------------


def _step(cell, x_t, h, c):
    """The cell's equations written out again, so that a perturbation can enter c_t before h_t."""
    gates = x_t @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias
    H = cell.hidden_size
    if isinstance(cell, rnnkit.LSTMCell):
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return c, lambda c: torch.sigmoid(o) * torch.tanh(c)
    if isinstance(cell, rnnkit.GRUCell):
        gh = h @ cell.weight_hh.T
        gx = x_t @ cell.weight_ih.T + cell.bias
        r = torch.sigmoid(gx[:, :H] + gh[:, :H])
        z = torch.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gx[:, 2 * H :] + r * (gh[:, 2 * H :] + cell.bias_hn))
        return None, lambda _: (1 - z) * n + z * h
    return None, lambda _: torch.tanh(gates)


def _perturbed_gradients(model, batch):
    """An independent dL/dh_t (dL/dc_t): the gradient of L w.r.t. a zero perturbation added to h_t (c_t)."""
    model = model.double()
    cell = model.rnn.cells[0]
    x, y = batch.x.double(), batch.y.double()
    B, T, _ = x.shape
    H = cell.hidden_size
    eps_h = [torch.zeros(B, H, dtype=torch.float64, requires_grad=True) for _ in range(T)]
    eps_c = [torch.zeros(B, H, dtype=torch.float64, requires_grad=True) for _ in range(T)]
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        c, output = _step(cell, x[:, t], h, c)
        if c is not None:
            c = c + eps_c[t]  # h_t = o_t * tanh(c_t) sees the perturbed c_t
        h = output(c) + eps_h[t]
    loss = torch.sum((model.head(h).squeeze(1) - y) ** 2)
    is_lstm = model.cell == "lstm"
    grads = torch.autograd.grad(loss, eps_h + eps_c if is_lstm else eps_h)
    out = {"h": torch.stack(grads[:T])}
    if is_lstm:
        out["c"] = torch.stack(grads[T:])
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_state_gradients_equal_the_gradient_of_a_perturbation(cell):
    torch.manual_seed(3)
    model = adding.AddingModel(cell, 4)
    batch = adding.adding_batch(3, 6, torch.Generator().manual_seed(3))
    got = adding.state_gradients(model, batch)
    expected = _perturbed_gradients(model, batch)
    assert got.keys() == expected.keys()
    for name in got:
        assert got[name].shape == (6, 3, 4)
        torch.testing.assert_close(got[name], expected[name], rtol=1e-12, atol=1e-14)
        assert got[name][0].abs().max() > 1e-6  # the first step's gradient is not trivially zero
    norms = adding.hidden_gradients(model, batch)
    torch.testing.assert_close(norms["h"], expected["h"].norm(dim=2).mean(dim=1))


def test_rnn_state_gradients_follow_the_bptt_recurrence_in_numpy():
    torch.manual_seed(4)
    model = adding.AddingModel("rnn", 5).double()
    batch = adding.adding_batch(2, 8, torch.Generator().manual_seed(4))
    got = adding.state_gradients(model, batch)["h"].numpy()  # (T, B, H)
    cell = model.rnn.cells[0]
    W_hx, W_hh, b = (p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias))
    W_y, b_y = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
    x, y = batch.x.double().numpy(), batch.y.double().numpy()
    h = np.zeros((2, 5))
    hs = []
    for t in range(8):
        h = np.tanh(x[:, t] @ W_hx.T + h @ W_hh.T + b)
        hs.append(h)
    g = 2 * ((hs[-1] @ W_y.T + b_y)[:, 0] - y)[:, None] * W_y  # dL/dh_T: (B, H)
    expected = [g]
    for t in range(6, -1, -1):  # dL/dh_t = (dL/dh_{t+1} * (1 - h_{t+1}^2)) W_hh
        g = (g * (1 - hs[t + 1] ** 2)) @ W_hh
        expected.insert(0, g)
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-10, atol=1e-14)


def test_probe_leaves_the_model_untouched():
    model = adding.AddingModel("lstm", 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adding.hidden_gradients(model, adding.adding_batch(2, 5))
    assert all(p.grad is None and p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("cell", "gate"), [("rnn", 1.0), ("lstm", 1 / (1 + math.exp(-1))), ("gru", 0.5)])
def test_memory_statistics_read_the_gates(cell, gate):
    model = adding.AddingModel(cell, 3)
    # float32 orthogonal init and SVD: up to 4 ulps (4.8e-7) off 1 over 600 inits here, more elsewhere
    assert adding.memory_statistics(model, adding.adding_batch(4, 5))["w_hh_norm"] == pytest.approx(
        1.0, abs=1e-5
    )
    with torch.no_grad():  # zero weights: tanh' = 1, f = sigmoid(forget bias 1), z = sigmoid(0)
        model.rnn.cells[0].weight_ih.zero_()
        model.rnn.cells[0].weight_hh.zero_()
    stats = adding.memory_statistics(model, adding.adding_batch(4, 5))
    assert stats["mean_gate"] == pytest.approx(gate, abs=1e-5)
    assert stats["top_unit_gate"] == pytest.approx(gate, abs=1e-5)
    assert stats["w_hh_norm"] == 0.0


# -- exploding gradients ---------------------------------------------------------------------------


def test_exploding_without_clipping_and_bounded_with_it():
    """Only what survives a change of BLAS or thread count is asserted. The step at which the loss
    overflows, and whether the clipped run learns in its 300 steps, depend on rounding: nudging the
    initial weights by a relative 1e-7 (about one float32 ulp) moves the overflow between steps 28 and
    30 and leaves the mean of the clipped run's last 50 losses anywhere from 0.17 (the 1/6 of predicting
    the mean) to 1.45. What is asserted held for every nudge tried: the blow-up over 57 of 1e-7 to 1e-3
    (overflow at steps 26 to 60), the clipped run's bound over 60 of 1e-7 to 1e-5."""
    config = exploding.ExplodingConfig()
    runs = exploding.exploding(config)
    none, clipped = runs["none"], runs["clipped"]
    start = none["loss"][0]
    assert clipped["loss"][0] == pytest.approx(start, rel=1e-6)  # the same model and first batch
    assert none["grad_norm"][0] > 100  # the gradient is already large at initialisation (~1,400)
    # without clipping: the loss grows by orders of magnitude and overflows; the run stops there
    assert len(none["loss"]) <= 100 and not math.isfinite(none["loss"][-1])
    assert all(math.isfinite(v) for v in none["loss"][:-1])
    assert max(none["loss"][:-1]) > 1e20 * start  # 1e31 to 1e37 over the nudges
    # with clipping: every one of the 300 steps finite, the loss never far above where it started
    assert len(clipped["loss"]) == len(clipped["grad_norm"]) == config.steps
    assert all(math.isfinite(v) for v in clipped["loss"] + clipped["grad_norm"])
    assert max(clipped["loss"]) < 5 * start  # at most 2.5x over the nudges
    # deterministic with the seed (in one process, so with the same rounding): a shorter run is a prefix
    again = exploding.exploding(dataclasses.replace(config, steps=10))
    assert again["none"]["loss"] == none["loss"][:10] and again["clipped"]["loss"] == clipped["loss"][:10]


# -- training ----------------------------------------------------------------------------------------


def test_tiny_lstm_learns_the_adding_problem(tmp_path):
    config = adding.AddingConfig(
        T=10,
        budget=adding.count_parameters("lstm", 16),
        steps=400,
        eval_every=100,
        stop_mse=0.0,
        lr=1e-2,
        test_size=500,
    )
    result = adding.train_cell(config, "lstm", tmp_path / "lstm")
    assert result.curve[0][1] > 0.5  # at initialisation it predicts about 0, MSE about 1 + 1/6
    assert result.test_mse < 0.01  # far below the 0.167 of predicting the mean
    assert result.steps == 400 and [s for s, _ in result.curve] == [0, 100, 200, 300, 400]
    assert (tmp_path / "lstm" / "last.safetensors").is_file()
    trained = adding.load_trained(tmp_path / "lstm", "lstm", 16)
    test = adding.make_test_set(config)
    with torch.no_grad():
        mse = torch.mean((trained(test.x) - test.y) ** 2).item()
    assert mse == pytest.approx(result.test_mse, rel=1e-5)


# -- the command line --------------------------------------------------------------------------------


def test_cli_adding_and_gradients(tmp_path, capsys):
    out = tmp_path / "adding"
    args = ["--T", "6", "--steps", "20", "--eval-every", "10", "--cells", "rnn,lstm", "--budget", "300"]
    assert main(["lab", "adding", *args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rnn" in printed and "lstm" in printed and "1/6 = 0.1667" in printed
    results = json.loads((out / "results.json").read_text())
    assert [r["cell"] for r in results["results"]] == ["rnn", "lstm"]
    assert (out / "adding_T6.png").stat().st_size > 1000
    grads = tmp_path / "grads"
    assert main(["lab", "gradients", *args, "--from", str(out), "--batch", "8", "--out", str(grads)]) == 0
    assert "after training" in capsys.readouterr().out
    assert (grads / "gradients.png").is_file()


def test_cli_exploding(tmp_path, capsys):
    assert main(["lab", "exploding", "--steps", "100", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    # the step of the overflow depends on rounding (28 here); the report must match the table's row
    found = re.search(r"no clipping: loss became (inf|nan) at step (\d+)\n", printed)
    assert found, printed
    step = int(found[2])
    rows = {
        int(line.split("|")[0]): line for line in printed.splitlines() if line.split("|")[0].strip().isdigit()
    }
    assert step in rows and rows[step].split("|")[1].split() == [found[1], "-"]
    assert all("(stopped)" in row.split("|")[1] for s, row in rows.items() if s > step)
    assert all("(stopped)" not in row and "inf" not in row for s, row in rows.items() if s < step)
    assert "clipped: finite for all 100 steps" in printed
    assert (tmp_path / "exploding.png").is_file()


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["lab", "adding", "--cells", "lstm,cnn", "--out", str(tmp_path)]) == 2
    assert (
        "--cells must be a comma-separated list of rnn, lstm, gru, got 'lstm,cnn'" in capsys.readouterr().err
    )
    assert main(["lab", "adding", "--steps", "150", "--out", str(tmp_path)]) == 2
    assert "e.g. --steps 200" in capsys.readouterr().err
