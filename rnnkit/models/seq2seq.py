"""The lecture's many-to-many with an encoder and a decoder, with attention (machine translation).

Encoder: source embeddings -> a bidirectional GRU/LSTM read with the source lengths (exact masking):
the outputs ``v_1 .. v_S`` (B, S, 2H), one per source token, and the final states of both
directions. Decoder: a unidirectional GRU/LSTM of size D started from ``tanh(W_b [h_fwd; h_bwd])``
(the bridge), reading the previous target token ``y_{t-1}``; at each step its state ``h_t`` attends
over the encoder outputs (:class:`rnnkit.nn.Attention`, masked at padded source positions)::

    c_t        = sum_s a_{t,s} v_s                       the context
    h~_t       = tanh(W_c [c_t; h_t])                   the attentional state (size E)
    p(y_t | .) = softmax(W_y h~_t + b_y)                 W_y tied to the target embeddings if asked

This is Luong et al.'s (2015) global attention. Without input feeding the decoder's recurrence does
not depend on the attention, so teacher forcing runs the whole target through the decoder in one
fused call and attends for all steps at once; with ``input_feeding`` (Luong's, and the classic
Bahdanau decoder's dependence of the recurrence on the attention) ``h~_{t-1}`` joins the decoder's
input and training runs step by step. ``attention="additive"`` is Bahdanau's score.

Shapes: B sentences, S source tokens, T target tokens, E embedding size, H encoder size per
direction, D decoder size, L decoder layers, V vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import check_choice, check_fraction
from ..errors import ConfigError
from ..nn import GRU, LSTM
from ..nn.attention import SCORES, Attention

CELLS = {"gru": GRU, "lstm": LSTM}


@dataclass
class Seq2SeqConfig:
    source_vocab: int = 0  # set from the tokenizers
    target_vocab: int = 0
    cell: str = "gru"  # "gru" | "lstm", encoder and decoder
    embed_size: int = 256  # E: embeddings and the attentional state h~
    hidden_size: int = 256  # H: the encoder, each direction
    decoder_size: int = 512  # D
    encoder_layers: int = 1
    decoder_layers: int = 1
    attention: str = "general"  # "dot" (needs D == 2H) | "general" | "additive" (Bahdanau)
    input_feeding: bool = False
    dropout: float = 0.2  # on embeddings, encoder outputs, h~, and between stacked layers
    tie_embeddings: bool = True  # W_y = the target embeddings
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        check_choice(self, "cell", CELLS)
        check_choice(self, "attention", SCORES)
        if self.attention == "dot" and self.decoder_size != 2 * self.hidden_size:
            raise ConfigError(
                f"attention='dot' needs decoder_size == 2 * hidden_size, got {self.decoder_size} and "
                f"{self.hidden_size}; use attention='general'"
            )
        check_fraction(self, "dropout")


class Seq2Seq(nn.Module):
    """``forward(source, source_lengths, target_in)`` -> logits (B, T, V) under teacher forcing;
    :meth:`encode`, :meth:`start` and :meth:`step` are what :mod:`rnnkit.decode` searches with."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if config.source_vocab < 3 or config.target_vocab < 3:
            raise ConfigError("source_vocab and target_vocab must be set (>= 3: <pad>, <s>, </s>)")
        self.config = c = config
        Layer = CELLS[c.cell]
        E, H, D, L = c.embed_size, c.hidden_size, c.decoder_size, c.decoder_layers
        self.source_embed = nn.Embedding(c.source_vocab, E, padding_idx=c.pad_id)
        self.target_embed = nn.Embedding(c.target_vocab, E, padding_idx=c.pad_id)
        between = c.dropout if c.encoder_layers > 1 else 0.0
        self.encoder = Layer(E, H, c.encoder_layers, bidirectional=True, dropout=between)
        states = 2 if c.cell == "lstm" else 1  # the bridge makes c_0 too for an LSTM
        self.bridge = nn.Linear(2 * H, states * L * D)
        between = c.dropout if L > 1 else 0.0
        self.decoder = Layer(E + (E if c.input_feeding else 0), D, L, dropout=between)
        self.attention = Attention(D, 2 * H, c.attention)
        self.combine = nn.Linear(2 * H + D, E)  # W_c
        self.out = nn.Linear(E, c.target_vocab)  # W_y, b_y
        if c.tie_embeddings:
            self.out.weight = self.target_embed.weight
        self.drop = nn.Dropout(c.dropout)
        # N(0, 1/E) embeddings: torch's N(0, 1) would give the tied output layer logits of standard
        # deviation ~sqrt(E/3) at the start (an initial loss far above log V); the padding row stays 0.
        for embed in (self.source_embed, self.target_embed):
            nn.init.normal_(embed.weight, std=E**-0.5)
            with torch.no_grad():
                embed.weight[c.pad_id].zero_()

    # -- the encoder ------------------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[tuple[Tensor, Tensor, Tensor], tuple]:
        """``source`` (B, S) ids, ``lengths`` (B,) -> the memory (values (B, S, 2H), keys, mask (B, S))
        and the decoder's first state (see :meth:`step`)."""
        lengths = lengths.cpu()
        S = source.shape[1]
        values, final = self.encoder(self.drop(self.source_embed(source)), lengths=lengths)  # (B, S, 2H)
        h_n = final[0] if isinstance(final, tuple) else final  # (layers*2, B, H)
        last = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H): forward at its last token, backward at 0
        B, L, D = source.shape[0], self.config.decoder_layers, self.config.decoder_size
        first = torch.tanh(self.bridge(last)).view(B, -1, L, D)  # (B, 1 or 2, L, D)
        h = first[:, 0]  # (B, L, D)
        c = first[:, 1] if self.config.cell == "lstm" else None
        feed = values.new_zeros(B, self.config.embed_size) if self.config.input_feeding else None
        mask = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
        values = self.drop(values)
        memory = (values, self.attention.keys(values), mask.to(source.device))
        return memory, (h, c, feed)

    # -- teacher forcing ---------------------------------------------------------------------------

    def forward(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor, where: Tensor | None = None
    ) -> Tensor:
        """Logits (B, T, V) of ``y_1 .. y_T`` given the source and ``target_in = <s> y_1 .. y_{T-1}``;
        with ``where`` (B, T) bool, only those positions' logits (N, V) (the output layer, the
        largest cost, is not spent on padding)."""
        h_tilde = self.attentional(source, source_lengths, target_in)[0]  # (B, T, E)
        if where is not None:
            h_tilde = h_tilde[where]  # (N, E)
        return self.out(self.drop(h_tilde))

    def attentional(self, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> tuple[Tensor, Tensor]:
        """The attentional states h~ (B, T, E) and the attention weights (B, T, S)."""
        (values, keys, mask), (h, c, feed) = self.encode(source, source_lengths)
        x = self.drop(self.target_embed(target_in))  # (B, T, E)
        if not self.config.input_feeding:
            # The decoder is causal: what follows a target's end never reaches its real steps.
            out, _ = self.decoder(x, state=self._rnn_state(h, c))  # (B, T, D)
            context, weights = self.attention(out, keys, values, mask)  # (B, T, 2H), (B, T, S)
            return torch.tanh(self.combine(torch.cat([context, out], dim=-1))), weights
        steps, all_weights = [], []
        state = (h, c, feed)
        for t in range(x.shape[1]):
            h_tilde, weights, state = self._decode_step(x[:, t], state, (values, keys, mask))
            steps.append(h_tilde)
            all_weights.append(weights)
        return torch.stack(steps, dim=1), torch.stack(all_weights, dim=1)

    # -- one step at a time (decoding) --------------------------------------------------------------

    def step(
        self, tokens: Tensor, state: tuple, memory: tuple[Tensor, Tensor, Tensor]
    ) -> tuple[Tensor, tuple, Tensor]:
        """``tokens`` (N,) -> log-probabilities (N, V) of the next token, the new state, and the
        attention weights (N, S). ``state`` is ``(h, c, feed)``, batch first: h (N, L, D), c the
        LSTM's cell (N, L, D) or None, feed h~_{t-1} (N, E) with input feeding or None."""
        h_tilde, weights, state = self._decode_step(self.drop(self.target_embed(tokens)), state, memory)
        logits = self.out(self.drop(h_tilde))  # (N, V)
        return (
            torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1),
            state,
            weights,
        )

    def _decode_step(self, x: Tensor, state: tuple, memory: tuple) -> tuple[Tensor, Tensor, tuple]:
        values, keys, mask = memory
        h, c, feed = state
        if feed is not None:
            x = torch.cat([x, feed], dim=-1)  # (N, 2E)
        out, new = self.decoder.step(x, self._rnn_state(h, c))  # (N, D)
        context, weights = self.attention(out, keys, values, mask)  # (N, 2H), (N, S)
        h_tilde = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))  # (N, E)
        if isinstance(new, tuple):
            h, c = new[0].transpose(0, 1), new[1].transpose(0, 1)  # (L, N, D) -> (N, L, D)
        else:
            h = new.transpose(0, 1)
        return h_tilde, weights, (h, c, h_tilde if feed is not None else None)

    def _rnn_state(self, h: Tensor, c: Tensor | None):
        h = h.transpose(0, 1).contiguous()  # (N, L, D) -> (L, N, D), the layers' order
        return (h, c.transpose(0, 1).contiguous()) if c is not None else h


__all__ = ["CELLS", "Seq2Seq", "Seq2SeqConfig"]
