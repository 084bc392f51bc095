"""Attention and search: masks, brute force on tiny cases, K=1 == greedy, batched == one at a time,
and the encoder-decoder's step-by-step decoding == its teacher-forced pass."""

import itertools

import pytest
import torch

from rnnkit.decode import beam_search, greedy_search, length_penalty
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.nn.attention import SCORES, Attention

BOS, EOS = 1, 2

# -- attention ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
def test_attention_is_zero_on_padding_sums_to_one_and_ignores_what_padding_holds(score):
    torch.manual_seed(0)
    B, S, Q = 3, 6, 8
    attention = Attention(Q, Q, score).double()
    values = torch.randn(B, S, Q, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(S)[None] < lengths[:, None]  # (B, S)
    query = torch.randn(B, 5, Q, dtype=torch.float64)
    context, weights = attention(query, attention.keys(values), values, mask)
    assert torch.all(weights[~mask[:, None, :].expand_as(weights)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, 5, dtype=torch.float64))
    # garbage in the padded positions changes nothing; each row alone, unpadded, gives the same
    noisy = torch.where(mask[..., None], values, torch.full_like(values, 1e6))
    context2, _ = attention(query, attention.keys(noisy), noisy, mask)
    torch.testing.assert_close(context2, context)
    for b, n in enumerate(lengths.tolist()):
        alone, w = attention(query[b : b + 1], attention.keys(values[b : b + 1, :n]), values[b : b + 1, :n],
                             torch.ones(1, n, dtype=torch.bool))  # fmt: skip
        torch.testing.assert_close(alone[0], context[b])
        torch.testing.assert_close(w[0], weights[b, :, :n])
    # a single step (B, Q) is the same as a (B, 1, Q) query
    one, w1 = attention(query[:, 0], attention.keys(values), values, mask)
    torch.testing.assert_close(one, context[:, 0])
    torch.testing.assert_close(w1, weights[:, 0])


def test_dot_attention_needs_equal_sizes():
    with pytest.raises(ValueError, match="query_size == value_size"):
        Attention(4, 6, "dot")


# -- search on a model whose probabilities we know --------------------------------------------------------


class Markov:
    """A step function from a table: log p(next | previous token, row's own table), V tokens."""

    def __init__(self, B: int, V: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.log_softmax(torch.randn(B, V, V, generator=generator, dtype=torch.float64) * 2, -1)

    def start(self):
        rows = torch.arange(len(self.table))
        return (rows,), None  # state: each row's sentence (selected along with the rows)

    def step(self, tokens, state, memory):
        (rows,) = state
        return self.table[rows, tokens], state, None

    def sequence_log_prob(self, b: int, tokens: list[int]) -> float:
        total, previous = 0.0, BOS
        for token in [*tokens]:
            total += float(self.table[b, previous, token])
            previous = token
        return total


def brute_force(markov: Markov, b: int, V: int, max_length: int, alpha: float) -> tuple[list[int], float]:
    """The best sequence ending in EOS within max_length, or cut at max_length, by exhaustion."""
    best, best_score = None, float("-inf")
    words = [v for v in range(V) if v != EOS]
    for n in range(0, max_length + 1):
        for body in itertools.product(words, repeat=n):
            if n == max_length:
                tokens, emitted = list(body), n  # cut at the limit: no end token
            elif n < max_length:
                tokens, emitted = [*body, EOS], n + 1
            score = markov.sequence_log_prob(b, tokens) / length_penalty(emitted, alpha)
            if score > best_score:
                best, best_score = list(body), score
    return best, best_score


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_a_beam_wide_enough_finds_the_exhaustive_best(alpha):
    B, V, T = 4, 4, 4
    markov = Markov(B, V, seed=1)
    state, memory = markov.start()
    found = beam_search(
        markov.step, state, memory, beam=V**T, bos=BOS, eos=EOS, max_lengths=torch.full((B,), T), alpha=alpha
    )
    for b in range(B):
        tokens, score = brute_force(markov, b, V, T, alpha)
        assert found[b].tokens == tokens
        assert found[b].score == pytest.approx(score)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_one_is_greedy_in_tokens_and_both_scores(alpha):
    """One definition of ``score`` for both searches: greedy is beam search with K = 1, so it
    reports the same length-normalised score, and ``log_prob`` is the raw sum of log-probabilities
    in both; each is checked against the Markov table."""
    B, V = 16, 7
    markov = Markov(B, V, seed=2)
    limits = torch.randint(1, 9, (B,), generator=torch.Generator().manual_seed(0))
    state, memory = markov.start()
    greedy = greedy_search(markov.step, state, memory, bos=BOS, eos=EOS, max_lengths=limits, alpha=alpha)
    one = beam_search(markov.step, state, memory, beam=1, bos=BOS, eos=EOS, max_lengths=limits, alpha=alpha)
    assert [h.tokens for h in one] == [h.tokens for h in greedy]
    for b in range(B):
        assert len(greedy[b].tokens) <= limits[b]
        ended = len(greedy[b].tokens) < limits[b]
        emitted = [*greedy[b].tokens, EOS] if ended else greedy[b].tokens
        log_prob = markov.sequence_log_prob(b, emitted)
        assert greedy[b].log_prob == pytest.approx(log_prob) == one[b].log_prob
        score = log_prob / length_penalty(len(emitted), alpha)
        assert greedy[b].score == pytest.approx(score) == one[b].score


def test_search_rejects_bad_arguments():
    markov = Markov(1, 4, seed=0)
    state, memory = markov.start()
    with pytest.raises(ValueError, match="beam must be >= 1"):
        beam_search(markov.step, state, memory, beam=0, bos=BOS, eos=EOS, max_lengths=torch.tensor([3]))
    with pytest.raises(ValueError, match="max_lengths must be >= 1"):
        greedy_search(markov.step, state, memory, bos=BOS, eos=EOS, max_lengths=torch.tensor([0]))


# -- the encoder-decoder --------------------------------------------------------------------------------

CONFIGS = {
    "gru-general": {},
    "lstm-additive-feeding": {"cell": "lstm", "attention": "additive", "input_feeding": True},
    "gru-dot-two-layers": {"attention": "dot", "decoder_size": 16, "decoder_layers": 2, "encoder_layers": 2},
}


def small_model(seed: int = 0, **changes) -> Seq2Seq:
    torch.manual_seed(seed)
    config = Seq2SeqConfig(
        source_vocab=11, target_vocab=9, embed_size=6, hidden_size=8, decoder_size=12, dropout=0.0
    )
    fields = {**config.__dict__, **changes}
    return Seq2Seq(Seq2SeqConfig(**fields)).double().eval()


def sources(B: int = 5, S: int = 7, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, S + 1, (B,), generator=generator)
    lengths[0] = S
    ids = torch.randint(3, 11, (B, S), generator=generator)
    return torch.where(torch.arange(S)[None] < lengths[:, None], ids, 0), lengths


@pytest.mark.parametrize("name", list(CONFIGS))
def test_step_by_step_equals_teacher_forcing(name):
    model = small_model(**CONFIGS[name])
    source, lengths = sources()
    target_in = torch.cat([torch.full((5, 1), BOS), torch.randint(3, 9, (5, 4))], dim=1)  # (B, T)
    logits = model(source, lengths, target_in)  # (B, T, V)
    memory, state = model.encode(source, lengths)
    for t in range(target_in.shape[1]):
        log_probs, state, weights = model.step(target_in[:, t], state, memory)
        torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1))
        assert torch.all(weights[torch.arange(7)[None] >= lengths[:, None]] == 0)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("beam", [1, 3])
def test_batched_translation_equals_one_sentence_at_a_time_padded_or_not(name, beam):
    model = small_model(seed=3, **CONFIGS[name])
    source, lengths = sources(B=6, seed=4)
    limits = lengths * 2 + 3

    def search(src, n, limit):
        memory, state = model.encode(src, n)
        if beam == 1:
            return greedy_search(model.step, state, memory, bos=BOS, eos=EOS, max_lengths=limit)
        return beam_search(model.step, state, memory, beam=beam, bos=BOS, eos=EOS, max_lengths=limit)

    batched = search(source, lengths, limits)
    for b in range(6):
        n = int(lengths[b])
        alone = search(source[b : b + 1, :n], lengths[b : b + 1], limits[b : b + 1])[0]
        assert alone.tokens == batched[b].tokens
        assert alone.score == pytest.approx(batched[b].score)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_greedy_and_beam_one_score_as_the_models_log_probs_say(name):
    """On the encoder-decoder: greedy == beam K = 1 in tokens, score and log_prob, and both numbers
    equal a recomputation from the model's teacher-forced log-probabilities of the tokens found."""
    alpha = 0.6
    model = small_model(seed=5, **CONFIGS[name])
    source, lengths = sources(B=6, seed=6)
    limits = lengths + 2
    memory, state = model.encode(source, lengths)
    greedy = greedy_search(model.step, state, memory, bos=BOS, eos=EOS, max_lengths=limits, alpha=alpha)
    memory, state = model.encode(source, lengths)
    one = beam_search(model.step, state, memory, beam=1, bos=BOS, eos=EOS, max_lengths=limits, alpha=alpha)
    for b, (g, o) in enumerate(zip(greedy, one)):
        assert g.tokens == o.tokens
        assert g.score == pytest.approx(o.score) and g.log_prob == pytest.approx(o.log_prob)
        ended = len(g.tokens) < limits[b]
        emitted = torch.tensor([*g.tokens, EOS] if ended else g.tokens)  # (n,)
        target_in = torch.cat([torch.tensor([BOS]), emitted[:-1]])[None]  # (1, n)
        n = int(lengths[b])
        with torch.no_grad():
            logits = model(source[b : b + 1, :n], lengths[b : b + 1], target_in)  # (1, n, V)
        log_prob = float(torch.log_softmax(logits[0], -1).gather(1, emitted[:, None]).sum())
        assert g.log_prob == pytest.approx(log_prob)
        assert g.score == pytest.approx(log_prob / length_penalty(len(emitted), alpha))


def test_tied_embeddings_share_one_parameter():
    tied, untied = small_model(tie_embeddings=True), small_model(tie_embeddings=False)
    assert tied.out.weight is tied.target_embed.weight
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == 9 * 6


def test_attention_learns_to_reverse_digit_strings():
    """The toy of examples/encoder_decoder.py, whose bottleneck fails long strings, with attention:
    every held-out string of 1 to 8 digits reversed exactly."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = Seq2SeqConfig(
        source_vocab=13, target_vocab=13, embed_size=32, hidden_size=32, decoder_size=64, dropout=0.0
    )
    model = Seq2Seq(config)
    generator = torch.Generator().manual_seed(0)

    def batch(size):
        lengths = torch.randint(1, 9, (size,), generator=generator)
        digits = torch.randint(3, 13, (size, 8), generator=generator)
        real = torch.arange(8)[None] < lengths[:, None]
        source = torch.where(real, digits, 0)
        target = torch.stack([torch.cat([row[:n].flip(0), row[n:]]) for row, n in zip(source, lengths)])
        return source, lengths, target

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    # 1,000 steps: at 700, one machine's kernels reached 500/500 and another's 495/500
    for _ in range(1000):
        source, lengths, target = batch(64)
        target_in = torch.cat([torch.full((64, 1), BOS), target], dim=1)
        target_out = torch.cat([target, torch.zeros(64, 1, dtype=torch.long)], dim=1)
        target_out[torch.arange(64), lengths] = EOS
        real = target_out != 0
        loss = torch.nn.functional.cross_entropy(
            model(source, lengths, target_in, where=real), target_out[real]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    source, lengths, target = batch(500)
    memory, state = model.encode(source, lengths)
    found = greedy_search(model.step, state, memory, bos=BOS, eos=EOS, max_lengths=lengths + 2)
    right = [h.tokens == target[b, : lengths[b]].tolist() for b, h in enumerate(found)]
    assert sum(right) == 500, f"{sum(right)}/500 reversed exactly"
