"""The translation peer, side by side: a ``torch.nn.Transformer`` against our RNN, same wall clock.

An encoder-decoder Transformer (pre-norm, sinusoidal positions, tied target embedding and output
layer, dropout 0.1, label smoothing 0.1) of about the RNN's parameter count (d_model 192, 4 heads,
3 + 3 layers, feed-forward 512: 4.83M against the fast preset's 4.72M) learns the same Tatoeba pairs
with the same tokenizers, batches and loss (``translate.make_step``) for ``--minutes`` of wall clock,
validation included: Adam (0.9, 0.98) with a linear warm-up over the first 5% of the budget, then
a cosine decay to 0 at the end of it. Every ``--validate-every`` minutes it translates the
validation split greedily and scores BLEU (``corpus_scores``), started early enough to end by the
mark (the last mark is the budget), keeping the best weights, which then translate the test split.

The RNN is not retrained: ``--rnn-run`` is a finished (or still running) ``rnnkit translate train``
run whose tokenizers the Transformer reuses and whose ``history.json`` (one validation per epoch)
and ``results.json`` give the RNN's columns. Without it, tokenizers are trained on the training
split with the pair's preset vocabulary sizes and only the Transformer is reported.

    python benchmarks/translate_peer.py --data ../shared/data --rnn-run runs/translate-fast --minutes 30

Prints a table (parameters, epochs, best validation BLEU, test BLEU, best validation BLEU reached
by 5/10/20/30 minutes) and writes the JSON given by ``--out`` and a PNG of both curves beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit import tune_allocator
from rnnkit.decode import greedy_search
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks import translate as task
from rnnkit.tasks.translate.data import PairDataset, Tokenizers, encode_pairs
from rnnkit.tasks.translate.translator import DECODE_TOKENS, GREEDY_BATCH
from rnnkit.train import resolve_device, seed_everything
from rnnkit.train.plots import save_png

MILESTONES = (5.0, 10.0, 20.0, 30.0)  # minutes
WARMUP = 0.05  # share of the budget
MAX_POSITIONS = 1024  # sources are cut to task.MAX_SOURCE_TOKENS (256), translations to twice that

# norm_first=True turns off the nested-tensor fast path that nn.Transformer's encoder asks for.
warnings.filterwarnings("ignore", message="enable_nested_tensor is True")


class Peer(nn.Module):
    """``forward(source, source_lengths, target_in, where)`` as :class:`Seq2Seq`'s, so that
    ``translate.make_step`` trains it; :meth:`encode` and :meth:`step` for ``greedy_search``."""

    def __init__(self, source_vocab: int, target_vocab: int, d: int, heads: int, layers: int, ffn: int):
        super().__init__()
        self.d = d
        self.source_embed = nn.Embedding(source_vocab, d, padding_idx=0)
        self.target_embed = nn.Embedding(target_vocab, d, padding_idx=0)
        for embed in (self.source_embed, self.target_embed):  # N(0, 1/d), scaled by sqrt(d) when read
            nn.init.normal_(embed.weight, std=d**-0.5)
            with torch.no_grad():
                embed.weight[0].zero_()
        position = torch.arange(MAX_POSITIONS)[:, None]  # (P, 1)
        rates = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))  # (d/2,)
        table = torch.zeros(MAX_POSITIONS, d)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * rates), torch.cos(position * rates)
        self.register_buffer("positions", table, persistent=False)  # (P, d)
        self.transformer = nn.Transformer(
            d, heads, layers, layers, ffn, dropout=0.1, batch_first=True, norm_first=True
        )
        self.out = nn.Linear(d, target_vocab)
        self.out.weight = self.target_embed.weight  # tied
        self.drop = nn.Dropout(0.1)

    def _embed(self, table: nn.Embedding, ids: Tensor) -> Tensor:
        return self.drop(table(ids) * self.d**0.5 + self.positions[: ids.shape[1]])  # (B, L, d)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """-> the encoder outputs (B, S, d) and the source padding mask (B, S), True at padding."""
        padding = (torch.arange(source.shape[1])[None, :] >= lengths.cpu()[:, None]).to(source.device)
        encoded = self.transformer.encoder(
            self._embed(self.source_embed, source), src_key_padding_mask=padding
        )
        return encoded, padding

    def decode(self, target_in: Tensor, encoded: Tensor, padding: Tensor) -> Tensor:
        T = target_in.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=target_in.device), 1)  # (T, T)
        x = self._embed(self.target_embed, target_in)  # (B, T, d)
        return self.transformer.decoder(
            x, encoded, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=padding
        )  # (B, T, d)

    def forward(self, source: Tensor, source_lengths: Tensor, target_in: Tensor, where: Tensor | None = None):
        h = self.decode(target_in, *self.encode(source, source_lengths))  # (B, T, d)
        return self.out(h if where is None else h[where])  # (B, T, V) or (N, V)

    def step(self, tokens: Tensor, prefix: Tensor, memory: tuple[Tensor, Tensor]):
        """The state is the target so far, (N, t): the decoder reads it all again (Tatoeba's
        sentences are short) and the last position gives log-probabilities (N, V)."""
        prefix = torch.cat([prefix, tokens[:, None]], dim=1)  # (N, t + 1)
        logits = self.out(self.decode(prefix, *memory)[:, -1])  # (N, V)
        return torch.log_softmax(logits.float(), dim=-1), prefix, None


def translate(model: Peer, tokenizers: Tokenizers, sentences: list[str], config, device) -> list[str]:
    """Greedy translations, batched by length as ``task.Translator`` batches them."""
    encoded = [ids[: task.MAX_SOURCE_TOKENS] for ids in tokenizers.source.encode_batch(sentences)]
    kept = [i for i, ids in enumerate(encoded) if ids]
    out = [""] * len(sentences)
    model.eval()
    with torch.inference_mode():
        dataset = PairDataset([encoded[i] for i in kept])
        for batch in dataset.batches(GREEDY_BATCH, token_budget=DECODE_TOKENS):
            lengths = batch.source_lengths
            limits = (lengths.double() * config.max_length_ratio).ceil().long() + config.max_length_extra
            limits = limits.clamp(max=2 * task.MAX_SOURCE_TOKENS)
            memory = model.encode(batch.source.to(device), lengths)
            start = torch.zeros(len(lengths), 0, dtype=torch.long, device=device)  # (N, 0): no target yet
            found = greedy_search(model.step, start, memory, bos=1, eos=2, max_lengths=limits)
            for j, hypothesis in zip(batch.indices, found):
                out[kept[j]] = tokenizers.target.decode(hypothesis.tokens)
    model.train()
    return out


def lr_at(fraction: float, peak: float) -> float:
    if fraction < WARMUP:
        return peak * max(fraction, 1e-3) / WARMUP
    return peak * 0.5 * (1 + math.cos(math.pi * min((fraction - WARMUP) / (1 - WARMUP), 1.0)))


def train_peer(model: Peer, tokenizers, splits, config, args, device) -> dict:
    train_set = encode_pairs(splits.train, tokenizers, config.max_tokens)
    per_epoch = train_set.num_batches(args.batch_size)
    step_fn = task.make_step(config.label_smoothing)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    budget, every = 60 * args.minutes, 60 * args.validate_every
    marks = [every * k for k in range(1, math.ceil(budget / every)) if every * k < budget] + [budget]
    estimate = min(30.0, 0.1 * budget)  # seconds a validation takes: measured after the first
    curve: list[tuple[float, float]] = []  # (minutes, val BLEU), validation time included
    best, best_weights, steps, epoch, tokens, loss_sum = -1.0, None, 0, 0, 0, 0.0
    model.train()
    start = last = time.perf_counter()
    while marks:
        epoch += 1
        for batch in train_set.batches(args.batch_size, shuffle=True, seed=args.seed * 1000 + epoch):
            now = time.perf_counter()
            elapsed, step_seconds, last = now - start, now - last, now
            # Validate now if after one more step it could no longer finish by the mark.
            if steps and elapsed + step_seconds + 1.25 * estimate >= marks[0]:
                began = time.perf_counter()
                hypotheses = translate(
                    model, tokenizers, [p.source for p in splits.validation], config, device
                )
                bleu = task.corpus_scores(hypotheses, splits.validation, config)["bleu"]
                estimate, elapsed = time.perf_counter() - began, time.perf_counter() - start
                curve.append((elapsed / 60, bleu))
                if bleu > best:
                    best, best_weights = bleu, {k: v.detach().clone() for k, v in model.state_dict().items()}
                print(
                    f"{elapsed / 60:6.2f} min  step {steps:6d}  epoch {steps / per_epoch:5.2f}  loss "
                    f"{loss_sum / tokens:.3f}  val BLEU {bleu:5.2f}  (validation {estimate:.0f} s)",
                    file=sys.stderr,
                )
                marks = [m for m in marks if m > elapsed + step_seconds + 1.25 * estimate]
                last = time.perf_counter()
                if not marks:
                    break
            for group in optimizer.param_groups:
                group["lr"] = lr_at(elapsed / budget, args.lr)
            loss, _, count = step_fn(model, batch.to(device))
            if not torch.isfinite(loss):
                sys.exit(f"the Transformer's loss became {loss.item()} at step {steps + 1}; try a lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            steps, tokens, loss_sum = steps + 1, tokens + count, loss_sum + loss.item() * count
    train_seconds = time.perf_counter() - start
    model.load_state_dict(best_weights)
    began = time.perf_counter()
    hypotheses = translate(model, tokenizers, [p.source for p in splits.test], config, device)
    seconds = time.perf_counter() - began
    test = task.corpus_scores(hypotheses, splits.test, config)
    return {
        "steps": steps,
        "epochs": steps / per_epoch,
        "train_seconds": train_seconds,
        "train_target_tokens_per_second": tokens / train_seconds,
        "curve": curve,
        "best_val_bleu": best,
        "best_minutes": next(m for m, b in curve if b == best),
        "test_bleu": test["bleu"],
        "test_beam5_bleu": None,
        "test": {**test, "seconds": seconds, "sentences_per_second": len(splits.test) / seconds},
    }


def rnn_columns(run: Path) -> dict:
    """The RNN's curve (one validation per epoch) and, once its run has finished, its test scores."""
    read = lambda name: json.loads((run / name).read_text()) if (run / name).is_file() else None  # noqa: E731
    history, results = read("history.json") or [], read(task.RESULTS_FILE) or {}
    test = results.get("test", {})
    return {
        "epochs": results.get("epochs", len(history)),
        "curve": [(row["elapsed"] / 60, row["val_bleu"]) for row in history],
        "best_val_bleu": max((row["val_bleu"] for row in history), default=None),
        "test_bleu": test.get("beam1", {}).get("bleu"),
        "test_beam5_bleu": test.get("beam5", {}).get("bleu"),
        "test": {k: v for k, v in test["beam1"].items() if k != "translations"} if test else None,
    }


def best_by(curve: list, minutes: float) -> float | None:
    """The best validation BLEU scored by ``minutes`` (the weights a run stopped then would keep)."""
    return max((bleu for m, bleu in curve if m <= minutes), default=None)


def report(peer: dict, rnn: dict | None, minutes: float) -> None:
    marks = [m for m in MILESTONES if m < minutes] + [minutes]
    rows = {
        "parameters": ("parameters", ",d"),
        "epochs": ("epochs", ".3g"),
        "best val BLEU (greedy)": ("best_val_bleu", ".2f"),
        "test BLEU greedy": ("test_bleu", ".2f"),
        "test BLEU beam 5": ("test_beam5_bleu", ".2f"),
        "test sentences/s greedy": ("sentences_per_second", ",.0f"),
    }
    print(f"\n{'':26s} {'Transformer':>12s} {'RNN':>12s}")
    for name, (key, spec) in rows.items():
        cells = []
        for model in (peer, rnn or {"parameters": peer["rnn_parameters"]}):
            value = model.get(key, (model.get("test") or {}).get(key))
            cells.append("-" if value is None else format(value, spec))
        print(f"{name:26s} {cells[0]:>12s} {cells[1]:>12s}")
    for m in marks:
        cells = [
            "-" if v is None else f"{v:.2f}"
            for v in (best_by(peer["curve"], m), rnn and best_by(rnn["curve"], m))
        ]
        print(f"{f'best val BLEU by {m:g} min':26s} {cells[0]:>12s} {cells[1]:>12s}")
    print("(best val BLEU by m min: the best validation scored by then, validation time included)")
    if rnn is None:
        print("(no --rnn-run: the RNN is not trained here, only its parameter count is shown)")
    elif rnn["test"] is None:
        print(f"(the RNN run has no {task.RESULTS_FILE} yet: its test columns are missing)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="folder with the Tatoeba zips (default: $RNNKIT_DATA)")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget, validation included")
    parser.add_argument(
        "--rnn-run", type=Path, help="an rnnkit translate run: its tokenizers, history, results"
    )
    parser.add_argument("--pair", help="without --rnn-run (default fra-eng); with it, must be the run's")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/translate_peer.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--validate-every", type=float, default=5.0, metavar="MINUTES")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, help="default: the RNN's (128 for fra-eng)")
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=3, help="encoder layers, and as many decoder layers")
    parser.add_argument("--ffn", type=int, default=512)
    args = parser.parse_args(argv)
    tune_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)

    if args.rnn_run:
        config = task.RUNS.load_config(args.rnn_run)
        if args.pair and args.pair != config.pair:
            sys.exit(f"{args.rnn_run} translates {config.pair}, not {args.pair}")
        splits = task.load_splits(config, args.data)
        tokenizers = Tokenizers.load(args.rnn_run)
    else:  # the pair's preset (fast for fra-eng), for the splits, vocabulary sizes and the RNN's shape
        pair = args.pair or "fra-eng"
        config = next((c for c in task.PRESETS.values() if c.pair == pair), task.PRESETS["fast"])
        config = dataclasses.replace(config, pair=pair)
        splits = task.load_splits(config, args.data)
        tokenizers = Tokenizers.train(splits.train, config.source_vocab_size, config.target_vocab_size)
    args.batch_size = args.batch_size or config.train.batch_size
    vocab = tokenizers.source.vocab_size, tokenizers.target.vocab_size
    rnn_model = Seq2Seq(dataclasses.replace(config.model, source_vocab=vocab[0], target_vocab=vocab[1]))
    rnn_parameters = sum(p.numel() for p in rnn_model.parameters())
    model = Peer(*vocab, args.d_model, args.heads, args.layers, args.ffn).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"{config.pair}: {len(splits.train):,} / {len(splits.validation):,} / {len(splits.test):,} pairs, "
        f"vocabularies {vocab[0]:,} / {vocab[1]:,}; {args.minutes:g} min budget, "
        f"threads={torch.get_num_threads()}, {device}\n"
        f"Transformer d={args.d_model} heads={args.heads} layers={args.layers}+{args.layers} "
        f"ffn={args.ffn}: {parameters:,} parameters; the RNN: {rnn_parameters:,} "
        f"({parameters / rnn_parameters - 1:+.1%})",
        file=sys.stderr,
    )
    if abs(parameters / rnn_parameters - 1) > 0.1:
        print("warning: over 10% apart; size the Transformer with --d-model/--layers/--ffn", file=sys.stderr)

    peer = train_peer(model, tokenizers, splits, config, args, device)
    peer.update(parameters=parameters, rnn_parameters=rnn_parameters)
    rnn = {**rnn_columns(args.rnn_run), "parameters": rnn_parameters} if args.rnn_run else None
    report(peer, rnn, args.minutes)
    shape = {k: getattr(args, k) for k in ("d_model", "heads", "layers", "ffn")}
    summary = {
        "pair": config.pair,
        "budget_minutes": args.minutes,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "rnn_run": str(args.rnn_run) if args.rnn_run else None,
        "transformer": {"shape": shape, **peer},
        "rnn": rnn or {"parameters": rnn_parameters},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    plot = args.out.with_suffix(".png")
    _plot(peer["curve"], rnn and rnn["curve"], plot, args.minutes)
    print(f"results: {args.out}, curves: {plot}")
    return 0


def _plot(peer: list, rnn: list | None, path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(*zip(*peer), "s-", label="nn.Transformer (peer)")
    if rnn:
        ax.plot(*zip(*rnn), "o-", label="rnnkit GRU + attention")
    ax.set_xlim(0, max(minutes, *(m for m, _ in peer + (rnn or []))) * 1.05)
    ax.set_xlabel(f"training minutes (threads={torch.get_num_threads()}), validation included")
    ax.set_ylabel("validation BLEU (greedy)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_png(fig, path, dpi=80)


if __name__ == "__main__":
    sys.exit(main())
