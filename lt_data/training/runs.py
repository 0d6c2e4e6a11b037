"""A run directory is an experiment: its files, its record, and when it may be resumed.

Run directory (``RUN/``)::

    config.json        the run's record: {"config": TrainConfig fields, "inputs": ..., "world_size": N,
                       "paste": the resolved paste dose (arguments, their sources, expected figures) or null}
    log.jsonl          one line per logged step: step, epoch, loss, lr, images_per_s (with pasting also
                       pasted_share and pasted_objects, means since the last line); and per evaluation
    checkpoint.pt      the latest checkpoint (model, optimiser, step, epoch, RNG states, and the record)
    metrics.json       the last evaluation (see :mod:`lt_data.training.metrics`)

``inputs`` holds the resolved training and evaluation work directories and the fingerprints of their
statistics (``stats_fingerprint``). Resuming compares the checkpoint's record with the new one and
refuses any difference that changes the experiment, naming the keys; ``--fresh`` starts over in the
same directory, another ``--run-dir`` starts a new one. What may differ on resume:

- the options in :data:`OPERATIONAL`, which change how a run is carried out, not what it trains or
  how it is measured;
- ``steps`` may grow, to continue training (the poly schedule then decays towards the new total from
  the resumed step on; the log records the resume). It may not fall below the checkpoint's step.

The world size is part of the experiment: it sets the effective batch and each rank's share of an
epoch, which exact mid-epoch resume replays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ..core.errors import ArtifactError
from ..core.io import atomic_write_text, read_json, read_jsonl

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"

OPERATIONAL = frozenset({"run", "workers", "log_every", "checkpoint_every", "eval_every", "device", "threads",
                         "deterministic"})
# compared through ``inputs``, as resolved paths with the fingerprints of their statistics
AS_INPUTS = frozenset({"work", "val_work"})


def recipe_name(model: str, loss: str | dict, paste: str, sampler: str = "uniform", max_len: int = 120) -> str:
    """A readable directory name for a recipe: ``deeplabv3plus_small-1xauc+ce-bank`` (``-rcs`` or
    ``-rfs`` appended when the sampler is not uniform).

    ``*`` reads as ``x``; anything outside ``[A-Za-z0-9.+=_-]`` becomes ``_``. A name longer than
    ``max_len`` is cut and suffixed with a hash of the whole, so two recipes still differ."""
    spec = loss if isinstance(loss, str) else json.dumps(loss, sort_keys=True)

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9.+=_-]+", "_", str(text).replace("*", "x")).strip("._-") or "_"

    parts = (model, spec, paste) + (() if sampler in (None, "uniform") else (sampler,))
    name = "-".join(slug(part) for part in parts)
    if len(name) > max_len:
        name = name[: max_len - 9] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name


def run_record(config: dict, world_size: int, paste: dict | None = None, environment: dict | None = None) -> dict:
    """What the run directory and its checkpoints remember: the options, the inputs' fingerprints, the
    world size, the resolved paste dose (``paste``: :meth:`lt_data.training.paste.dose.Dose.to_json`: the
    planner's arguments, derived ones included, with where each came from) and the ``environment``
    the numbers depend on (torch, device, threads: :func:`lt_data.training.devices.environment`; recorded,
    not compared on resume)."""
    from ..data.workdir import WorkDir

    def where(work):
        return os.path.abspath(work) if work else None  # as typed (through a symlink too), made absolute

    inputs = {"work": where(config["work"]), "work_statistics": WorkDir.of(config["work"]).fingerprint,
              "val_work": where(config.get("val_work")),
              "val_work_statistics": WorkDir.of(config["val_work"]).fingerprint if config.get("val_work") else None}
    record = {"config": config, "inputs": inputs, "world_size": int(world_size), "paste": paste}
    if environment is not None:
        record["environment"] = environment
    return record


def _show(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 48 else text[:45] + "..."


def _same_input(key: str, old, new) -> bool:
    """Paths are recorded as typed; one directory reached through a symlink or another spelling is
    the same input (its statistics' fingerprint is compared too)."""
    if old == new:
        return True
    if key in ("work", "val_work") and isinstance(old, str) and isinstance(new, str):
        return os.path.realpath(old) == os.path.realpath(new)
    return False


def resume_conflicts(saved: dict, current: dict, step: int) -> list[str]:
    """What in ``current`` (a :func:`run_record`) differs from a checkpoint's record at ``step`` and
    forbids resuming it, as ``key old → new`` phrases; empty when the run may be resumed."""
    if "inputs" not in saved:
        return ["the checkpoint records no inputs (written by an older lt-data)"]
    old, new = saved["config"], current["config"]
    out = [f"{k} {_show(old.get(k))} → {_show(new.get(k))}" for k in sorted(set(old) | set(new))
           if k not in OPERATIONAL | AS_INPUTS | {"steps"} and old.get(k) != new.get(k)]
    out += [f"{k} {_show(saved['inputs'].get(k))} → {_show(v)}" for k, v in current["inputs"].items()
            if not _same_input(k, saved["inputs"].get(k), v)]
    old_args, new_args = ((r.get("paste") or {}).get("args") for r in (saved, current))
    if "paste" in saved and old_args != new_args:  # a derived dose moves when its rule or the store changes
        out.append(f"paste dose {_show(old_args)} → {_show(new_args)}")
    if saved.get("world_size") != current["world_size"]:
        out.append(f"world_size {saved.get('world_size')} → {current['world_size']}")
    if new["steps"] < step:
        out.append(f"steps {new['steps']} is below the checkpoint's step {step}")
    return out


def check_resume(run: str | Path, saved: dict, current: dict, step: int) -> None:
    """Refuse (ArtifactError, one line naming the differing keys) to resume another experiment."""
    conflicts = resume_conflicts(saved, current, step)
    if conflicts:
        raise ArtifactError(f"{run}: refused to resume its checkpoint (step {step}), another experiment: "
                            + "; ".join(conflicts) + f"; pass --fresh to start over in {run}, or choose another "
                            "run directory (--run-dir, or `run` in a pipeline's [train])")


def check_run_dir(run: str | Path) -> None:
    """Refuse a run directory that holds training files lt-data did not write (a ``checkpoint.pt``,
    ``log.jsonl`` or ``metrics.json`` without a run record of ours beside them): starting over there
    would delete them."""
    run = Path(run)
    present = [n for n in (CHECKPOINT_FILE, LOG_FILE, METRICS_FILE) if (run / n).exists()]
    if not present:
        return
    try:
        record = read_json(run / CONFIG_FILE)
        ours = isinstance(record, dict) and {"config", "inputs"} <= set(record)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise ArtifactError(f"{run}: holds {', '.join(present)} but no run record of lt-data's ({CONFIG_FILE}); "
                            "refusing to replace files lt-data did not write: choose another run directory "
                            "(--run-dir)")


def check_metrics_out(out: str | Path) -> None:
    """Refuse to overwrite a file at ``out`` that is not a metrics file of lt-data's."""
    out = Path(out)
    if not out.exists():
        return
    try:
        old = read_json(out)
        ours = isinstance(old, dict) and {"per_class", "miou"} <= set(old)
    except (OSError, ValueError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise ArtifactError(f"{out}: exists and is not a metrics file of lt-data's; refusing to overwrite it "
                            "(choose another --out)")


def start_over(run: str | Path) -> None:
    """Remove what an earlier run left in ``run`` (checkpoint, log, metrics): a run from step 0 must
    not append to or be read together with another's. Other files are left alone."""
    for name in (CHECKPOINT_FILE, LOG_FILE, METRICS_FILE):
        (Path(run) / name).unlink(missing_ok=True)


def trim_log(run: str | Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint a resume starts from), so the
    resumed run does not log those steps twice."""
    path = Path(run) / LOG_FILE
    if path.is_file():
        rows = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
