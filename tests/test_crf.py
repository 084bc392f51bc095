"""The CRF against brute force over every tag path, padded batches against each sentence alone."""

import copy
import itertools
import math

import pytest
import torch
from torch.func import functional_call

from rnnkit.nn.crf import (
    CRF,
    PAD_TAG,
    TransitionConstraints,
    bio_constraints,
    iobes_constraints,
    mask_to_lengths,
)

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
IOBES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def random_crf(K, seed=0, **kwargs):
    """A float64 CRF with random (not zero) transitions, so that every term of the score counts."""
    torch.manual_seed(seed)
    crf = CRF(K, **kwargs).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def padded_batch(lengths, K, seed=0, garbage=float("nan")):
    """Emissions (B, T, K) float64 and tags (B, T), with ``garbage`` and -100 at padded steps."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    emissions = torch.randn(B, T, K, generator=g, dtype=torch.float64)
    tags = torch.randint(K, (B, T), generator=g)
    for b, n in enumerate(lengths):
        emissions[b, n:] = garbage
        tags[b, n:] = -100
    return emissions, tags


# ---- brute force: the definitions, in plain Python over all K^n paths -------------------------------


def brute_score(crf, E, path):
    """score(y) = s_{y_0} + sum_t E_t(y_t) + sum_t A_{y_{t-1} y_t} + e_{y_{n-1}} for one sentence."""
    s, A, e = crf.start_transitions, crf.transitions, crf.end_transitions
    total = s[path[0]] + e[path[-1]]
    for t, y in enumerate(path):
        total = total + E[t, y]
        if t > 0:
            total = total + A[path[t - 1], y]
    return total


def valid_path(path, constraints):
    allowed, start, end = constraints
    return bool(start[path[0]] and end[path[-1]] and all(allowed[i, j] for i, j in itertools.pairwise(path)))


def all_paths(K, n, constraints=None):
    paths = itertools.product(range(K), repeat=n)
    return [p for p in paths if constraints is None or valid_path(p, constraints)]


def brute_log_z(crf, E, constraints=None):
    n, K = E.shape
    return torch.logsumexp(torch.stack([brute_score(crf, E, p) for p in all_paths(K, n, constraints)]), 0)


def brute_best(crf, E, constraints=None):
    n, K = E.shape
    scores = {p: brute_score(crf, E, p).item() for p in all_paths(K, n, constraints)}
    best = max(scores, key=scores.get)
    return list(best), scores[best]


# ---- numbers against brute force -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_partition_and_likelihood_equal_brute_force(seed):
    K, lengths = 3, [4, 1, 3, 2]
    crf = random_crf(K, seed)
    emissions, tags = padded_batch(lengths, K, seed)
    log_z = crf.log_partition(emissions, lengths)
    likelihood = crf(emissions, tags, lengths)
    for b, n in enumerate(lengths):
        expected_log_z = brute_log_z(crf, emissions[b, :n])
        torch.testing.assert_close(log_z[b], expected_log_z, rtol=0, atol=1e-12)
        expected = brute_score(crf, emissions[b, :n], tags[b, :n].tolist()) - expected_log_z
        torch.testing.assert_close(likelihood[b], expected, rtol=0, atol=1e-12)


def test_likelihood_sums_to_one_over_all_paths():
    K, n = 3, 4
    crf = random_crf(K)
    E = torch.randn(1, n, K, dtype=torch.float64)
    paths = torch.tensor(all_paths(K, n))  # (K^n, n): every path, as a batch of one sentence each
    likelihood = crf(E.expand(len(paths), -1, -1), paths)
    torch.testing.assert_close(likelihood.exp().sum(), torch.tensor(1.0, dtype=torch.float64))


def test_zero_transitions_equal_independent_softmax_per_token():
    """At initialisation (all transitions zero) the CRF is K-way softmax on each token alone."""
    K, lengths = 4, [3, 5, 1]
    crf = CRF(K).double()
    assert all(torch.all(p == 0) for p in crf.parameters())
    emissions, tags = padded_batch(lengths, K)
    likelihood = crf(emissions, tags, lengths)
    for b, n in enumerate(lengths):
        expected = emissions[b, :n].log_softmax(-1).gather(1, tags[b, :n, None]).sum()
        torch.testing.assert_close(likelihood[b], expected)


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_equals_brute_force_argmax(seed):
    K, lengths = 3, [4, 2, 1, 3]
    crf = random_crf(K, seed)
    emissions, _ = padded_batch(lengths, K, seed)
    decoded, scores = crf.decode(emissions, lengths, return_scores=True)
    for b, n in enumerate(lengths):
        best, best_score = brute_best(crf, emissions[b, :n])
        assert decoded[b] == best
        assert scores[b].item() == pytest.approx(best_score, abs=1e-12)
    paths, _ = crf.viterbi(emissions, lengths)
    torch.testing.assert_close(crf.score(emissions, paths, lengths), scores)  # PAD_TAG ignored
    for b, n in enumerate(lengths):
        assert paths[b, n:].eq(PAD_TAG).all()


@pytest.mark.parametrize("seed", range(3))
def test_bio_constrained_viterbi_and_training_equal_brute_force_over_allowed_paths(seed):
    K, lengths = len(BIO), [4, 3, 1, 2]
    constraints = bio_constraints(BIO)
    crf = random_crf(K, seed, constraints=constraints, constrain_training=True)
    emissions, _ = padded_batch(lengths, K, seed)
    emissions[:, :, [2, 4]] += 3.0  # favour I-*: the unconstrained best path is mostly invalid
    decoded, scores = crf.decode(emissions, lengths, return_scores=True)
    log_z = crf.log_partition(emissions, lengths)
    for b, n in enumerate(lengths):
        best, best_score = brute_best(crf, emissions[b, :n], constraints)
        assert decoded[b] == best
        assert scores[b].item() == pytest.approx(best_score, abs=1e-12)
        torch.testing.assert_close(log_z[b], brute_log_z(crf, emissions[b, :n], constraints))
    unconstrained = CRF(K).double()
    unconstrained.load_state_dict(crf.state_dict())  # the constraints are not in the state_dict
    assert set(crf.state_dict()) == {"transitions", "start_transitions", "end_transitions"}
    assert any(not valid_path(p, constraints) for p in unconstrained.decode(emissions, lengths))


def test_constrained_training_has_finite_gradients_and_zero_for_forbidden_transitions():
    constraints = bio_constraints(BIO)
    crf = random_crf(len(BIO), constraints=constraints, constrain_training=True)
    emissions, _ = padded_batch([4, 2], len(BIO))
    emissions.requires_grad_()
    tags = torch.tensor([[1, 2, 0, 3], [0, 3, PAD_TAG, PAD_TAG]])
    crf(emissions, tags, [4, 2]).sum().backward()
    grads = [emissions.grad, *(p.grad for p in crf.parameters())]
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.all(crf.transitions.grad[~constraints.allowed] == 0)
    assert torch.all(crf.start_transitions.grad[~constraints.start] == 0)
    # a gold path that breaks a constraint (O -> I-PER) costs about 1e4, not inf
    broken = crf(emissions.detach(), torch.tensor([[0, 2, 0, 0], [0, 0, 0, 0]]), [4, 2])
    assert -1.1e4 < broken[0] < -0.9e4 and broken[1] > -100


def test_gradient_of_log_z_is_the_marginals():
    """d log Z / d E_t(k) = p(y_t = k) and d log Z / d A_ij = expected count of i -> j."""
    K, n = 3, 4
    crf = random_crf(K)
    E = torch.randn(1, n, K, dtype=torch.float64, requires_grad=True)
    crf.log_partition(E).sum().backward()
    log_z = brute_log_z(crf, E[0].detach())
    marginals = torch.zeros(n, K, dtype=torch.float64)
    counts = torch.zeros(K, K, dtype=torch.float64)
    with torch.no_grad():
        for path in all_paths(K, n):
            p = (brute_score(crf, E[0], path) - log_z).exp()
            for t, y in enumerate(path):
                marginals[t, y] += p
                if t > 0:
                    counts[path[t - 1], y] += p
    torch.testing.assert_close(E.grad[0], marginals)
    torch.testing.assert_close(crf.transitions.grad, counts)


# ---- padding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_padded_batch_equals_each_sentence_alone(garbage):
    K, lengths = 4, [5, 1, 3, 5, 2]
    crf = random_crf(K, constraints=bio_constraints(["O", "B-X", "I-X", "B-Y"]))
    emissions, tags = padded_batch(lengths, K, garbage=garbage)
    emissions.requires_grad_()
    log_z = crf.log_partition(emissions, torch.tensor(lengths))
    likelihood = crf(emissions, tags, lengths)
    likelihood.sum().backward()
    grads = {name: p.grad.clone() for name, p in crf.named_parameters()}
    decoded = crf.decode(emissions, lengths)
    assert torch.isfinite(emissions.grad).all() and torch.all(emissions.grad[torch.isnan(emissions)] == 0)

    summed = {name: torch.zeros_like(g) for name, g in grads.items()}
    for b, n in enumerate(lengths):
        crf.zero_grad()
        alone = emissions.detach()[b : b + 1, :n].clone().requires_grad_()
        torch.testing.assert_close(crf.log_partition(alone)[0], log_z[b])
        ll = crf(alone, tags[b : b + 1, :n])
        torch.testing.assert_close(ll[0], likelihood[b])
        ll.sum().backward()
        torch.testing.assert_close(alone.grad[0], emissions.grad[b, :n])
        assert torch.all(emissions.grad[b, n:] == 0)
        assert crf.decode(alone) == [decoded[b]]
        for name, p in crf.named_parameters():
            summed[name] += p.grad
    for name in grads:
        torch.testing.assert_close(grads[name], summed[name])


def test_gradcheck_log_likelihood():
    K, lengths = 3, [3, 1, 2]
    crf = random_crf(K)
    emissions, tags = padded_batch(lengths, K, garbage=0.0)
    params = {name: p.detach().clone().requires_grad_() for name, p in crf.named_parameters()}
    names = list(params)

    def likelihood(E, *values):
        return functional_call(crf, dict(zip(names, values)), (E, tags, lengths))

    assert torch.autograd.gradcheck(likelihood, (emissions.requires_grad_(), *params.values()))


def test_float32_no_grad_and_lengths_forms():
    K = 3
    crf = random_crf(K).float()
    emissions, tags = padded_batch([3, 2], K)
    emissions = emissions.float()
    with torch.no_grad():
        ll = crf(emissions, tags, torch.tensor([3, 2], dtype=torch.int32))
        decoded, scores = crf.decode(emissions, [3, 2], return_scores=True)
    assert ll.dtype == scores.dtype == torch.float32 and not ll.requires_grad
    assert [len(p) for p in decoded] == [3, 2]
    full = emissions[:, :2]
    torch.testing.assert_close(crf.log_partition(full), crf.log_partition(full, [2, 2]))


def test_bfloat16_emissions_are_scored_in_the_parameters_dtype():
    crf = random_crf(3).float()
    emissions = torch.randn(2, 3, 3).bfloat16()
    log_z = crf.log_partition(emissions, [3, 2])
    assert log_z.dtype == torch.float32
    torch.testing.assert_close(log_z, crf.log_partition(emissions.float(), [3, 2]))


# ---- constraints ---------------------------------------------------------------------------------


def test_bio_constraints_on_tricky_names():
    names = ["O", "B-PER", "I-PER", "B-PERS", "I-PERS", "B-GPE-LOC", "I-GPE-LOC"]
    allowed, start, end = bio_constraints(names)
    index = {name: i for i, name in enumerate(names)}

    def ok(a, b):
        return bool(allowed[index[a], index[b]])

    assert ok("B-PER", "I-PER") and ok("I-PER", "I-PER") and ok("B-GPE-LOC", "I-GPE-LOC")
    assert not ok("O", "I-PER") and not ok("B-PERS", "I-PER") and not ok("I-PER", "I-PERS")
    assert not ok("B-GPE-LOC", "I-PER") and not ok("I-PER", "I-GPE-LOC")
    assert ok("I-PER", "O") and ok("I-PER", "B-PER") and ok("O", "B-PERS") and ok("I-PERS", "B-PER")
    assert start.tolist() == [True, True, False, True, False, True, False]
    assert end.all()
    assert allowed.sum() == 7 * 7 - 3 * (7 - 2)  # each I-X column: only B-X and I-X


def spans_are_iobes(names):
    """The reference rule: a sentence is a sequence of O and spans ``S-X`` or ``B-X I-X* E-X``."""
    inside = None
    for name in names:
        prefix, _, label = name.partition("-")
        if inside is None and prefix in ("O", "S"):
            continue
        if inside is None and prefix == "B":
            inside = label
        elif inside == label and prefix == "I":
            continue
        elif inside == label and prefix == "E":
            inside = None
        else:
            return False
    return inside is None


def test_iobes_constraints_allow_exactly_the_well_formed_sequences():
    constraints = iobes_constraints(IOBES)
    for n in (1, 2, 3):
        for path in itertools.product(range(len(IOBES)), repeat=n):
            assert valid_path(path, constraints) == spans_are_iobes([IOBES[i] for i in path]), path


def test_bio_constraints_allow_exactly_the_well_formed_sequences():
    constraints = bio_constraints(BIO)
    for n in (1, 2, 3):
        for path in itertools.product(range(len(BIO)), repeat=n):
            names = ["O", *(BIO[i] for i in path)]
            well_formed = all(
                not b.startswith("I-") or (a[2:] == b[2:] and a[0] in "BI")
                for a, b in itertools.pairwise(names)
            )
            assert valid_path(path, constraints) == well_formed, path


@pytest.mark.parametrize(("names", "build"), [(BIO, bio_constraints), (IOBES, iobes_constraints)])
def test_constrained_decode_never_outputs_an_invalid_sequence(names, build):
    K, lengths = len(names), [7, 1, 4, 6, 2, 7, 3, 5]
    constraints = build(names)
    crf = random_crf(K)
    with torch.no_grad():
        crf.transitions.mul_(20)  # large scores that argue for forbidden paths
        crf.start_transitions.mul_(20)
    emissions, _ = padded_batch(lengths, K)
    decoded = crf.decode(emissions * 50, lengths, constraints=constraints)
    assert all(valid_path(p, constraints) for p in decoded)
    assert [len(p) for p in decoded] == lengths
    assert not all(valid_path(p, constraints) for p in crf.decode(emissions * 50, lengths))
    # a (K, K) tensor alone constrains transitions only
    decoded = crf.decode(emissions, lengths, constraints=constraints.allowed)
    assert all(constraints.allowed[i, j] for p in decoded for i, j in itertools.pairwise(p))


# ---- learning ------------------------------------------------------------------------------------


def make_span_task(batch, T, seed):
    """Tags O=0, B=1, I=2 and words 0 ("the", tag O), 1 ("mr", tag B) and 2 ("smith", half the
    words): tag I inside a span (after B or I) and O outside one. The emissions see one word, so
    they cannot tell the tag of "smith": the transitions must. (The task is one that a linear-chain
    CRF can fit exactly; a tag that cycles k -> k+1 on a repeated word, with fixed tags in between,
    is not: the best two-step path from k to k+1 cannot always pass through k+1.)"""
    g = torch.Generator().manual_seed(seed)
    words = torch.where(torch.rand(batch, T, generator=g) < 0.5, 2, torch.randint(2, (batch, T), generator=g))
    tags = torch.empty_like(words)
    previous = torch.zeros(batch, dtype=torch.long)
    for t in range(T):
        inside = torch.where(previous > 0, 2, 0)  # (B,): I after B or I, else O
        tags[:, t] = torch.where(words[:, t] == 2, inside, words[:, t])
        previous = tags[:, t]
    return words, tags, torch.randint(1, T + 1, (batch,), generator=g)


def test_learns_a_tagging_task_that_needs_the_transitions():
    K, T = 3, 8
    words, tags, lengths = make_span_task(64, T, seed=0)
    emission_model = torch.nn.Embedding(3, K)  # a linear layer over one-hot words
    crf = CRF(K)
    optimizer = torch.optim.Adam([*emission_model.parameters(), *crf.parameters()], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        loss = -crf(emission_model(words), tags, lengths).mean()
        loss.backward()
        optimizer.step()
    A = crf.transitions.detach()
    assert A[0].argmin() == 2 and crf.start_transitions.argmin() == 2  # no I outside a span
    assert A[1, 2] > A[1, 0] and A[2, 2] > A[2, 0]  # "smith" continues a span

    test_words, test_tags, test_lengths = make_span_task(256, T, seed=1)
    expected = [row[:n] for row, n in zip(test_tags.tolist(), test_lengths.tolist())]
    with torch.no_grad():
        assert crf.decode(emission_model(test_words), test_lengths) == expected
        for p in crf.parameters():
            p.zero_()
        without = crf.decode(emission_model(test_words), test_lengths)
    right = sum(a == b for p, q in zip(without, expected) for a, b in zip(p, q))
    assert right / sum(map(len, expected)) < 0.9, "without its transitions the model fails on 'smith'"


# ---- helpers and errors --------------------------------------------------------------------------


def test_mask_to_lengths():
    mask = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    assert mask_to_lengths(mask).tolist() == [2, 3, 1]
    with pytest.raises(ValueError, match=r"mask must be right-padded .* row 1 is \[0, 1, 1\]"):
        mask_to_lengths(torch.tensor([[True, False, False], [False, True, True]]))
    with pytest.raises(TypeError, match="mask must be a 2-D bool tensor"):
        mask_to_lengths(torch.ones(2, 3))


def test_constraints_are_buffers_that_follow_the_module():
    crf = CRF(len(BIO), bio_constraints(BIO)).double()
    assert crf.allowed.dtype == torch.bool and "decode" in repr(crf)
    assert dict(crf.named_buffers()).keys() == {"allowed", "allowed_start", "allowed_end"}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda crf, E, y: crf(E.long(), y),
            TypeError,
            r"emissions must be a float tensor .* got dtype torch.int64",
        ),
        (lambda crf, E, y: crf(E[0], y), ValueError, r"emissions must have shape \(B, T, K\).* got \(3, 4\)"),
        (lambda crf, E, y: crf(E[..., :2], y), ValueError, r"K = num_tags = 4 .* got \(2, 3, 2\)"),
        (lambda crf, E, y: crf(E, y.float()), TypeError, r"tags must be an integer tensor .*torch.float32"),
        (
            lambda crf, E, y: crf(E, y[:, :2]),
            ValueError,
            r"tags must have shape \(B, T\) = \(2, 3\).* \(2, 2\)",
        ),
        (lambda crf, E, y: crf(E, y + 4), ValueError, r"tags must be in \[0, K=4\) .* tags\[0, 0\] = 4"),
        (lambda crf, E, y: crf(E, y, [3, 4]), ValueError, r"every length must be in \[1, T=3\]"),
        (lambda crf, E, y: crf(E, y, [3, 0]), ValueError, r"every length must be in \[1, T=3\]"),
        (lambda crf, E, y: crf(E, y, [3]), ValueError, r"lengths must be 1-D of size B=2"),
        (
            lambda crf, E, y: crf(E, y, torch.tensor([3.0, 2.0])),
            TypeError,
            r"lengths must .*integer.*got dtype torch.float32",
        ),
        (
            lambda crf, E, y: crf.decode(E, constraints=bio_constraints(BIO)),
            ValueError,
            r"constraints.allowed must be a bool tensor of shape \(4, 4\) for num_tags=4, got .* \(5, 5\)",
        ),
        (
            lambda crf, E, y: crf.decode(E, constraints="BIO"),
            TypeError,
            r"constraints must be a TransitionConstraints",
        ),
    ],
)
def test_errors_name_the_argument_the_expected_and_the_received(call, error, match):
    crf = CRF(4)
    E = torch.randn(2, 3, 4)
    y = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(error, match=match):
        call(crf, E, y)


def test_padded_tags_may_hold_anything_but_real_ones_are_checked():
    crf = CRF(4)
    E = torch.randn(2, 3, 4)
    y = torch.tensor([[0, 1, 2], [3, -100, 7]])
    assert torch.isfinite(crf(E, y, [3, 1])).all()
    with pytest.raises(ValueError, match=r"tags\[1, 1\] = -100"):
        crf(E, y, [3, 2])


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["O", "PER"], r"BIO scheme: 'O' or 'B-<label>' or 'I-<label>'; got 'PER'"),
        (["O", "B-"], r"got 'B-'"),
        (["O", "-PER"], r"got '-PER'"),
        (["O", "E-PER"], r"got 'E-PER'"),
        (["O", "B-X", "O"], r"tag_names must be distinct, got \['O'\]"),
        ([], r"at least one tag"),
    ],
)
def test_bad_tag_names(names, match):
    with pytest.raises(ValueError, match=match):
        bio_constraints(names)


def test_constructor_errors():
    with pytest.raises(ValueError, match="num_tags must be a positive int, got 0"):
        CRF(0)
    with pytest.raises(ValueError, match="constrain_training=True needs constraints"):
        CRF(3, constrain_training=True)
    with pytest.raises(ValueError, match=r"constraints.start must be a bool tensor of shape \(3,\)"):
        CRF(3, TransitionConstraints(torch.ones(3, 3, dtype=torch.bool), torch.ones(3), torch.ones(3)))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_equals_cpu(dtype, device="cuda"):
    K, lengths = len(BIO), [6, 1, 4]
    crf = random_crf(K, constraints=bio_constraints(BIO)).to(dtype)
    emissions, tags = padded_batch(lengths, K)
    emissions = emissions.to(dtype)
    results = []
    for module, E, y in (
        (crf, emissions, tags),
        (copy.deepcopy(crf).to(device), emissions.to(device), tags.to(device)),
    ):
        E = E.clone().requires_grad_()
        ll = module(E, y, lengths)
        ll.sum().backward()
        results.append((ll.detach().cpu(), E.grad.cpu(), module.decode(E, torch.tensor(lengths))))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]
    assert math.isfinite(results[1][0].sum())


@cuda
def test_cuda_log_partition_and_viterbi_do_not_sync_the_host():
    crf = random_crf(len(BIO), constraints=bio_constraints(BIO)).float().cuda()
    emissions = torch.randn(4, 6, len(BIO), device="cuda", requires_grad=True)
    lengths = torch.tensor([6, 1, 4, 2])  # on the CPU, where a DataLoader leaves them
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        crf.log_partition(emissions, lengths).sum().backward()
        paths, _ = crf.viterbi(emissions, lengths)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert paths.is_cuda and emissions.grad.isfinite().all()
