"""Linear-chain conditional random field over right-padded batches: likelihood, log Z and Viterbi.

Shape glossary: B batch, T time (the padded length), K tags.

For one sentence of length ``n`` with emission scores ``E_t(y) = emissions[b, t, y]`` (from the
network below, e.g. a BiLSTM) and tags ``y_0 .. y_{n-1}``, the CRF scores the whole path

    score(y) = s_{y_0} + sum_{t=0}^{n-1} E_t(y_t) + sum_{t=1}^{n-1} A_{y_{t-1}, y_t} + e_{y_{n-1}}

with ``A = transitions`` (K, K), ``A[i, j]`` the score of going *from* tag i *to* tag j,
``s = start_transitions`` (K,) and ``e = end_transitions`` (K,). It is a distribution over paths:

    p(y) = exp(score(y)) / Z,        Z = sum over all K^n paths y' of exp(score(y'))

and ``crf(emissions, tags, lengths)`` returns the log-likelihood ``score(y) - log Z`` per sentence;
train on ``-crf(...).mean()``. ``log Z`` comes from the forward algorithm in log space:

    alpha_0(j) = s_j + E_0(j)
    alpha_t(j) = E_t(j) + logsumexp_i (alpha_{t-1}(i) + A_{ij})          t = 1 .. n-1
    log Z      = logsumexp_j (alpha_{n-1}(j) + e_j)

and :meth:`CRF.decode` finds ``argmax_y score(y)`` by Viterbi: the same recursion with ``max`` for
``logsumexp`` (``delta_t``), back-pointers ``psi_t(j) = argmax_i (delta_{t-1}(i) + A_{ij})``, then
``y_{n-1} = argmax_j (delta_{n-1}(j) + e_j)`` and ``y_{t-1} = psi_t(y_t)`` back to t = 0.

Padding: the sentences of a batch have their own lengths in [1, T]. Emissions at padded steps are
replaced by 0 before any arithmetic (inf or NaN there changes nothing and gets zero gradient); at a
padded step the recursion carries ``alpha`` (and ``delta``) unchanged with ``torch.where``, so after
the last step it holds each sentence's ``alpha_{n-1}``, and ``e`` is added once, at each sentence's
true end. The loops run over time only, vectorised over batch and tags, with no host sync inside;
the back-tracking is vectorised over the batch as well. The result equals running each sentence
alone, unpadded (tests/test_crf.py).

Transition constraints (:func:`bio_constraints`, :func:`iobes_constraints`) forbid some transitions
and some first and last tags. They apply at decoding (the forbidden scores become -inf, so Viterbi
never returns a forbidden path when an allowed one exists), as AllenNLP's ``allowed_transitions``
do. With ``constrain_training=True`` they also restrict ``log Z`` and the path score, with the
finite score ``-1e4`` rather than -inf: a logsumexp whose terms are all -inf has a NaN gradient,
while ``exp(-1e4)`` is exactly 0 in float32 and float64, so the sums are those over the allowed
paths for scores of any reasonable size, and a gold path that breaks a constraint gets a loss of
about 1e4 per broken transition instead of inf.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .masking import check_lengths

# A forbidden transition's score in the likelihood: exp(-1e4) underflows to exactly 0 (see above).
_FORBIDDEN_TRAINING = -1e4
# The tag that :meth:`CRF.viterbi` writes at padded steps: torch's default ignore_index.
PAD_TAG = -100


class TransitionConstraints(NamedTuple):
    """Which tag sequences are allowed: ``allowed[i, j]`` (K, K) whether tag j may follow tag i,
    ``start[j]`` (K,) whether a sentence may begin with j, ``end[i]`` (K,) whether it may end with i."""

    allowed: Tensor
    start: Tensor
    end: Tensor


def _parse_tags(tag_names: list[str], prefixes: str, scheme: str) -> list[tuple[str, str]]:
    """``["O", "B-PER"]`` -> ``[("O", ""), ("B", "PER")]``, rejecting names outside ``scheme``."""
    if not isinstance(tag_names, (list, tuple)) or not all(isinstance(n, str) for n in tag_names):
        raise TypeError(f"tag_names must be a list of str, got {type(tag_names).__name__}")
    if not tag_names:
        raise ValueError("tag_names must hold at least one tag, got an empty list")
    if len(set(tag_names)) != len(tag_names):
        duplicates = sorted({n for n in tag_names if tag_names.count(n) > 1})
        raise ValueError(f"tag_names must be distinct, got {duplicates} more than once")
    parsed = []
    for name in tag_names:
        prefix, _, label = name.partition("-")
        if name == "O":
            parsed.append(("O", ""))
        elif prefix in tuple(prefixes) and label:
            parsed.append((prefix, label))
        else:
            expected = " or ".join(f"'{p}-<label>'" for p in prefixes)
            raise ValueError(
                f"tag_names must follow the {scheme} scheme: 'O' or {expected}; got {name!r}. "
                "Map other labels (e.g. a padding tag) out of the tag set before building constraints."
            )
    return parsed


def bio_constraints(tag_names: list[str]) -> TransitionConstraints:
    """The BIO (IOB2) rules: ``I-X`` may only follow ``B-X`` or ``I-X``, so it cannot begin a
    sentence nor follow ``O``, ``B-Y`` or ``I-Y`` with Y != X. Everything else is allowed, and any
    tag may end a sentence. Tag names are ``'O'``, ``'B-<label>'``, ``'I-<label>'``; the label is
    everything after the first ``'-'`` (``'B-GPE-LOC'`` has label ``'GPE-LOC'``)."""
    tags = _parse_tags(tag_names, "BI", "BIO")
    K = len(tags)
    allowed = torch.ones(K, K, dtype=torch.bool)
    start = torch.ones(K, dtype=torch.bool)
    for j, (prefix_j, label_j) in enumerate(tags):
        if prefix_j == "I":
            start[j] = False
            for i, (prefix_i, label_i) in enumerate(tags):
                allowed[i, j] = prefix_i in ("B", "I") and label_i == label_j
    return TransitionConstraints(allowed, start, torch.ones(K, dtype=torch.bool))


def iobes_constraints(tag_names: list[str]) -> TransitionConstraints:
    """The IOBES (BIOES) rules: a span is ``S-X`` alone or ``B-X I-X* E-X``. So after ``O``,
    ``E-*`` or ``S-*`` (outside a span) come ``O``, ``B-*`` or ``S-*``; after ``B-X`` or ``I-X``
    (inside a span of X) come ``I-X`` or ``E-X``. A sentence begins outside a span and ends outside
    one: its first tag is ``O``, ``B-*`` or ``S-*``, its last ``O``, ``E-*`` or ``S-*``."""
    tags = _parse_tags(tag_names, "BIES", "IOBES")
    opens = torch.tensor([p in ("O", "B", "S") for p, _ in tags])  # (K,) may come when outside a span
    closes = torch.tensor([p in ("O", "E", "S") for p, _ in tags])  # (K,) leaves us outside a span
    allowed = closes[:, None] & opens[None, :]  # (K, K)
    for i, (prefix_i, label_i) in enumerate(tags):
        for j, (prefix_j, label_j) in enumerate(tags):
            if prefix_i in ("B", "I") and prefix_j in ("I", "E") and label_i == label_j:
                allowed[i, j] = True
    return TransitionConstraints(allowed, opens.clone(), closes.clone())


def mask_to_lengths(mask: Tensor) -> Tensor:
    """The (B,) lengths of a right-padded (B, T) boolean mask (True at real steps), which
    :class:`CRF` takes instead of a mask. Raises ValueError if a row is not right-padded."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
        got = f"{mask.dtype} tensor of shape {tuple(mask.shape)}" if isinstance(mask, Tensor) else mask
        raise TypeError(f"mask must be a 2-D bool tensor (B, T), got {got}")
    lengths = mask.sum(dim=1)  # (B,)
    prefix = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]  # (B, T)
    if not torch.equal(prefix, mask):
        row = int((prefix != mask).any(dim=1).nonzero()[0])
        raise ValueError(
            f"mask must be right-padded (each row True then False), but row {row} is "
            f"{mask[row].int().tolist()}; for left padding, flip the time dimension first"
        )
    return lengths


class CRF(nn.Module):
    """Linear-chain CRF over K tags (see the module doc for the equations).

    Parameters: ``transitions`` (K, K), ``A[i, j]`` from tag i to tag j; ``start_transitions`` (K,)
    and ``end_transitions`` (K,). All start at zero, where the CRF equals K-way softmax classifiers
    run on each token independently (log-likelihood = sum_t log_softmax(E_t)[y_t]): adding it to a
    tagger changes nothing until the transitions are learned, and nothing random is drawn.

    ``constraints``: a :class:`TransitionConstraints` or a (K, K) bool tensor ``allowed[i, j]``
    (then every first and last tag is allowed). Used by :meth:`decode` and, if
    ``constrain_training``, also by the likelihood. They are buffers outside the ``state_dict``:
    rebuild them from the tag names, which the task stores in its config.

    The arithmetic runs in the wider of the emissions' and the parameters' dtypes (float32 or
    float64), so bfloat16 emissions from autocast are scored in float32. ``lengths`` is a (B,)
    integer tensor or a list of ints in [1, T], or None for all T. Checking the arguments costs one
    host sync for tags on a GPU, none for lengths given as a list or a CPU tensor; the loops have none.
    """

    def __init__(
        self,
        num_tags: int,
        constraints: TransitionConstraints | Tensor | None = None,
        *,
        constrain_training: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(num_tags, int) or isinstance(num_tags, bool) or num_tags < 1:
            raise ValueError(f"num_tags must be a positive int, got {num_tags!r}")
        self.num_tags = num_tags
        self.constrain_training = bool(constrain_training)
        if constrain_training and constraints is None:
            raise ValueError("constrain_training=True needs constraints, got None; pass bio_constraints(...)")
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        parsed = self._check_constraints(constraints, "constraints")
        for name, value in zip(("allowed", "allowed_start", "allowed_end"), parsed or (None,) * 3):
            self.register_buffer(name, value, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.transitions, self.start_transitions, self.end_transitions):
            nn.init.zeros_(p)

    def extra_repr(self) -> str:
        constrained = (
            "none" if self.allowed is None else "training+decode" if self.constrain_training else "decode"
        )
        return f"num_tags={self.num_tags}, constraints={constrained}"

    # ---- the three quantities -------------------------------------------------------------------

    def forward(self, emissions: Tensor, tags: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        """Log-likelihood ``score(tags) - log Z`` per sentence, (B,). ``tags`` (B, T) are integer
        indices in [0, K) at real steps; padded steps may hold anything (e.g. -100)."""
        emissions, valid, lengths = self._check_inputs(emissions, lengths)
        tags = self._check_tags(tags, emissions, valid)
        start, A, end = self._potentials(self._training_constraints(), _FORBIDDEN_TRAINING, emissions)
        return _path_score(emissions, tags, valid, lengths, start, A, end) - _log_partition(
            emissions, valid, start, A, end
        )

    def score(self, emissions: Tensor, tags: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        """The unnormalised ``score(tags)`` per sentence, (B,), under the likelihood's constraints."""
        emissions, valid, lengths = self._check_inputs(emissions, lengths)
        tags = self._check_tags(tags, emissions, valid)
        start, A, end = self._potentials(self._training_constraints(), _FORBIDDEN_TRAINING, emissions)
        return _path_score(emissions, tags, valid, lengths, start, A, end)

    def log_partition(self, emissions: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
        """``log Z`` per sentence, (B,), by the forward algorithm."""
        emissions, valid, _ = self._check_inputs(emissions, lengths)
        start, A, end = self._potentials(self._training_constraints(), _FORBIDDEN_TRAINING, emissions)
        return _log_partition(emissions, valid, start, A, end)

    def viterbi(
        self,
        emissions: Tensor,
        lengths: Tensor | list[int] | None = None,
        *,
        constraints: TransitionConstraints | Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The best paths as a tensor, without leaving the device: ``paths`` (B, T) int64, with
        ``PAD_TAG`` (-100) at padded steps, and their scores (B,). ``constraints`` replace the
        module's for this call; forbidden paths score -inf. Not differentiable."""
        given = self._check_constraints(constraints, "constraints")
        given = given if given is not None else self._module_constraints()
        with torch.no_grad():
            emissions, valid, _ = self._check_inputs(emissions, lengths)
            start, A, end = self._potentials(given, float("-inf"), emissions)
            return _viterbi(emissions, valid, start, A, end)

    def decode(
        self,
        emissions: Tensor,
        lengths: Tensor | list[int] | None = None,
        *,
        constraints: TransitionConstraints | Tensor | None = None,
        return_scores: bool = False,
    ) -> list[list[int]] | tuple[list[list[int]], Tensor]:
        """The best tag path of each sentence, a list of B lists of ``lengths[b]`` ints, and with
        ``return_scores`` its score too, (B,). See :meth:`viterbi`, which this converts to lists."""
        paths, scores = self.viterbi(emissions, lengths, constraints=constraints)
        rows = paths.tolist()  # the one host sync
        decoded = [row[: row.index(PAD_TAG)] if PAD_TAG in row else row for row in rows]
        return (decoded, scores) if return_scores else decoded

    # ---- potentials and checks ------------------------------------------------------------------

    def _module_constraints(self) -> TransitionConstraints | None:
        if self.allowed is None:
            return None
        return TransitionConstraints(self.allowed, self.allowed_start, self.allowed_end)

    def _training_constraints(self) -> TransitionConstraints | None:
        return self._module_constraints() if self.constrain_training else None

    def _potentials(
        self, constraints: TransitionConstraints | None, forbidden: float, emissions: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(s, A, e)`` in the (promoted) emissions' dtype, ``forbidden`` where the constraints say no."""
        s, A, e = (
            p.to(emissions.dtype) for p in (self.start_transitions, self.transitions, self.end_transitions)
        )
        if constraints is None:
            return s, A, e
        allowed, allowed_start, allowed_end = (c.to(emissions.device) for c in constraints)
        return (
            torch.where(allowed_start, s, forbidden),
            torch.where(allowed, A, forbidden),
            torch.where(allowed_end, e, forbidden),
        )

    def _check_constraints(self, constraints: object, name: str) -> TransitionConstraints | None:
        K = self.num_tags
        if constraints is None:
            return None
        if isinstance(constraints, Tensor):
            ones = torch.ones(K, dtype=torch.bool, device=constraints.device)
            constraints = TransitionConstraints(constraints, ones, ones)
        if not isinstance(constraints, TransitionConstraints):
            raise TypeError(
                f"{name} must be a TransitionConstraints (e.g. bio_constraints(tag_names)) or a (K, K) "
                f"bool tensor, got {type(constraints).__name__}"
            )
        for field, value, shape in zip(constraints._fields, constraints, ((K, K), (K,), (K,))):
            if not isinstance(value, Tensor) or value.dtype != torch.bool or tuple(value.shape) != shape:
                got = f"{value.dtype} of shape {tuple(value.shape)}" if isinstance(value, Tensor) else value
                raise ValueError(
                    f"{name}.{field} must be a bool tensor of shape {shape} for num_tags={K}, got {got}; "
                    "build the constraints from the same tag list as the CRF"
                )
        return constraints

    def _check_inputs(self, emissions: object, lengths: object) -> tuple[Tensor, Tensor, Tensor]:
        """Validated ``emissions`` (B, T, K), ``valid`` (B, T) and ``lengths`` (B,) on their device."""
        if not isinstance(emissions, Tensor) or not emissions.is_floating_point():
            got = f"dtype {emissions.dtype}" if isinstance(emissions, Tensor) else type(emissions).__name__
            raise TypeError(f"emissions must be a float tensor (B, T, K), got {got}")
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags or emissions.shape[1] < 1:
            raise ValueError(
                f"emissions must have shape (B, T, K) with T >= 1 and K = num_tags = {self.num_tags} "
                f"(batch first), got {tuple(emissions.shape)}"
            )
        B, T, _ = emissions.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=emissions.device)
        else:
            # checked where the lengths live (no device sync for a list or a CPU tensor), then moved
            where = lengths.device if isinstance(lengths, Tensor) else torch.device("cpu")
            lengths = check_lengths(lengths, B, T, where).to(emissions.device, non_blocking=True)
        valid = torch.arange(T, device=emissions.device)[None, :] < lengths[:, None]  # (B, T)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        emissions = torch.where(valid[:, :, None], emissions.to(dtype), 0.0)  # no inf or NaN left
        return emissions, valid, lengths

    def _check_tags(self, tags: object, emissions: Tensor, valid: Tensor) -> Tensor:
        """``tags`` (B, T) int64, with 0 at padded steps; one host sync checks the range."""
        if (
            not isinstance(tags, Tensor)
            or tags.is_floating_point()
            or tags.is_complex()
            or tags.dtype == torch.bool
        ):
            got = f"dtype {tags.dtype}" if isinstance(tags, Tensor) else type(tags).__name__
            raise TypeError(
                f"tags must be an integer tensor (B, T) of tag indices, got {got}; pass tags.long()"
            )
        if tuple(tags.shape) != tuple(emissions.shape[:2]):
            raise ValueError(
                f"tags must have shape (B, T) = {tuple(emissions.shape[:2])} like emissions, "
                f"got {tuple(tags.shape)}"
            )
        if tags.device != emissions.device:
            raise ValueError(f"tags must be on the emissions' device {emissions.device}, got {tags.device}")
        tags = tags.long()
        bad = valid & ((tags < 0) | (tags >= self.num_tags))  # (B, T)
        if bad.any():
            b, t = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"tags must be in [0, K={self.num_tags}) at real steps (t < lengths[b]), got "
                f"tags[{b}, {t}] = {int(tags[b, t])}; only padded steps may hold other values (e.g. -100)"
            )
        return torch.where(valid, tags, 0)


# ---- the algorithms, on checked tensors -----------------------------------------------------------


def _path_score(
    E: Tensor, y: Tensor, valid: Tensor, lengths: Tensor, s: Tensor, A: Tensor, e: Tensor
) -> Tensor:
    """``score(y)`` (B,) for emissions ``E`` (B, T, K) zero at padding and tags ``y`` (B, T) in [0, K)."""
    emitted = E.gather(2, y[:, :, None]).squeeze(2).sum(dim=1)  # (B,): padded E are 0
    moved = torch.where(valid[:, 1:], A[y[:, :-1], y[:, 1:]], 0.0).sum(dim=1)  # (B,)
    last = y.gather(1, (lengths - 1)[:, None]).squeeze(1)  # (B,) y_{n-1}
    return s[y[:, 0]] + emitted + moved + e[last]


def _log_partition(E: Tensor, valid: Tensor, s: Tensor, A: Tensor, e: Tensor) -> Tensor:
    """``log Z`` (B,) by the forward algorithm; ``alpha`` is carried unchanged over padding."""
    alpha = s + E[:, 0]  # (B, K)
    for t in range(1, E.shape[1]):
        step = torch.logsumexp(alpha[:, :, None] + A, dim=1) + E[:, t]  # (B, K_prev, K) -> (B, K)
        alpha = torch.where(valid[:, t, None], step, alpha)
    return torch.logsumexp(alpha + e, dim=1)


def _viterbi(E: Tensor, valid: Tensor, s: Tensor, A: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
    """Best paths (B, T), ``PAD_TAG`` at padding, and their scores (B,)."""
    B, T, _ = E.shape
    delta = s + E[:, 0]  # (B, K)
    psi = []  # psi[t - 1] (B, K): the best previous tag for each tag at step t
    for t in range(1, T):
        best, argbest = (delta[:, :, None] + A).max(dim=1)  # (B, K_prev, K) -> (B, K)
        psi.append(argbest)
        delta = torch.where(valid[:, t, None], best + E[:, t], delta)
    scores, y = (delta + e).max(dim=1)  # (B,): y_{n-1}
    paths = torch.empty(B, T, dtype=torch.long, device=E.device)
    for t in range(T - 1, -1, -1):
        # at padding (t >= n) y stays y_{n-1}; from t = n - 1 down, y_{t-1} = psi_t(y_t)
        paths[:, t] = y
        if t > 0:
            y = torch.where(valid[:, t], psi[t - 1].gather(1, y[:, None]).squeeze(1), y)
    return paths.masked_fill_(~valid, PAD_TAG), scores
