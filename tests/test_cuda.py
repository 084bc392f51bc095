"""The GPU path: parity with the CPU reference, no weight copies, no host syncs, autocast.

These run only where torch sees a CUDA device (``python benchmarks/cuda_check.py`` runs them and
the GPU throughput on a lent machine); elsewhere they are skipped with this reason.
"""

import warnings

import pytest
import torch
from helpers import LAYERS

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device (on a GPU machine: python benchmarks/cuda_check.py)"
)

KINDS = ["rnn", "relu", "lstm", "gru"]


def _run(layer, x, lengths, state=None):
    x = x.clone().requires_grad_()
    out, final = layer(x, lengths, state)
    finals = final if isinstance(final, tuple) else (final,)
    (out.square().sum() + sum(s.sum() for s in finals)).backward()
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    return [t.detach().cpu() for t in (out, *finals, *grads)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [9, 4, 1, 6]])
def test_cuda_fused_equals_cpu_reference_float64(kind, bidirectional, lengths):
    torch.manual_seed(0)
    reference = LAYERS[kind](5, 7, num_layers=2, bidirectional=bidirectional, impl="reference").double()
    fused = LAYERS[kind](5, 7, num_layers=2, bidirectional=bidirectional, impl="fused").double()
    fused.load_state_dict(reference.state_dict())
    fused.cuda()
    x = torch.randn(4, 9, 5, dtype=torch.float64)
    lens = None if lengths is None else torch.tensor(lengths)
    for a, b in zip(_run(reference, x, lens), _run(fused, x.cuda(), lens)):
        torch.testing.assert_close(b, a, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_no_weight_copy_warning_in_training(kind, dtype):
    """cuDNN warns "RNN module weights are not part of single contiguous chunk of memory" when it
    has to copy them (each call): the flat buffer must hold, also after optimizer steps and for an
    expanded (non-contiguous) initial state."""
    torch.manual_seed(0)
    layer = LAYERS[kind](16, 32, num_layers=2, bidirectional=True).cuda().to(dtype)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1e-3)
    x = torch.randn(8, 20, 16, device="cuda", dtype=dtype)
    lengths = torch.randint(1, 21, (8,))
    h0 = torch.zeros(1, 1, 32, device="cuda", dtype=dtype).expand(4, 8, 32)
    state = (h0, h0) if kind == "lstm" else h0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(3):
            out, _ = layer(x, lengths if step != 1 else None, state)
            out.float().square().mean().backward()
            optimizer.step()
            optimizer.zero_grad()


def test_forward_makes_no_host_sync_with_cpu_lengths():
    layer = LAYERS["lstm"](16, 32, bidirectional=True).cuda()
    x = torch.randn(8, 20, 16, device="cuda")
    lengths = torch.randint(1, 21, (8,))
    layer(x, lengths)  # warm-up (cuDNN plans, allocator)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, _ = layer(x, lengths)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.shape == (8, 20, 64)


@pytest.mark.parametrize("kind", KINDS)
def test_cuda_autocast_float16(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](16, 32, bidirectional=True).cuda()
    x = torch.randn(8, 20, 16, device="cuda")
    lengths = torch.randint(1, 21, (8,))
    expected, _ = layer(x, lengths)
    with torch.autocast("cuda", dtype=torch.float16):
        out, _ = layer(x.half(), lengths)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=2e-2)
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cuda_translation_search_equals_cpu_float64(cell):
    """The encoder-decoder's greedy and beam search on the GPU give the CPU's tokens and scores."""
    from rnnkit.decode import beam_search, greedy_search
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    config = Seq2SeqConfig(
        source_vocab=11, target_vocab=9, cell=cell, embed_size=6, hidden_size=8, decoder_size=12, dropout=0.0
    )
    cpu = Seq2Seq(config).double().eval()
    gpu = Seq2Seq(config).double().eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    lengths = torch.tensor([7, 3, 5, 1])
    source = torch.where(torch.arange(7)[None] < lengths[:, None], torch.randint(3, 11, (4, 7)), 0)
    limits = lengths * 2 + 3
    for model, src in ((cpu, source), (gpu, source.cuda())):
        memory, state = model.encode(src, lengths)
        greedy = greedy_search(model.step, state, memory, bos=1, eos=2, max_lengths=limits)
        beam = beam_search(model.step, state, memory, beam=3, bos=1, eos=2, max_lengths=limits)
        if model is cpu:
            expected = (greedy, beam)
    for found, wanted in zip((greedy, beam), expected):
        assert [h.tokens for h in found] == [h.tokens for h in wanted]
        assert [h.score for h in found] == pytest.approx([h.score for h in wanted])
