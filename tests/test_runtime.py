"""The allocator setting: large freed buffers stay mapped, so reusing them costs no page faults."""

import os
import platform
import subprocess
import sys

import pytest

from rnnkit import runtime

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# Three training steps of a small bidirectional LSTM on a padded batch; prints their page faults.
_FAULTS = """
import resource, sys, torch, rnnkit
print(rnnkit.tune_allocator(), file=sys.stderr)
torch.manual_seed(0)
layer = rnnkit.LSTM(32, 32, bidirectional=True)
x, lengths = torch.randn(64, 300, 32), torch.randint(250, 301, (64,))
def step():
    out, _ = layer(x, lengths)
    out.sum().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(tune: bool) -> tuple[int, str]:
    env = {**os.environ, "RNNKIT_TUNE_ALLOCATOR": "1" if tune else "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout), done.stderr.strip()


@glibc_only
def test_tuned_allocator_cuts_the_page_faults_of_a_training_step():
    tuned, said = _faults(tune=True)
    assert said == "True"
    untuned, said = _faults(tune=False)
    assert said == "False"
    # measured here: about 45,000 faults untuned (each large buffer a fresh mmap), 8,000-9,000 tuned
    assert untuned > 10_000
    assert tuned < untuned / 2


def test_environment_turns_it_off(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)
    monkeypatch.setenv("RNNKIT_TUNE_ALLOCATOR", "0")
    assert runtime.tune_allocator() is False
    assert runtime.allocator_tuned() is False


@glibc_only
def test_tune_is_idempotent(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)
    monkeypatch.delenv("RNNKIT_TUNE_ALLOCATOR", raising=False)
    assert runtime.tune_allocator() is True
    assert runtime.tune_allocator() is True
    assert runtime.allocator_tuned()
