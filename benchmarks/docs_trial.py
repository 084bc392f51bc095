"""A fresh-clone trial of every shell command that README.md and docs/*.md show (issue 30).

    nice -n 19 python benchmarks/docs_trial.py                        # the README's install (make)
    nice -n 19 python benchmarks/docs_trial.py --venv /work/main/.venv --limit 40

It clones the repository's committed HEAD into a temporary folder, next to a ``shared`` link to the
datasets (so that ``../shared/data`` resolves as the docs say), sets up ``.venv`` the README's way
(``make``'s install target; ``--venv PATH`` reuses a built one: the clone's own code is then put
first on ``PYTHONPATH``, and ``make`` is told the install is done), and runs every command that the
pages' code blocks show (tests/docs_commands.py finds them), in page order, from the clone's root,
with ``.venv/bin`` first on ``PATH`` and ``RNNKIT_DATA=../shared/data`` as the README says.

Each command runs until it has used ``--limit`` seconds of CPU (default 40; all its processes
together), or ten times that in wall-clock seconds: counting CPU keeps other jobs on a busy machine
from deciding the outcome of a niced trial. Its outcome:

- ``ok``: it exited with 0;
- ``started``: it was still running at the limit and had printed its work so far with no error
  (the note is its last line: a progress bar, a served address); long training is tried this way,
  and stopped as soon as it prints a training progress line (``Epoch 1/N``) or its served address;
- ``fail``: a non-zero exit (the note is the last line of stderr), or nothing printed by the limit;
- ``needs-run: OUTCOME``: it reads a run directory that a training command of the docs makes, and
  that command was cut short here (or comes later in the docs): a small stand-in is made once by
  that same command with a tiny budget (``--minutes 0.2``, ``--epochs 1``, ...) and the command
  is retried against it; OUTCOME is the retry's;
- ``skipped``: a synopsis (``[--cell rnn|lstm|gru]``, ``...``) or a line for other machines.

Placeholders a user replaces (``a.wav``, ``seqs.fa``, ``RUN``, ...) are made from the real datasets
before the first command; the script says which. A ``flock /tmp/rnnkit-cpu.lock`` in front of a
command is dropped (the lock is for timed runs; this trial times nothing). The table (page, line,
command, outcome, seconds, note) goes to stdout as markdown; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from docs_commands import Shown, argvs, commands, inline_commands, is_synopsis, program, shell_commands
from docs_trial_inputs import PLACEHOLDERS, make_inputs

STAMP = ".venv/.installed"
TINY = (["--minutes", "0.2"], ["--epochs", "1"], ["--steps", "200"], ["--subset", "2000"])
ERROR = re.compile(r"Traceback \(most recent call last\)|^(error|Error)\b|^\w*Error: ", re.MULTILINE)
PROGRESS = re.compile(r"^Epoch \d+/\d+$|Uvicorn running on", re.MULTILINE)
OTHER_MACHINES = re.compile(r"\b10\.0\.0\.\d+\b")


@dataclass
class Outcome:
    outcome: str
    seconds: float
    note: str = ""
    cpu: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo", default=str(Path(__file__).resolve().parent.parent), help="git repository to clone"
    )
    parser.add_argument(
        "--shared", default="/work/shared", help="the folder that holds data/ (linked as ../shared)"
    )
    parser.add_argument("--rev", default="HEAD", help="the commit to try (default: HEAD)")
    parser.add_argument("--venv", help="reuse this built virtualenv instead of the README's `make` install")
    parser.add_argument(
        "--limit", type=float, default=40.0, help="CPU seconds each command may use (default: 40)"
    )
    parser.add_argument("--standin-limit", type=float, default=600.0, help="CPU seconds for a stand-in run")
    parser.add_argument(
        "--wall-factor",
        type=float,
        default=10.0,
        help="stop at this many times the limit in wall seconds too",
    )
    parser.add_argument("--only", help="run only the commands whose 'page:line command' matches this regex")
    parser.add_argument("--where", help="the folder for the temporary clone (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its runs and outputs)")
    args = parser.parse_args(argv)

    if args.where:
        Path(args.where).mkdir(parents=True, exist_ok=True)  # a folder to put the clone in, made if new
    work = Path(tempfile.mkdtemp(prefix="rnnkit-trial-", dir=args.where))
    clone = work / "rnnkit"
    try:
        subprocess.run(["git", "clone", "--quiet", args.repo, str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", args.rev], check=True)
        (work / "shared").symlink_to(Path(args.shared).resolve())
        head = subprocess.run(
            ["git", "-C", str(clone), "log", "-1", "--format=%h %cs"], capture_output=True, text=True
        )
        print(f"Trial of the docs' commands on a clone of {args.repo} at {head.stdout.strip()}", end=" ")
        venv = f"venv {args.venv}" if args.venv else "the README's make install"
        print(f"(limit {args.limit:.0f} CPU s a command; {venv})\n")
        trial = Trial(clone, args)
        if not trial.set_up():
            return 1
        for made in make_inputs(clone, work / "shared" / "data", trial.venv_python):
            print(f"- stand-in input: {made}")
        shown_all = shell_commands(clone)
        # who makes each run folder, wherever it stands in the docs (in prose too: "runs/seed-e3 is ...")
        for shown in [*shown_all, *inline_commands(clone)]:
            for folder in trial.writes(shown):
                trial.producers.setdefault(folder, shown)
        rows = []
        for shown in shown_all:
            if args.only and not re.search(args.only, f"{shown.page}:{shown.line} {shown.command}"):
                continue
            result = trial.run(shown)
            say(
                f"{shown.page}:{shown.line} {result.outcome} {result.seconds:.0f} s"
                f" ({result.cpu:.0f} CPU s) {result.note}"
            )
            rows.append((shown, result))
        if trial.background is not None:
            trial.stop_background()
        print(table(rows))
        counts = {}
        for _, result in rows:
            key = result.outcome.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        retried = [r.outcome.split(": ")[1] for _, r in rows if r.outcome.startswith("needs-run")]
        print("\n" + ", ".join(f"{n} {k}" for k, n in counts.items()), f"of {len(rows)} commands;", end=" ")
        print(
            "needs-run retries: "
            + (", ".join(f"{retried.count(o)} {o}" for o in sorted(set(retried))) or "none")
        )
        return int(any(failed(r.outcome) for _, r in rows))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def split(command: str) -> list[str]:
    """The words of a shell line, its comment left out (or split at spaces if it is not valid shell)."""
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def failed(outcome: str) -> bool:
    return outcome == "fail" or outcome.endswith(": fail")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Trial:
    def __init__(self, clone: Path, args: argparse.Namespace):
        self.clone, self.args = clone, args
        self.venv_python = str(clone / ".venv" / "bin" / "python")
        self.env = {
            **os.environ,
            "VIRTUAL_ENV": str(clone / ".venv"),
            "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "RNNKIT_DATA": "../shared/data",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("PYTHONPATH", None)
        self.make = ["make"]
        self.cut_short: set[str] = set()  # run folders whose command was stopped at the limit
        self.stand_ins: dict[str, Outcome] = {}
        self.producers: dict[str, Shown] = {}
        self.background: subprocess.Popen | None = None

    def set_up(self) -> bool:
        if self.args.venv:
            (self.clone / ".venv").symlink_to(Path(self.args.venv).resolve())
            self.env["PYTHONPATH"] = str(self.clone)  # the clone's code before the venv's editable install
            self.make = ["make", "-o", STAMP]  # the venv is built: do not reinstall into it
            say(f"reusing {self.args.venv} (the clone's code first on PYTHONPATH; make -o {STAMP})")
            return True
        say("setting up .venv the README's way (make's install step, no time limit)")
        done = subprocess.run(["make", STAMP], cwd=self.clone, env=self.env, capture_output=True, text=True)
        if done.returncode:
            say(f"the install failed:\n{done.stdout}\n{done.stderr}")
        return done.returncode == 0

    # -- what a command reads and writes -------------------------------------------------------

    def writes(self, shown: Shown) -> list[str]:
        """The run folders a command makes: each ``--out``, or a training command's default."""
        words = split(shown.command)
        found = [words[i + 1].rstrip("/;") for i, w in enumerate(words[:-1]) if w == "--out"]
        name, rest = program(words)
        if name == "make" and rest:
            recipe = subprocess.run(
                [*self.make, "-n", rest[0]], cwd=self.clone, capture_output=True, text=True
            )
            for line in recipe.stdout.splitlines():
                found += self.writes(Shown(shown.page, shown.line, line))
        for argv in argvs(shown.command):
            namespace = parsed(self.clone, argv)
            if namespace is not None and "--out" not in argv:
                out = getattr(namespace, "out", None) or default_out(argv, namespace)
                if out:
                    found.append(str(out))
        return found

    def reads(self, shown: Shown) -> list[str]:
        own = set(self.writes(shown))
        found = []
        for word in split(shown.command):
            word = word.split("=", 1)[1] if re.match(r"^[\w-]+=runs/", word) else word
            for folder in self.producers:
                if folder not in own and (word == folder or word.startswith(folder + "/")):
                    found.append(folder)
        return found

    # -- running -------------------------------------------------------------------------------

    def run(self, shown: Shown) -> Outcome:
        command = shown.command
        for placeholder, real in PLACEHOLDERS.items():
            command = re.sub(rf"(?<![\w./-]){re.escape(placeholder)}(?![\w.-])", real, command)
        if "benchmarks/docs_trial.py" in command:
            return Outcome("skipped", 0, "this trial itself")
        if OTHER_MACHINES.search(command):
            return Outcome("skipped", 0, "names other machines (10.0.0.x)")
        if any(is_synopsis(argv) for argv in argvs(command)) or "..." in command:
            return Outcome("skipped", 0, "a synopsis, not a command")
        command = re.sub(r"\bflock /tmp/rnnkit-cpu\.lock ", "", command)
        if program(split(command))[0] == "make":
            command = command.replace("make ", " ".join(self.make) + " ", 1)
        if program(split(command))[0] == "pip" and self.args.venv:
            command = command.replace(" install ", " install --dry-run ", 1)
        shown = Shown(shown.page, shown.line, command)
        if self.background is not None and program(split(command))[0] != "curl":
            self.stop_background()
        stale = [folder for folder in self.reads(shown) if self.needs_stand_in(folder)]
        for folder in stale:
            made = self.make_stand_in(folder)
            if made.outcome not in ("ok",):
                return Outcome("needs-run: fail", made.seconds, f"stand-in {folder}: {made.note}", made.cpu)
        keep = program(split(command))[0] == "rnnkit" and " serve " in f" {command} "
        for folder in self.writes(shown):
            # a stand-in (tiny settings) where this command trains for real would be refused as "a
            # run with other settings": a user who ran the documented command has the real one
            if folder in self.stand_ins and folder not in stale:
                shutil.rmtree(self.clone / folder, ignore_errors=True)
                self.stand_ins.pop(folder)
        result = self.execute(command, self.args.limit, keep=keep)
        # a run it reads that its command line does not name (a preset's lm='runs/lm-conll'), cut
        # short earlier: the error names it; stand it in and try once more
        named = [
            folder
            for folder in self.producers
            if result.outcome == "fail"
            and re.search(rf"(?<![\w/.-]){re.escape(folder)}(?![\w-])", result.note)
            and folder not in stale
            and folder not in self.writes(shown)
            and self.needs_stand_in(folder)
        ]
        if named:
            for folder in named:
                made = self.make_stand_in(folder)
                if made.outcome != "ok":
                    note = f"stand-in {folder}: {made.note}"
                    return Outcome("needs-run: fail", made.seconds, note, made.cpu)
            stale = [*stale, *named]
            result = self.execute(command, self.args.limit, keep=keep)
        for folder in self.writes(shown):
            self.producers[folder] = shown  # the latest command that made it is the one to repeat
            if result.outcome == "started":
                self.cut_short.add(folder)
                self.stand_ins.pop(folder, None)
            elif result.outcome == "ok":
                self.cut_short.discard(folder)
        if stale:
            result.outcome = f"needs-run: {result.outcome}"
            result.note = f"stand-in {', '.join(stale)}; {result.note}"
        return result

    def needs_stand_in(self, folder: str) -> bool:
        if folder in self.stand_ins:
            return False
        return folder in self.cut_short or not (self.clone / folder).exists()

    def make_stand_in(self, folder: str) -> Outcome:
        """The folder's run made again by the command that makes it, with a tiny budget."""
        producer = self.producers[folder]
        # of a line of several commands ("a; b --out runs/x; c"), the one that makes the folder
        parts = [shlex.join(part) for part in commands(split(producer.command)) if part]
        words = split(
            next((part for part in parts if folder in self.writes(Shown("", 0, part))), producer.command)
        )
        name, _ = program(words)
        if name == "make":
            recipe = subprocess.run(
                [*self.make, "-n", words[-1]], cwd=self.clone, capture_output=True, text=True
            )
            lines = [line for line in recipe.stdout.splitlines() if folder in self.writes(Shown("", 0, line))]
            words = shlex.split(lines[-1]) if lines else words
        words = [w for w in words if w != "--restart"]
        task = (argvs(shlex.join(words)) or [[""]])[0][:1]
        for flag, value in TINY:
            if flag == "--subset" and task != ["sentiment"]:
                continue  # a number of reviews in sentiment; elsewhere a subset by name (activity's AS1)
            if flag in words:
                words[words.index(flag) + 1] = value
            elif program(words)[0] == "rnnkit":
                argv = argvs(shlex.join(words))[0]
                if parsed(self.clone, [*argv, flag, value]) is not None:
                    words += [flag, value]
        shutil.rmtree(self.clone / folder, ignore_errors=True)
        command = shlex.join(words)
        say(f"  stand-in for {folder} ({producer.page}:{producer.line}): {command}")
        made = self.execute(command, self.args.standin_limit, early=False)
        if made.outcome == "ok":
            self.cut_short.discard(folder)
        self.stand_ins[folder] = made
        return made

    def execute(self, command: str, limit: float, keep: bool = False, early: bool = True) -> Outcome:
        """Run ``command`` in bash from the clone's root for at most ``limit`` seconds."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            return self._execute(command, limit, keep, early, out, err)

    def _execute(self, command: str, limit: float, keep: bool, early: bool, out, err) -> Outcome:
        start = time.perf_counter()
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.clone,
            env=self.env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

        def progress() -> bool:
            printed = "".join(
                Path(f"/proc/self/fd/{f.fileno()}").read_text(errors="replace") for f in (out, err)
            )
            return early and bool(PROGRESS.search(printed)) and not ERROR.search(printed)

        code, cpu = wait(process, limit, limit * self.args.wall_factor, progress)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()  # what it printed by the limit, before it is stopped
        if code is None and keep:
            self.background = process
        elif code is None:
            stop(process)
        if code == 0:
            return Outcome("ok", seconds, cpu=cpu, note=last_line(stdout) or last_line(stderr))
        if code is not None:
            return Outcome(
                "fail", seconds, cpu=cpu, note=f"exit {code}: {last_line(stderr) or last_line(stdout)}"
            )
        printed = stdout + stderr
        if printed.strip() and not ERROR.search(printed):
            return Outcome("started", seconds, cpu=cpu, note=last_line(printed))
        return Outcome(
            "fail", seconds, cpu=cpu, note=f"at the limit: {last_line(printed) or 'nothing printed'}"
        )

    def stop_background(self) -> None:
        stop(self.background)
        self.background = None


def default_out(argv: list[str], namespace: argparse.Namespace) -> str | None:
    """Where a command without ``--out`` writes its run, as the CLI decides after parsing."""
    if argv[:2] == ["speech", "train"]:
        return f"runs/speech-{namespace.task}" + ("-loso" if getattr(namespace, "loso", False) else "")
    if argv[:2] == ["lab", "adding"]:
        return f"runs/lab/adding_T{namespace.T}"
    preset = getattr(namespace, "preset", None)
    return f"runs/{preset}" if preset and hasattr(namespace, "out") else None


def wait(process: subprocess.Popen, cpu_limit: float, wall_limit: float, shown) -> tuple[int | None, float]:
    """Wait until the command ends, shows a training progress line (``shown()``), has used
    ``cpu_limit`` seconds of CPU (all its processes), or ``wall_limit`` seconds have passed; return
    its exit status (None if still running) and its CPU seconds. Counting CPU keeps a niced trial on
    a busy machine from stopping commands that other jobs kept off the cores; a progress line is
    what the limit would show, and running on would only spend the machine."""
    start, cpu = time.perf_counter(), 0.0
    while True:
        try:
            return process.wait(timeout=1.0), cpu
        except subprocess.TimeoutExpired:
            cpu = max(cpu, session_cpu(process.pid))
            if cpu >= cpu_limit or time.perf_counter() - start >= wall_limit or shown():
                return None, cpu


def session_cpu(session: int) -> float:
    """CPU seconds of the processes of a session, with their waited-for children's (Linux /proc)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[3]) == session:  # fields from the state on: [3] session, [11:15] CPU ticks
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen) -> None:
    """End the command and everything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def parsed(clone: Path, argv: list[str]) -> argparse.Namespace | None:
    """rnnkit's own parse of ``argv`` (the clone's parser), or None if it refuses it."""
    if str(clone) not in sys.path:
        sys.path.insert(0, str(clone))
    from rnnkit.cli import parse_args

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parse_args(argv)
        except SystemExit:
            return None


def last_line(text: str) -> str:
    lines = [line.split("\r")[-1].strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:100] if lines else ""


def table(rows: list[tuple[Shown, Outcome]]) -> str:
    out = ["| page | line | command | outcome | wall s | CPU s | note |", "|---|---:|---|---|---:|---:|---|"]
    for shown, result in rows:
        command = re.sub(r"\s+#\s.*$", "", shown.command)  # the command, not its comment
        command = command if len(command) <= 90 else command[:87] + "..."
        cells = [
            shown.page,
            str(shown.line),
            f"`{command}`",
            result.outcome,
            f"{result.seconds:.0f}",
            f"{result.cpu:.0f}",
            result.note,
        ]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
