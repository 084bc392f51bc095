"""What the command line shows before it imports any task: preset names, choices and the defaults
that help texts state.

The task modules import torch, which takes seconds; building the parsers from these copies keeps
``rnnkit --help`` and ``rnnkit TASK --help`` fast. Each value names where it comes from, and
tests/test_cli.py checks every one against it, so a preset added to a task fails that test until it
is listed here too.
"""

from __future__ import annotations

# tasks.X.PRESETS, in their order
PRESETS = {
    "sentiment": ("seed", "seed-stacked", "best", "pretrained"),
    "pretrain": ("imdb", "adapt", "quick"),
    "charlm": ("shakespeare-15min", "shakespeare-best", "music"),
    "tag": ("fast", "softmax", "best"),
    "translate": ("fast", "kor"),
    "dna": ("fast",),
    "activity": ("fast", "ensemble", "fused", "fused3"),
    "speech": ("digits", "strings", "sentences"),
}

TAG_SPLITS = {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}  # tasks.tag.SPLITS
BALL_CELLS = ("lstm", "gru", "rnn")  # tasks.ball.LAYERS

# tasks.adding.AddingConfig() and tasks.exploding.ExplodingConfig(), the fields the options set
ADDING = {
    "T": 200,
    "budget": 4513,
    "steps": 4000,
    "eval_every": 100,
    "stop_mse": 0.005,
    "batch_size": 64,
    "lr": 0.003,
    "seed": 0,
}
EXPLODING = {"T": 50, "spectral_radius": 2.0, "lr": 0.1, "clip_norm": 0.5, "steps": 300, "seed": 0}

# viz.FEATURES
FEATURES = ("position_in_line", "inside_quotes", "inside_brackets", "uppercase", "newline_next")

# serve.Limits(), the fields the options set
SERVE_LIMITS = {"max_chars": 20000, "max_concurrent": 64, "max_batch": 64, "max_wait_ms": 5.0}

# export.onnx.EXPORTABLE
EXPORTABLE = (
    "sentiment runs (the classifier) and tagging runs (the emission model; the CRF decodes in Python)"
)
