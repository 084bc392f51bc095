"""``rnnkit serve``: the API of each task over real HTTP (uvicorn on a free port), answers equal to
the tasks' own predictors, micro-batching that changes no answer, limits, bad input, streaming."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from serving import make_runs  # noqa: E402

from rnnkit.cli import main  # noqa: E402
from rnnkit.decode import length_penalty  # noqa: E402
from rnnkit.serve import Limits, create_app, load_models, running  # noqa: E402
from rnnkit.serve.batcher import MicroBatcher  # noqa: E402
from rnnkit.tasks import charlm, sentiment, tag, translate  # noqa: E402

REVIEWS = [
    "a wonderful and moving film, great acting",
    "terrible boring waste of time, awful",
    "great",
    "the plot was dull and the acting was bad but the music was great " * 3,
    "  spaces   around  and   inside   ",
]


@pytest.fixture(scope="module")
def runs(imdb_tarball, tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("served"), imdb_tarball)


@pytest.fixture(scope="module")
def server(runs):
    limits = Limits(max_wait_ms=30, max_chars=2_000, max_generate=500, max_body_bytes=16_384)
    specs = [str(runs["review"]), str(runs["shakespeare"]), str(runs["ner"]), f"fr-en={runs['fr-en']}"]
    app = create_app(load_models(specs, limits), limits)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def post(client, name, body, action="predict"):
    return client.post(f"/api/{name}/{action}", json=body)


# -- pages and the API's shape ----------------------------------------------------------------------------


def test_health_models_pages_and_openapi(server):
    health = server.get("/health").json()
    assert health["status"] == "ok"
    assert {n: m["task"] for n, m in health["models"].items()} == {
        "review": "sentiment",
        "shakespeare": "language-model",
        "ner": "tagging",
        "fr-en": "translation",
    }
    models = {m["name"]: m for m in server.get("/api/models").json()}
    assert models["fr-en"]["source"] == "fra" and models["review"]["page"] == "/m/review"
    for name, marker in (
        ("review", "Classify"),
        ("shakespeare", "Generate"),
        ("ner", "Tag"),
        ("fr-en", "Translate"),
    ):
        page = server.get(f"/m/{name}")
        assert page.status_code == 200 and marker in page.text and "viewport" in page.text
    assert "models" in server.get("/").text
    assert server.get("/static/common.js").status_code == 200
    paths = server.get("/openapi.json").json()["paths"]
    assert {
        "/api/review/predict",
        "/api/shakespeare/generate",
        "/api/ner/predict",
        "/api/fr-en/predict",
    } <= set(paths)


# -- each task's answers == the task's own code -------------------------------------------------------------


def test_sentiment_answers_equal_the_predictor(server, runs):
    predictor = sentiment.Predictor.from_run(runs["review"])
    expected = predictor(REVIEWS)
    for text, probability in zip(REVIEWS, expected):
        answer = post(server, "review", {"text": text}).json()
        assert answer["probability"] == pytest.approx(probability, abs=1e-6)
        assert answer["label"] == ("positive" if probability >= 0.5 else "negative")
        assert answer["words"] is None


def test_explanation_is_leave_one_word_out(server, runs):
    predictor = sentiment.Predictor.from_run(runs["review"])
    text = "a wonderful film,  but the ending was awful"
    answer = post(server, "review", {"text": text, "explain": True}).json()
    words = text.split()
    assert [w["text"] for w in answer["words"]] == words
    assert [text[w["start"] : w["end"]] for w in answer["words"]] == words
    # brute force: the logit without each word, one text at a time
    full = predictor.logits(predictor.encode([text]))[0]
    for w in answer["words"]:
        without = text[: w["start"]] + text[w["end"] :]
        expected = full - predictor.logits(predictor.encode([without]))[0]
        assert w["weight"] == pytest.approx(expected, abs=1e-5)


def test_long_review_is_explained_in_at_most_the_span_limit():
    text = " ".join(f"w{i}" for i in range(1000))
    occluded = sentiment.occlusion(text, max_spans=256)
    assert len(occluded.spans) <= 256 and len(occluded.variants) == len(occluded.spans)
    # the spans cover every word once, in order
    covered = " ".join(text[a:b] for a, b in occluded.spans)
    assert covered == text
    assert sentiment.occlusion("one", 256).variants == [""]


def test_tagging_answers_equal_the_tagger(server, runs):
    tagger = tag.Tagger.from_run(runs["ner"])
    text = "Yesterday, Harry Potter met Hermione Granger."
    answer = post(server, "ner", {"text": text}).json()
    tokens = tag.tokenize(text)
    assert answer["tokens"] == tokens
    assert answer["tags"] == tagger([tokens])[0]
    assert answer["marked"] == tag.marked(tokens, answer["tags"])


def test_translation_answers_equal_the_translator(server, runs):
    translator = translate.Translator.from_run(runs["fr-en"])
    for beam in (1, 3):
        answer = post(server, "fr-en", {"text": "trois un .", "beam": beam, "attention": True}).json()
        expected = translator.translate(["trois un ."], beam=beam, attention=True)[0]
        assert answer["translation"] == expected.text
        assert answer["target_tokens"] == expected.target_tokens
        # both numbers, one definition whatever the beam: score = log_prob / lp(n), n tokens
        # written (the attention's rows: the pieces, and </s> when it was written)
        assert answer["log_prob"] == pytest.approx(expected.log_prob)
        assert answer["score"] == pytest.approx(expected.score)
        alpha, n = translator.config.length_penalty, len(answer["attention"])
        assert answer["score"] == pytest.approx(answer["log_prob"] / length_penalty(n, alpha))
        attention = np.array(answer["attention"])
        np.testing.assert_allclose(attention, expected.attention, atol=1e-4)
        assert attention.shape[1] == len(expected.source_tokens) == 3
        np.testing.assert_allclose(attention.sum(1), 1.0, atol=1e-3)
    assert post(server, "fr-en", {"text": "   "}).json()["translation"] == ""


def test_language_model_streams_the_seeded_sample(server, runs):
    model, vocab, _ = charlm.load_run(runs["shakespeare"])
    expected = "".join(charlm.sample(model, vocab, "ROMEO:", 120, 0.8, None, seed=3))
    body = {"prime": "ROMEO:", "length": 120, "temperature": 0.8, "seed": 3}
    chunks = []
    with server.stream("POST", "/api/shakespeare/generate", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        chunks = list(response.iter_text())
    assert "".join(chunks) == expected
    assert len(chunks) > 1  # written in pieces, not at the end
    assert post(server, "shakespeare", body).json()["text"] == expected


# -- micro-batching --------------------------------------------------------------------------------------


def test_concurrent_requests_are_batched_and_get_their_own_answers(server):
    alone = [post(server, "review", {"text": t, "explain": True}).json() for t in REVIEWS]
    before = server.get("/health").json()["models"]["review"]
    texts = REVIEWS * 4
    with ThreadPoolExecutor(len(texts)) as pool:
        together = list(
            pool.map(lambda t: post(server, "review", {"text": t, "explain": True}).json(), texts)
        )
    after = server.get("/health").json()["models"]["review"]
    assert after["requests"] - before["requests"] == len(texts)
    assert after["batches"] - before["batches"] < len(texts)  # some requests shared a model call
    for i, answer in enumerate(together):
        expected = alone[i % len(REVIEWS)]
        assert answer["probability"] == pytest.approx(expected["probability"], abs=1e-6)
        assert [w["text"] for w in answer["words"]] == [w["text"] for w in expected["words"]]
        np.testing.assert_allclose(
            [w["weight"] for w in answer["words"]], [w["weight"] for w in expected["words"]], atol=1e-5
        )


class Slow:
    """A fake model: answers after ``seconds``, recording each batch's size."""

    task, page = "sentiment", "sentiment.html"

    def __init__(self, seconds: float) -> None:
        from rnnkit.serve.models import SentimentAnswer, SentimentRequest

        self.Request, self.Answer, self.seconds, self.sizes = SentimentRequest, SentimentAnswer, seconds, []

    def describe(self):
        return {}

    def check(self, request):
        pass

    def answer(self, requests):
        self.sizes.append(len(requests))
        time.sleep(self.seconds)
        return [self.Answer(probability=0.5, label="positive", logit=0.0, tokens=1) for _ in requests]


def test_the_event_loop_answers_while_a_model_computes():
    slow = Slow(1.5)
    with running(create_app({"slow": slow})) as url, httpx.Client(base_url=url, timeout=30) as client:
        worker = threading.Thread(target=lambda: post(client, "slow", {"text": "x"}))
        worker.start()
        time.sleep(0.2)  # the model call is under way
        started = time.perf_counter()
        assert client.get("/health").status_code == 200
        waited = time.perf_counter() - started
        worker.join()
    assert slow.sizes == [1]
    assert waited < 0.5, f"/health waited {waited:.2f} s behind a model call"


def test_batcher_takes_at_most_max_batch_and_passes_errors_to_each_request():
    import asyncio

    sizes = []

    def run(requests):
        sizes.append(len(requests))
        if "boom" in requests:
            raise ValueError("boom")
        return [r.upper() for r in requests]

    async def scenario():
        batcher = MicroBatcher(run, ThreadPoolExecutor(1), max_batch=3, max_wait_ms=50)
        answers = await asyncio.gather(*(batcher.submit(c) for c in "abcdefg"))
        failed = await asyncio.gather(batcher.submit("boom"), batcher.submit("ok"), return_exceptions=True)
        await batcher.close()
        return answers, failed

    answers, failed = asyncio.run(scenario())
    assert answers == list("ABCDEFG")
    assert sizes[:3] == [3, 3, 1]
    assert [type(f) for f in failed] == [ValueError, ValueError]


class Oops(BaseException):
    """Not an Exception: what a bare ``except Exception`` lets through."""


BAD_BATCHES = {
    "one answer too few": lambda requests: [r.upper() for r in requests][:-1],
    "one answer too many": lambda requests: [*(r.upper() for r in requests), "extra"],
    "no list": lambda requests: None,
    "an error": lambda requests: 1 / 0,
    "a BaseException": lambda requests: (_ for _ in ()).throw(Oops("oops")),
}


@pytest.mark.parametrize("bad", list(BAD_BATCHES))
def test_a_failing_batch_fails_its_requests_and_the_worker_serves_the_next(bad):
    """A batch function that answers the wrong number of requests (or fails in any other way)
    gives every request of that batch an error; the requests queued behind it, and later ones,
    are answered by the same worker. Before the fix, a wrong count killed the worker: the
    batch's requests and those queued behind it waited forever (hence the timeouts here)."""
    import asyncio

    calls = []

    def run(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            return BAD_BATCHES[bad](requests)
        return [r.upper() for r in requests]

    async def scenario():
        batcher = MicroBatcher(run, ThreadPoolExecutor(1), max_batch=2, max_wait_ms=50)
        # "a" and "b" make the first (failing) batch, "c" waits in the queue behind it
        first = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(c) for c in "abc"), return_exceptions=True), timeout=10
        )
        worker = batcher._worker
        later = await asyncio.wait_for(batcher.submit("d"), timeout=10)
        alive = batcher._worker is worker and not worker.done()
        await batcher.close()
        return first, later, alive

    (a, b, c), later, alive = asyncio.run(scenario())
    assert calls[0] == ["a", "b"]
    assert isinstance(a, Exception) and isinstance(b, Exception)
    if bad.startswith("one answer"):
        count = "1 answer" if "few" in bad else "3 answers"
        assert isinstance(a, RuntimeError)
        assert f"returned {count} for a batch of 2 requests" in str(a)
        assert "one answer per request" in str(a)
    elif bad == "an error":
        assert isinstance(a, ZeroDivisionError)
    elif bad == "a BaseException":
        assert isinstance(a, RuntimeError) and "Oops" in str(a)
    assert (c, later) == ("C", "D")
    assert alive


def test_a_failing_batch_is_a_500_with_a_message_and_the_server_goes_on():
    class Miscounting(Slow):
        def answer(self, requests):
            answers = super().answer(requests)
            return answers + answers if requests[0].text == "twice" else answers

    model = Miscounting(0.0)
    limits = Limits(max_batch=1)
    with running(create_app({"bad": model}, limits)) as url, httpx.Client(base_url=url, timeout=10) as client:
        failed = post(client, "bad", {"text": "twice"})
        assert failed.status_code == 500
        detail = failed.json()["detail"]
        assert detail.startswith("the model 'bad' failed on this request: RuntimeError: ")
        assert "returned 2 answers for a batch of 1 request;" in detail
        assert post(client, "bad", {"text": "once"}).status_code == 200


def test_every_torch_call_of_the_server_runs_in_one_thread(monkeypatch, tmp_path):
    """Loading and answering, for every model, in the one torch thread: a second thread running
    torch gets a second OpenMP team, and the two teams made one-review calls 8x slower on a
    2-core machine (docs/serve.md). Before the fix, models loaded in the caller's thread and each
    answered in a thread of its own."""
    import rnnkit.serve.app as app_module

    threads = []

    class Recording(Slow):
        def __init__(self) -> None:
            super().__init__(0.0)
            threads.append(("load", threading.get_ident()))

        def answer(self, requests):
            threads.append(("answer", threading.get_ident()))
            return super().answer(requests)

    monkeypatch.setattr(app_module, "load", lambda path, limits: Recording())
    models = load_models([f"one={tmp_path}", f"two={tmp_path}"], Limits())
    with running(create_app(models)) as url, httpx.Client(base_url=url, timeout=30) as client:
        for name in ("one", "two", "one"):
            assert post(client, name, {"text": "x"}).status_code == 200
    assert [what for what, _ in threads] == ["load", "load", "answer", "answer", "answer"]
    assert len({ident for _, ident in threads}) == 1
    assert threads[0][1] != threading.get_ident()


def brute_force_cut(lengths, step, call, budget):
    """The cheapest cut of the sorted rows into consecutive batches, by trying every cut."""
    import itertools

    sorted_lengths = sorted(lengths)
    n, best = len(lengths), (np.inf, None)
    for mask in itertools.product([False, True], repeat=n - 1):
        bounds = [0, *[i + 1 for i, cut in enumerate(mask) if cut], n]
        groups = [sorted_lengths[a:b] for a, b in itertools.pairwise(bounds)]
        if any(len(g) > len(step) or (len(g) > 1 and len(g) * g[-1] > budget) for g in groups):
            continue
        cost = sum(call + g[-1] * step[len(g) - 1] for g in groups)
        best = min(best, (cost, [len(g) for g in groups]), key=lambda pair: pair[0])
    return best


def test_planned_batches_are_the_cheapest_cut():
    from rnnkit.data.batching import planned_batches

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(1, 9))
        lengths = rng.integers(1, 400, n)
        widest = int(rng.integers(1, 9))
        step = np.cumsum(rng.uniform(0.1, 2.0, widest))  # a step over more rows costs more
        call, budget = float(rng.uniform(0, 300)), int(rng.integers(400, 2_000))
        batches = planned_batches(lengths, step, call, budget)
        assert sorted(np.concatenate(batches).tolist()) == list(range(n))  # each row once
        cost = sum(call + lengths[b].max() * step[len(b) - 1] for b in batches)
        expected, _ = brute_force_cut(lengths.tolist(), step, call, budget)
        assert cost == pytest.approx(expected), trial
        assert all(len(b) == 1 or len(b) * lengths[b].max() <= budget for b in batches)
    lengths = np.array([5, 500, 7, 480, 6])
    # a step that costs as much for 5 rows as for 1: everything in one call
    assert [len(b) for b in planned_batches(lengths, [1.0] * 5, 10.0)] == [5]
    # a step whose cost grows with the rows, and calls for free: short and long rows apart
    cut = planned_batches(lengths, [1.0, 1.5, 2.0, 2.5, 3.0], 0.0)
    assert [sorted(lengths[b].tolist()) for b in cut] == [[5, 6, 7], [480, 500]]


def test_step_costs_are_a_table_per_batch_size_that_never_falls():
    from rnnkit.serve.batcher import StepCosts

    def forward(rows, steps):
        time.sleep(1e-4 + steps * rows * 2e-6)

    costs = StepCosts.measure(forward, max_batch=12, repeats=1)
    assert len(costs.step) == 12
    assert all(b >= a for a, b in zip(costs.step, costs.step[1:]))
    assert costs.call >= 0


# -- limits and bad input: a JSON refusal each, and the server goes on ------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "match"),
    [
        ("/api/review/predict", {"text": "x" * 2_001}, 422, "limit is 2000"),
        ("/api/review/predict", {"text": "   "}, 422, "only whitespace"),
        ("/api/review/predict", {"text": ""}, 422, "at least 1 character"),
        ("/api/review/predict", {"review": "good"}, 422, "Field required"),
        ("/api/review/predict", {"text": 5}, 422, "valid string"),
        ("/api/shakespeare/generate", {"prime": "ROMEO:", "length": 501}, 422, "at most 500"),
        ("/api/shakespeare/generate", {"prime": "ROMEO: 💥"}, 422, "never saw"),
        ("/api/shakespeare/generate", {"prime": "a", "temperature": 0}, 422, "greater than 0"),
        (
            "/api/shakespeare/generate",
            {"prime": "a", "seed": 2**64},
            422,
            "less than or equal to 18446744073709551615",
        ),
        (
            "/api/shakespeare/predict",
            {"prime": "a", "seed": 2**70},
            422,
            "less than or equal to 18446744073709551615",
        ),
        ("/api/shakespeare/generate", {"prime": "a", "seed": -1}, 422, "greater than or equal to 0"),
        ("/api/fr-en/predict", {"text": "un .", "beam": 11}, 422, "at most 10"),
        ("/api/fr-en/predict", {"text": "un .", "beam": 0}, 422, "greater than or equal to 1"),
        ("/api/ner/predict", {"text": "!!! ???"}, 200, ""),
        ("/api/nobody/predict", {"text": "good"}, 404, "no model named 'nobody'"),
        ("/api/review/explode", {"text": "good"}, 404, "has no 'explode'"),
    ],
)
def test_bad_requests_are_refused_with_a_json_message(server, path, body, status, match):
    response = server.post(path, json=body)
    assert response.status_code == status, response.text
    if match:
        assert match in json.dumps(response.json()["detail"])
    assert post(server, "review", {"text": "good"}).status_code == 200


def test_the_largest_seed_streams_the_seeded_sample(server, runs):
    """Seeds are 0 .. 2**64 - 1, what torch's generator takes; beyond, a 422 (above), not a 500."""
    model, vocab, _ = charlm.load_run(runs["shakespeare"])
    seed = 2**64 - 1
    expected = "".join(charlm.sample(model, vocab, "ROMEO:", 40, 0.8, None, seed=seed))
    body = {"prime": "ROMEO:", "length": 40, "seed": seed}
    with server.stream("POST", "/api/shakespeare/generate", json=body) as response:
        assert response.status_code == 200
        assert "".join(response.iter_text()) == expected
    assert post(server, "shakespeare", body).json()["text"] == expected


def test_malformed_json_and_oversized_bodies(server):
    bad = server.post(
        "/api/review/predict", content=b'{"text": "good"', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422
    big = server.post(
        "/api/review/predict", content=b"x" * 20_000, headers={"content-type": "application/json"}
    )
    assert big.status_code == 413 and "16384 bytes" in big.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 1_000

    chunked = server.post(
        "/api/review/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert server.get("/m/nobody").status_code == 404
    assert post(server, "review", {"text": "good"}).status_code == 200


def test_too_many_requests_in_flight_get_429():
    slow = Slow(1.0)
    limits = Limits(max_concurrent=2, max_batch=1)
    with running(create_app({"slow": slow}, limits)) as url, httpx.Client(base_url=url, timeout=30) as client:
        with ThreadPoolExecutor(4) as pool:
            statuses = sorted(pool.map(lambda _: post(client, "slow", {"text": "x"}).status_code, range(4)))
        assert statuses == [200, 200, 429, 429]
        assert post(client, "slow", {"text": "x"}).status_code == 200  # and it goes on


def test_cors_is_off_unless_asked():
    for cors, allowed in ((None, None), (["http://example.org"], "http://example.org")):
        app = create_app({"slow": Slow(0)}, cors=cors)
        with running(app) as url, httpx.Client(base_url=url) as client:
            response = client.get("/health", headers={"Origin": "http://example.org"})
            assert response.headers.get("access-control-allow-origin") == allowed


# -- the command -----------------------------------------------------------------------------------------


def test_serve_command_refuses_what_it_cannot_serve(runs, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "none")]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert main(["serve", str(runs["review"]), f"review={runs['ner']}"]) == 2
    assert "two runs are named 'review'" in capsys.readouterr().err
    assert main(["serve", f"bad/name={runs['ner']}"]) == 2
    assert "may hold only letters" in capsys.readouterr().err
    assert main(["serve", str(runs["review"]), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    assert main(["serve", str(tmp_path / "old")]) == 2
    assert "no run.json" in capsys.readouterr().err
