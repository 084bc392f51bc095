"""Real-time factor of transcription: seconds of audio per second of work, for one file at a time.

    flock /tmp/rnnkit-cpu.lock .venv/bin/python benchmarks/speech_rtf.py runs/speech-sentences \\
        ../shared/data/speechocean762/audio/SPEAKER0003/000030012.opus [--repeats 20]

Times the whole of what ``rnnkit speech RUN FILE`` does for a file once the run is loaded: reading
and resampling, the log-mel features, the model, and decoding (greedy, and the run's beam with its
LM), on one torch thread (what the predict command chooses for one file). Prints the median over
``--repeats`` (after one warm-up) and the real-time factor = audio seconds / median seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnkit.tasks.speech.predict import Predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("file")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = Predictor.from_run(args.run)
    beams = [1] if predictor.config.task == "digits" else [1, predictor.config.beam]
    print("| decoder | audio s | median s | real-time factor |\n|---|---|---|---|")
    for beam in beams:
        predictor([(args.file, args.file)], beam)  # warm-up
        times, answer = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            answer = predictor([(args.file, args.file)], beam)[0]
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        name = "greedy" if beam == 1 else f"beam {beam}" + (" + LM" if predictor.lm is not None else "")
        print(f"| {name} | {answer['seconds']:.2f} | {median:.4f} | {answer['seconds'] / median:.0f}x |")
    print(f"\ntranscript: {answer['transcript']!r}; torch threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
