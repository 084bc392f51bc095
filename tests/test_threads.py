"""Threads for inference (issue 30): the rule's decisions on the work of each command, an explicit
choice winning over it, and the commands running their models with the count decided.

How fast each count is depends on the machine and its load, so that is measured in
``benchmarks/predict_threads.py`` (docs/threads.md); these tests check behaviour only. Each command
test gives torch two threads first, as a 2-core machine's default (conftest sets one), and reads
``torch.get_num_threads()`` inside every model call of the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch
from serving import SENTIMENT, TAG, TRANSLATE
from test_tag import write_conll
from test_translate import write_tatoeba

from rnnkit import runtime
from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.runtime import PARALLEL_ROWS, THREAD_VARIABLES, inference_threads
from rnnkit.tasks import sentiment

BUSY_CORES = runtime.busy_cores  # the real one: the autouse fixture below replaces it


def machine_with_idle_cores(monkeypatch, idle: int) -> None:
    """Other work keeps all of this machine's cores busy but ``idle`` (as :func:`busy_cores` sees it)."""
    monkeypatch.setattr(runtime, "busy_cores", lambda: (os.cpu_count() or 1) - idle)


@pytest.fixture(autouse=True)
def _threads(monkeypatch):
    """No thread count in the environment, a machine with two idle cores (tests of a loaded one
    say so), and torch's count restored after each test."""
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    machine_with_idle_cores(monkeypatch, 2)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# -- the rule -----------------------------------------------------------------------------------

IDLE = {"busy": 0.0, "cores": 16}  # a 16-core machine with nothing else running


@pytest.mark.parametrize(
    "work, rows",
    [
        ("one review", 1),
        ("eight reviews", 8),
        ("one sentence, beam 5", 5),
        ("six sentences, beam 5", 30),
        ("a server answering one request at a time (--max-batch 1)", 1),
    ],
)
def test_too_little_work_per_step_runs_on_one_thread_even_on_an_idle_machine(work, rows):
    assert inference_threads(rows, available=2, **IDLE) == 1, work
    assert inference_threads(rows, available=16, **IDLE) == 1, work


@pytest.mark.parametrize(
    "work, rows",
    [
        ("256 reviews (a predictor's batch)", 256),
        ("1,024 sentences to tag", 1024),
        ("7 sentences, beam 5", 35),
        ("exactly the threshold", PARALLEL_ROWS),
    ],
)
def test_enough_rows_per_step_take_every_thread_on_an_idle_machine(work, rows):
    assert inference_threads(rows, available=2, **IDLE) == 2, work
    assert inference_threads(rows, available=16, **IDLE) == 16, work


@pytest.mark.parametrize("rows", [PARALLEL_ROWS, 256, 1024])
def test_large_work_takes_only_the_cores_nothing_else_keeps_busy(rows):
    """Threads meet at every step: one that waits for its turn on a busy core stalls the rest."""
    assert inference_threads(rows, available=2, busy=2.0, cores=2) == 1  # the machine
    assert inference_threads(rows, available=2, busy=1.0, cores=2) == 1
    assert inference_threads(rows, available=2, busy=0.3, cores=2) == 2  # a shell, an editor
    assert inference_threads(rows, available=2, busy=0.6, cores=2) == 1  # more than half a core
    assert inference_threads(rows, available=16, busy=3.4, cores=16) == 13
    assert inference_threads(rows, available=16, busy=40.0, cores=16) == 1  # never fewer than 1


def test_the_threshold_is_where_the_rule_turns():
    assert [inference_threads(rows, available=4, **IDLE) for rows in (PARALLEL_ROWS - 1, PARALLEL_ROWS)] == [
        1,
        4,
    ]


def test_spare_cores_are_left_to_other_work_but_one_thread_remains():
    """The server keeps a core for its event loop: cores - 1 for large batches, never 0."""
    assert inference_threads(64, spare=1, available=16, **IDLE) == 15
    assert inference_threads(64, spare=1, available=2, **IDLE) == 1
    assert inference_threads(64, spare=1, available=1, **IDLE) == 1
    assert inference_threads(1, spare=1, available=16, **IDLE) == 1


def test_the_rule_never_raises_the_count_torch_has():
    """A program that called torch.set_num_threads(1) keeps it, whatever the work."""
    assert inference_threads(10_000, available=1, **IDLE) == 1


def test_available_defaults_to_torchs_count():
    torch.set_num_threads(3)
    assert inference_threads(10_000, **IDLE) == 3
    assert inference_threads(1, **IDLE) == 1


@pytest.mark.parametrize("rows", [1, 256])
def test_an_explicit_count_wins_over_the_rule(rows, monkeypatch):
    assert inference_threads(rows, requested=2, available=2, busy=2.0, cores=2) == 2  # loaded, asked
    assert inference_threads(rows, requested=1, available=16, **IDLE) == 1
    assert inference_threads(rows, requested=8, available=2, **IDLE) == 8  # more than the cores
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert inference_threads(rows, requested=1, available=2, **IDLE) == 1  # the option over the environment


@pytest.mark.parametrize("name", THREAD_VARIABLES)
def test_a_count_set_in_the_environment_is_kept(name, monkeypatch):
    """OMP_NUM_THREADS (or MKL_NUM_THREADS) set torch's count: the user chose it, for any work
    and any load."""
    monkeypatch.setenv(name, "2")
    assert inference_threads(1, available=2, **IDLE) == 2
    assert inference_threads(256, available=2, busy=2.0, cores=2) == 2
    assert inference_threads(64, spare=1, available=2, **IDLE) == 2
    monkeypatch.setenv(name, " ")  # set but blank: no choice made
    assert inference_threads(1, available=2, **IDLE) == 1


def test_bad_counts_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="requested threads must be >= 1, got 0; leave it None"):
        inference_threads(1, requested=0)
    with pytest.raises(ValueError, match="rows must be >= 0, got -1"):
        inference_threads(-1)


def test_busy_cores_are_the_load_average_or_the_tasks_running_now(monkeypatch, tmp_path):
    """Running "3/200" with one of this process's threads running: two tasks elsewhere; whichever of
    that and the load average is larger."""
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.50 0.40 0.30 3/200 12345\n")
    monkeypatch.setattr(runtime, "LOADAVG", str(loadavg))
    monkeypatch.setattr(runtime, "_running_here", lambda: 1)
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (0.5, 0.4, 0.3))
    assert BUSY_CORES() == 2
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (2.7, 0.4, 0.3))
    assert BUSY_CORES() == 2.7
    loadavg.write_text("0.00 0.00 0.00 1/200 12345\n")  # this process alone
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert BUSY_CORES() == 0
    monkeypatch.setattr(runtime, "LOADAVG", str(tmp_path / "none"))  # not Linux
    assert BUSY_CORES() == 0


def test_this_processs_own_running_threads_are_not_other_work(monkeypatch, tmp_path):
    """torch's threads spin a while after a parallel region: they are this job's, not the machine's load."""
    for task, name, state in ((100, "python", "R"), (101, "torch (omp) R", "R"), (102, "python", "S")):
        (tmp_path / str(task)).mkdir()
        (tmp_path / str(task) / "stat").write_text(f"{task} ({name}) {state} 1 100 100 0 -1\n")
    monkeypatch.setattr(runtime, "TASKS", str(tmp_path))
    assert runtime._running_here() == 2
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.00 0.00 0.00 3/200 12345\n")
    monkeypatch.setattr(runtime, "LOADAVG", str(loadavg))
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert BUSY_CORES() == 1


def test_busy_cores_counts_processes_that_keep_a_core_busy():
    """Two busy loops started here are seen at once, whatever the load average says."""
    code = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass"
    loops = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10  # the loops' interpreters take a moment to start
        while (busy := BUSY_CORES()) < 1.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert busy >= 1.5
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


# -- the commands -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory, imdb_tarball):
    """Tiny runs of the three tasks whose commands predict (the serving tests' sizes)."""
    root = tmp_path_factory.mktemp("threads")
    made = {name: root / name for name in ("sentiment", "tag", "translate")}
    sentiment.train(apply_overrides(sentiment.preset("seed"), SENTIMENT), imdb_tarball, made["sentiment"])
    conll = write_conll(root / "conll", sizes=(60, 20, 20))
    assert main(["tag", "train", "--data", str(conll), "--out", str(made["tag"]), *TAG]) == 0
    pairs = write_tatoeba(root / "tatoeba")
    assert (
        main(["translate", "train", "--data", str(pairs), "--out", str(made["translate"]), *TRANSLATE]) == 0
    )
    return made


LOOPS = {  # where each task's predictor runs its model: the inference loop, as its module names it
    "sentiment": "rnnkit.tasks.sentiment.in_order",
    "tag": "rnnkit.tasks.tag.predict.in_order",
    "translate": "rnnkit.tasks.translate.translator.in_order",
}


def threads_in_model_calls(monkeypatch, task: str, argv: list[str]) -> list[int]:
    """Run ``rnnkit ARGV`` with torch at two threads; the thread count in each model call."""
    from rnnkit.data.batching import in_order

    seen = []

    def recording(lengths, run, *args, **kwargs):
        def counted(indices):
            seen.append(torch.get_num_threads())
            return run(indices)

        return in_order(lengths, counted, *args, **kwargs)

    monkeypatch.setattr(LOOPS[task], recording)
    torch.set_num_threads(2)
    assert main(argv) == 0
    assert seen, f"rnnkit {' '.join(argv)} called no model"
    return seen


def test_sentiment_predict_runs_one_review_on_one_thread(runs, monkeypatch, capsys):
    argv = ["sentiment", "predict", str(runs["sentiment"]), "A wonderful, moving film."]
    assert threads_in_model_calls(monkeypatch, "sentiment", argv) == [1]


def test_sentiment_predict_runs_many_reviews_on_every_thread(runs, monkeypatch, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(f"review {i}: a dull film, then a charming one." for i in range(300)))
    argv = ["sentiment", "predict", str(runs["sentiment"]), "--file", str(reviews)]
    assert set(threads_in_model_calls(monkeypatch, "sentiment", argv)) == {2}


def test_sentiment_predict_runs_many_reviews_on_one_thread_on_a_busy_machine(
    runs, monkeypatch, tmp_path, capsys
):
    machine_with_idle_cores(monkeypatch, 0)
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(f"review {i}: a dull film, then a charming one." for i in range(300)))
    argv = ["sentiment", "predict", str(runs["sentiment"]), "--file", str(reviews)]
    assert set(threads_in_model_calls(monkeypatch, "sentiment", argv)) == {1}
    assert set(threads_in_model_calls(monkeypatch, "sentiment", [*argv, "--threads", "2"])) == {2}


def test_blank_lines_do_not_count_as_work(runs, monkeypatch, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("a dull film\n" + "\n" * 300)
    argv = ["sentiment", "predict", str(runs["sentiment"]), "--file", str(reviews)]
    assert threads_in_model_calls(monkeypatch, "sentiment", argv) == [1]


def test_sentiment_predict_threads_option_wins(runs, monkeypatch, capsys):
    argv = ["sentiment", "predict", str(runs["sentiment"]), "--threads", "2", "A wonderful, moving film."]
    assert threads_in_model_calls(monkeypatch, "sentiment", argv) == [2]


def test_the_environments_count_is_kept(runs, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    argv = ["sentiment", "predict", str(runs["sentiment"]), "A wonderful, moving film."]
    assert threads_in_model_calls(monkeypatch, "sentiment", argv) == [2]


def test_tag_runs_one_sentence_on_one_thread_unless_told(runs, monkeypatch, capsys):
    argv = ["tag", str(runs["tag"]), "Yesterday, Harry Potter met Hermione Granger."]
    assert set(threads_in_model_calls(monkeypatch, "tag", argv)) == {1}
    assert set(threads_in_model_calls(monkeypatch, "tag", [*argv, "--threads", "2"])) == {2}


def test_translate_counts_the_beam_as_rows(runs, monkeypatch, capsys):
    """One sentence at beam 5 is 5 rows a step: one thread; 7 sentences at beam 5 are 35, but 7 at
    beam 1 are 7."""
    run = "translate", str(runs["translate"])
    assert threads_in_model_calls(monkeypatch, "translate", [*run, "--beam", "5", "trois un ."]) == [1]
    assert threads_in_model_calls(monkeypatch, "translate", [*run, "--threads", "2", "trois un ."]) == [2]
    many = ["trois un ."] * 7
    assert set(threads_in_model_calls(monkeypatch, "translate", [*run, "--beam", "5", *many])) == {2}
    assert set(threads_in_model_calls(monkeypatch, "translate", [*run, "--beam", "1", *many])) == {1}


@pytest.mark.parametrize("command", [["sentiment", "predict"], ["tag", "predict"], ["translate", "predict"]])
def test_zero_threads_is_refused_naming_the_option(runs, command, capsys):
    task = command[0]
    assert main([*command, str(runs[task]), "--threads", "0", "one two"]) == 2
    assert "--threads must be >= 1, got 0; leave it out to let the work decide" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, threads",
    [
        ([], 1),
        (["--max-batch", "1"], 1),
        (["--threads", "2"], 2),
        (["--max-batch", "1", "--threads", "2"], 2),
    ],
)
def test_serve_keeps_a_core_for_the_event_loop_and_obeys_threads(tmp_path, monkeypatch, options, threads):
    """On two cores the server's models get one thread (the other core is the event loop's), and
    one request per call is the small-batch case on any machine; --threads wins."""
    import uvicorn

    import rnnkit.serve

    served = []
    monkeypatch.setattr(rnnkit.serve, "load_models", lambda specs, limits: {})
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(torch.get_num_threads()))
    torch.set_num_threads(2)
    assert main(["serve", str(tmp_path), *options]) == 0
    assert served == [threads]


def test_serve_with_many_cores_gives_the_models_all_but_one(tmp_path, monkeypatch):
    import uvicorn

    import rnnkit.serve

    served = []
    monkeypatch.setattr(rnnkit.serve, "load_models", lambda specs, limits: {})
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(torch.get_num_threads()))
    machine_with_idle_cores(monkeypatch, 4)
    torch.set_num_threads(4)
    assert main(["serve", str(tmp_path)]) == 0
    assert main(["serve", str(tmp_path), "--max-batch", "8"]) == 0
    assert served == [3, 1]
