"""One way to map a function over samples, in worker processes, that never hangs and never loses a bad file.

Every offline stage (statistics, bank, cutmix) is a map over the samples of a split followed by a
reduce in the main process. :func:`map_samples` is that map:

- ``func(state, task)`` runs in worker processes (forked where the platform allows, so ``state``,
  e.g. a layout and its sample list, is shared copy-on-write and never pickled) or in-process for
  one worker;
- results come back in task order (``ordered=True``, for deterministic artifacts) or as they finish;
- a :class:`~lt_data.errors.DataError` raised for one sample is that sample's verdict, not the end of
  the run: it is skipped and recorded with ``skip_bad``, and otherwise the run goes on collecting bad
  samples (up to ``max_bad``) and then raises one error naming every one of them, so a user fixes
  all bad files after one run instead of one per re-run;
- any other exception in a worker (a bug), a worker killed by the system (out of memory, a signal)
  and Ctrl-C in the main process stop the run at once: the workers are killed and reaped, and the
  error names the samples the dead worker held.

Why not ``multiprocessing.Pool``: its ``terminate`` joins a result queue whose lock a killed worker
may hold, which hung ``lt-data stats`` about once in twenty runs under load. Here every worker has
its own pipe, read only by the main process, so no lock is shared and stopping is always
``kill`` + ``join``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Sequence

from .errors import BadInput, DataError, LtDataError

MAX_BAD = 50  # bad samples collected before a run without skip_bad gives up
_PREFETCH = 2  # chunks queued per worker, so a worker never waits for the main process


def default_workers() -> int:
    """Usable cores (the process's CPU affinity), at most 16."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(n, 16))


def resolve_workers(workers: int | None, option: str = "--workers") -> int:
    """``None`` → :func:`default_workers`; a number below 1 is a user error."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise LtDataError(f"{option} must be a whole number of processes, at least 1, got {workers}")
    return int(workers)


class BadSamples(DataError):
    """Several bad samples found in one run: ``str(err)`` names each one, on one line."""

    def __init__(self, bad: Sequence[BadInput], *, stopped_early: bool = False, hint: str = ""):
        self.all_bad = list(bad)
        first = self.all_bad[0]
        problem = first.problem
        if len(self.all_bad) > 1:
            more = "; ".join(str(b) for b in self.all_bad[1:])
            problem += f" (and {len(self.all_bad) - 1} more bad samples: {more})"
        if stopped_early:
            problem += f"; stopped after {len(self.all_bad)} bad samples"
        if hint:
            problem += f"; {hint}"
        super().__init__(first.path, problem)


class WorkerFailed(LtDataError):
    """A worker process crashed (a bug, or killed by the system); names the samples it held."""


def map_samples(func: Callable[[Any, Any], Any], tasks: Sequence[Any], state: Any = None, *,
                workers: int | None = None, ordered: bool = True, skip_bad: bool = False,
                bad: list[BadInput] | None = None, max_bad: int = MAX_BAD, describe: Callable[[int], str] | None = None,
                desc: str = "", unit: str = "img", progress: bool = True, chunksize: int | None = None,
                hint: str = "--skip-bad skips such samples") -> Iterator[tuple[int, Any]]:
    """Yield ``(position, func(state, tasks[position]))`` for every task that succeeds.

    ``state`` is whatever ``func`` needs besides its task (a layout, the sample list, parameters).
    A task whose ``func`` raises :class:`DataError` yields nothing: with ``skip_bad`` its
    ``BadInput`` is appended to ``bad`` (a list the caller passes in) and the run goes on; without
    it the run goes on until ``max_bad`` bad samples were seen or the tasks are done, then raises
    :class:`BadSamples` naming them all (the bad samples already in ``bad``, e.g. unpaired files
    found by a layout's scan, come first). ``describe(position)`` names a task's file in a crash
    report. ``workers`` ``None`` means all cores; ``1`` runs in this process.
    """
    from tqdm import tqdm

    workers = min(resolve_workers(workers), max(1, len(tasks)))
    bad = [] if bad is None else bad
    found: list[BadInput] = list(bad)
    bar = tqdm(total=len(tasks), desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)

    def verdict(position: int, ok: bool, value: Any):
        if ok:
            return True
        found.append(value)
        if skip_bad:
            bad.append(value)
        elif len(found) >= max_bad:
            raise BadSamples(found, stopped_early=True, hint=hint)
        return False

    try:
        if workers == 1:
            for position, task in enumerate(tasks):
                ok, value = _call(func, state, task)
                if verdict(position, ok, value):
                    yield position, value
                bar.update(1)
        else:
            results = _run_processes(func, tasks, state, workers, ordered, chunksize, describe)
            try:
                for position, ok, value in results:
                    if verdict(position, ok, value):
                        yield position, value
                    bar.update(1)
            finally:
                results.close()  # stops the workers now, also when the caller or a verdict ends the run
        if found and not skip_bad:
            raise BadSamples(found, hint=hint)
    finally:
        bar.close()


def _call(func, state, task) -> tuple[bool, Any]:
    try:
        return True, func(state, task)
    except DataError as e:
        return False, e.bad


# ---- worker processes -----------------------------------------------------------------------------

def _worker_main(conn, func, state) -> None:
    """Receive chunks ``[(position, task), ...]``, send back ``("done", [(position, ok, value), ...])``;
    a bug sends ``("crash", position, traceback)`` and ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    try:
        while True:
            chunk = conn.recv()
            if chunk is None:
                return
            out = []
            for position, task in chunk:
                try:
                    out.append((position, *_call(func, state, task)))
                except BaseException:  # noqa: BLE001 - reported to the main process, which stops the run
                    conn.send(("crash", position, traceback.format_exc()))
                    return
            conn.send(("done", out))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the main process went away or stopped the run


def _context():
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")


def _run_processes(func, tasks, state, workers, ordered, chunksize, describe):
    n = len(tasks)
    size = chunksize or max(1, min(64, n // (workers * 8) or 1))
    chunks = deque([(s, min(s + size, n)) for s in range(0, n, size)])
    ctx = _context()
    procs, conns, held = [], [], []
    try:
        for _ in range(workers):
            parent, child = ctx.Pipe(duplex=True)
            p = ctx.Process(target=_worker_main, args=(child, func, state), daemon=True)
            p.start()
            child.close()
            procs.append(p)
            conns.append(parent)
            held.append(deque())

        def feed(w: int) -> None:
            while chunks and len(held[w]) < _PREFETCH:
                s, e = chunks.popleft()
                held[w].append((s, e))
                try:
                    conns[w].send([(i, tasks[i]) for i in range(s, e)])
                except (BrokenPipeError, ConnectionResetError):
                    raise _died(procs[w], held[w], describe) from None

        for w in range(workers):
            feed(w)
        pending: dict[int, tuple[bool, Any]] = {}
        next_out = 0
        remaining = n
        live = set(range(workers))
        while remaining:
            ready = wait([conns[w] for w in live] + [procs[w].sentinel for w in live])
            for w in list(live):
                if conns[w] in ready or (procs[w].sentinel in ready and conns[w].poll()):
                    try:
                        msg = conns[w].recv()
                    except (EOFError, ConnectionResetError):  # the worker died mid-send or before
                        msg = None
                    if msg is None:
                        raise _died(procs[w], held[w], describe)
                    if msg[0] == "crash":
                        where = describe(msg[1]) if describe else f"task {msg[1]}"
                        raise WorkerFailed(f"a worker failed on {where}:\n{msg[2]}")
                    held[w].popleft()
                    for position, ok, value in msg[1]:
                        remaining -= 1
                        if ordered:
                            pending[position] = (ok, value)
                        else:
                            yield position, ok, value
                    if ordered:
                        while next_out in pending:
                            ok, value = pending.pop(next_out)
                            yield next_out, ok, value
                            next_out += 1
                    feed(w)
                    if not held[w]:
                        live.discard(w)
                        try:
                            conns[w].send(None)
                        except (BrokenPipeError, ConnectionResetError):
                            pass  # it had nothing left to do
                elif procs[w].sentinel in ready:
                    raise _died(procs[w], held[w], describe)
    finally:
        _stop(procs, conns)


def _died(proc, held, describe) -> WorkerFailed:
    proc.join(timeout=1)
    code = proc.exitcode
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    if held:
        s, e = held[0]
        what = ", ".join(describe(i) for i in range(s, min(e, s + 3))) if describe else f"tasks {s}..{e - 1}"
        if e - s > 3 and describe:
            what += f" (and {e - s - 3} more)"
    else:
        what = "no task"
    hint = " (out of memory?)" if code == -signal.SIGKILL else ""
    return WorkerFailed(f"a worker process {how}{hint} while processing {what}")


def _stop(procs, conns) -> None:
    """Stop every worker without waiting on anything a worker could hold: kill, then reap."""
    for c in conns:
        try:
            c.close()
        except OSError:
            pass
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)


__all__ = ["BadSamples", "MAX_BAD", "WorkerFailed", "default_workers", "map_samples", "resolve_workers"]
