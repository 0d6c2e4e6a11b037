"""One way to map a function over samples, in worker processes, that never hangs and never loses a bad file.

Every offline stage (statistics, bank, cutmix) is a map over the samples of a split followed by a
reduce in the main process. :func:`map_samples` is that map:

- ``func(state, task)`` runs in worker processes (forked where the platform allows, so ``state``,
  e.g. a layout and its sample list, is shared copy-on-write and never pickled) or in-process for
  one worker;
- results come back in task order (``ordered=True``, for deterministic artifacts) or as they finish;
- a :class:`~lt_data.core.errors.DataError` raised for one sample is that sample's verdict, not the end of
  the run: it is skipped and recorded with ``skip_bad``, and otherwise the run goes on collecting bad
  samples (up to ``max_bad``) and then raises one error naming every one of them, so a user fixes
  all bad files after one run instead of one per re-run;
- any other exception in a worker (a bug), a worker killed by the system (out of memory, a signal)
  and Ctrl-C in the main process stop the run at once: the workers are killed and reaped, and the
  error names the samples the dead worker held.

With ``backend="dask"`` the same chunks run as tasks on a Dask cluster (``scheduler``: the address
of a running ``distributed`` scheduler, or ``local:N`` for a ``LocalCluster`` of N single-threaded
worker processes started here); the verdicts, ordering, bad-sample handling and crash reports are
the same code, so the artifacts are the same bytes. At most four chunks per worker thread are in
flight, so results never pile up in memory, whatever the number of samples.

Why not ``multiprocessing.Pool``: its ``terminate`` joins a result queue whose lock a killed worker
may hold, which hung ``lt-data stats`` about once in twenty runs under load. Here every worker has
its own pipe, read only by the main process, so no lock is shared and stopping is always
``kill`` + ``join``.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import re
import signal
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Literal, Sequence

from ..core.errors import BadInput, DataError, LtDataError, check_terminated

MAX_BAD = 50  # bad samples collected before a run without skip_bad gives up
_PREFETCH = 2  # chunks queued per worker, so a worker never waits for the main process


Backend = Literal["processes", "dask"]
BACKENDS = ("processes", "dask")


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
                hint: str = "--skip-bad skips such samples", backend: Backend = "processes",
                scheduler: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(position, func(state, tasks[position]))`` for every task that succeeds.

    ``state`` is whatever ``func`` needs besides its task (a layout, the sample list, parameters).
    A task whose ``func`` raises :class:`DataError` yields nothing: with ``skip_bad`` its
    ``BadInput`` is appended to ``bad`` (a list the caller passes in) and the run goes on; without
    it the run goes on until ``max_bad`` bad samples were seen or the tasks are done, then raises
    :class:`BadSamples` naming them all (the bad samples already in ``bad``, e.g. unpaired files
    found by a layout's scan, come first). ``describe(position)`` names a task's file in a crash
    report. ``workers`` ``None`` means all cores; ``1`` runs in this process. ``backend="dask"`` runs
    the chunks on the Dask cluster ``scheduler`` (an address, or ``local:N``; ``None`` starts a local
    cluster of ``workers`` processes), see :func:`dask_client`.
    """
    from tqdm import tqdm

    check_backend(backend, scheduler)
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
        if workers == 1 and backend == "processes":
            for position, task in enumerate(tasks):
                check_terminated()
                ok, value = _call(func, state, task)
                if verdict(position, ok, value):
                    yield position, value
                bar.update(1)
        else:
            run = _run_dask if backend == "dask" else _run_processes
            results = run(func, tasks, state, workers, ordered, chunksize, describe, scheduler=scheduler)
            try:
                for position, ok, value in results:
                    check_terminated()
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

def die_with_parent(parent: int) -> None:
    """End this (worker) process as soon as the process ``parent`` is gone, however it went (kill -9
    included): the kernel's parent-death signal on Linux, and a watchdog thread elsewhere and for the
    race where the parent died before the signal was armed."""
    import threading
    import time

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="lt-data-watchdog", daemon=True).start()


def _worker_main(conn, func, state, parent: int = 0, inherited: Sequence[int] = ()) -> None:
    """Receive chunks ``[(position, task), ...]``, send back ``("done", [(position, ok, value), ...])``;
    a bug sends ``("crash", position, traceback)`` and ends the worker.

    ``inherited``: the main process's ends of the workers' pipes, which a forked worker holds
    copies of; closed first, so that the main process's death closes every pipe (EOF here)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the main process's handler is not ours
    for fd in inherited:
        try:
            os.close(fd)
        except OSError:
            pass
    if parent:
        die_with_parent(parent)
    try:
        while True:
            chunk = conn.recv()
            if chunk is None:
                return
            msg = _run_chunk(func, state, chunk)
            conn.send(msg)
            if msg[0] == "crash":
                return
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the main process went away or stopped the run


def _run_chunk(func, state, chunk) -> tuple:
    """``("done", [(position, ok, value), ...])``, or ``("crash", position, traceback)`` for a bug."""
    out = []
    for position, task in chunk:
        try:
            out.append((position, *_call(func, state, task)))
        except BaseException:  # noqa: BLE001 - reported to the main process, which stops the run
            return ("crash", position, traceback.format_exc())
    return ("done", out)


def _chunks(n: int, workers: int, chunksize: int | None, largest: int = 64) -> deque:
    size = chunksize or max(1, min(largest, n // (workers * 8) or 1))
    return deque([(s, min(s + size, n)) for s in range(0, n, size)])


class _Reorder:
    """Turns chunk results arriving in any order into ``(position, ok, value)`` in task order, or as they come."""

    def __init__(self, ordered: bool):
        self.ordered, self.pending, self.next = ordered, {}, 0

    def __call__(self, rows) -> Iterator[tuple[int, bool, Any]]:
        if not self.ordered:
            yield from rows
            return
        for position, ok, value in rows:
            self.pending[position] = (ok, value)
        while self.next in self.pending:
            ok, value = self.pending.pop(self.next)
            yield self.next, ok, value
            self.next += 1


def _context():
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")


def _run_processes(func, tasks, state, workers, ordered, chunksize, describe, scheduler=None):
    n = len(tasks)
    chunks = _chunks(n, workers, chunksize)
    ctx = _context()
    procs, conns, held = [], [], []
    try:
        forked = ctx.get_start_method() == "fork"
        for _ in range(workers):
            parent, child = ctx.Pipe(duplex=True)
            inherited = [c.fileno() for c in conns + [parent]] if forked else []
            p = ctx.Process(target=_worker_main, args=(child, func, state, os.getpid(), inherited), daemon=True)
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
        reorder = _Reorder(ordered)
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
                    remaining -= len(msg[1])
                    yield from reorder(msg[1])
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


# ---- Dask -----------------------------------------------------------------------------------------------

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_CLIENTS: dict[tuple, Any] = {}
_DASK_QUEUE = 4  # chunks in flight per worker thread


def check_backend(backend: Backend, scheduler: str | None) -> None:
    """A user error for an unknown backend, a scheduler without the Dask backend, or a bad ``local:N``."""
    if backend not in BACKENDS:
        raise LtDataError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise LtDataError("--scheduler applies to --backend dask only")
    if scheduler is not None:
        m = _LOCAL.match(scheduler)
        if m and m.group(1) is not None and int(m.group(1)) < 1:
            raise LtDataError(f"--scheduler {scheduler}: a local cluster needs at least 1 worker")
        if not m and not re.match(r"^[A-Za-z0-9+.-]+://|^[^\s:/]+:\d+$", scheduler):
            raise LtDataError(f"--scheduler {scheduler!r}: give a scheduler address (tcp://host:8786) or "
                              f"local:N for a local cluster of N worker processes")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise LtDataError("--backend dask needs dask.distributed: pip install 'lt-data[dask]'") from None


def dask_client(scheduler: str | None, workers: int):
    """A ``distributed.Client``: connected to the scheduler at ``scheduler``, or to a ``LocalCluster``
    of single-threaded worker processes (``local:N``: N of them; ``None`` or ``local``: ``workers``).
    Clients are kept for the life of the process (a stage with two passes starts one cluster) and
    closed at exit."""
    from distributed import Client, LocalCluster

    m = _LOCAL.match(scheduler or "local")
    key = ("local", int(m.group(1) or workers)) if m else ("address", scheduler)
    client = _CLIENTS.get(key)
    if client is not None and client.status == "running":
        return client
    try:
        if m:
            # The workers ignore Ctrl-C (lt_data.jobs.dask_worker): it is the main process's, which closes
            # the cluster. (Ignoring it in the main process while the cluster starts would be
            # inherited too, but would lose a Ctrl-C pressed meanwhile.)
            cluster = LocalCluster(n_workers=key[1], threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=40, preload=["lt_data.jobs.dask_worker"])
            client = Client(cluster, set_as_default=False)
        else:
            client = Client(scheduler, set_as_default=False, timeout=30)
    except OSError as e:
        raise LtDataError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({e})") from None
    _CLIENTS[key] = client
    return client


@atexit.register
def close_dask_clients() -> None:
    """Close the clients (and the local clusters) this process started."""
    if _CLIENTS:  # closing: the cluster's complaints about work cancelled by an interrupt are noise
        _silence_dask()
    while _CLIENTS:
        _, client = _CLIENTS.popitem()
        cluster = client.cluster if client.cluster is not None and client.scheduler_info else None
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:  # noqa: BLE001 - shutting down: nothing left to report to
            pass


def _silence_dask() -> None:
    import logging

    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _run_dask(func, tasks, state, workers, ordered, chunksize, describe, scheduler=None):
    try:
        yield from _run_dask_chunks(func, tasks, state, workers, ordered, chunksize, describe, scheduler)
    except KeyboardInterrupt:
        _silence_dask()  # before the cluster is torn down: one line for a Ctrl-C, not its tracebacks
        raise


def _run_dask_chunks(func, tasks, state, workers, ordered, chunksize, describe, scheduler=None):
    from distributed import as_completed

    client = dask_client(scheduler, workers)
    threads = sum(client.nthreads().values()) or workers
    # a Dask task costs a scheduler round trip (milliseconds, against microseconds for a pipe): bigger chunks
    chunks = _chunks(len(tasks), threads, chunksize, largest=512)
    # a list of one: scatter would otherwise send the items of a tuple or dict state one by one
    shared = client.scatter([state], broadcast=True, hash=False)[0]
    where: dict[Any, tuple[int, int]] = {}

    def submit() -> Any:
        s, e = chunks.popleft()
        fut = client.submit(_run_chunk, func, shared, [(i, tasks[i]) for i in range(s, e)], pure=False)
        where[fut] = (s, e)
        return fut

    # results are fetched in the background as tasks finish (with_results), and a few chunks per worker
    # thread wait queued, so a worker never idles for a round trip; at most that many results exist at once
    running = as_completed([submit() for _ in range(min(len(chunks), _DASK_QUEUE * threads))], loop=client.loop,
                           with_results=True, raise_errors=False)
    reorder = _Reorder(ordered)
    try:
        for fut, msg in running:
            s, e = where.pop(fut)
            if fut.status != "finished":
                what = ", ".join(describe(i) for i in range(s, min(e, s + 3))) if describe else f"tasks {s}..{e - 1}"
                raise WorkerFailed(f"a Dask task failed ({type(msg).__name__}: {msg}) while processing {what}")
            fut.release()
            if msg[0] == "crash":
                where_ = describe(msg[1]) if describe else f"task {msg[1]}"
                raise WorkerFailed(f"a worker failed on {where_}:\n{msg[2]}")
            if chunks:
                running.add(submit())
            yield from reorder(msg[1])
    finally:
        if where:
            client.cancel(list(where))
        shared.release()


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


__all__ = ["BACKENDS", "BadSamples", "MAX_BAD", "WorkerFailed", "check_backend", "dask_client", "default_workers",
           "map_samples", "resolve_workers"]
