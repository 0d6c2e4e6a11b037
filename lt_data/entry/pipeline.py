"""Run a ``pipelines/*.toml`` file stage by stage.

A pipeline file names the dataset and the work directory, then holds one table per stage with that
stage's options. Stages run in the order of :data:`STAGES`; a stage runs when its table is present
(``stats`` always runs). Relative paths are taken from the current directory, like mmsegmentation's
``data_root``. Example (``pipelines/camvid.toml``)::

    name = "camvid"
    work = "work/camvid"

    [dataset]
    layout = "camvid"
    root = "data/camvid"
    split = "train"

    [stats]
    workers = 2
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from ..core.errors import LtDataError, local_path
from .stages import NAMES as STAGES, STAGE, TABLE, Ctx


@dataclass
class Pipeline:
    name: str
    work: Path
    dataset: dict
    stages: dict[str, dict] = field(default_factory=dict)
    path: Path | None = None

    @property
    def layout_options(self) -> dict:
        return dict(self.dataset.get("options", {}))


def load_pipeline(path: str | Path, *, work: str | Path | None = None, root: str | Path | None = None,
                  only: list[str] | None = None) -> Pipeline:
    """Parse a pipeline file; ``work``/``root`` override the file's values; ``only`` keeps just those
    stages (``stats`` always runs). A bare name that is not a file (``camvid``, ``demo``) is the
    pipeline of that name shipped with the package."""
    path = resolve_pipeline(local_path(path, "pipeline file"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LtDataError(f"{path}: pipeline file not found") from None
    except IsADirectoryError:
        raise LtDataError(f"{path}: is a directory, not a pipeline file") from None
    except UnicodeDecodeError as e:
        raise LtDataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); a pipeline is a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise LtDataError(f"{path}: not valid TOML ({e})") from None
    unknown = set(data) - {"name", "work", "dataset", *STAGES}
    if unknown:
        raise LtDataError(f"{path}: unknown key(s) or table(s) {sorted(unknown)}; a pipeline holds name, work, "
                          f"[dataset] and the stages {', '.join(STAGES)}")
    for key in ("name", "work"):
        if key in data and not isinstance(data[key], str):
            raise LtDataError(f"{path}: '{key}' must be a string, got {data[key]!r}")
    for key in ("dataset", *STAGES):
        if key in data and not isinstance(data[key], dict):
            raise LtDataError(f"{path}: '{key}' must be a table ([{key}]), got {data[key]!r}")
    dataset = dict(data.get("dataset", {}))
    for key in ("layout", "root", "split"):
        if key not in dataset and not (key == "root" and root is not None):
            raise LtDataError(f"{path}: [dataset] needs '{key}'")
    extra = sorted(set(dataset) - {"layout", "root", "split", "options"})
    if extra:
        raise LtDataError(f"{path}: [dataset] has no key {', '.join(map(repr, extra))}; it takes layout, root, "
                          f"split and an [dataset.options] table")
    for key in ("layout", "root", "split"):
        if key in dataset and not isinstance(dataset[key], str):
            raise LtDataError(f"{path}: [dataset] '{key}' must be a string, got {dataset[key]!r}")
    if not isinstance(dataset.get("options", {}), dict):
        raise LtDataError(f"{path}: [dataset] 'options' must be a table ([dataset.options])")
    if root is not None:
        dataset["root"] = str(root)
    work_dir = Path(work if work is not None else data.get("work", f"work/{data.get('name', path.stem)}"))
    stages = {s: dict(data[s]) for s in STAGES if s in data}
    if only is not None:
        unknown = set(only) - set(STAGES)
        if unknown:
            raise LtDataError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")
        stages = {s: v for s, v in stages.items() if s in only}
    stages.setdefault("stats", dict(data.get("stats", {})))
    for stage, opts in stages.items():
        allowed = stage_options(stage)
        extra = sorted(set(opts) - allowed)
        if extra:
            raise LtDataError(f"{path}: [{stage}] has no option {', '.join(map(repr, extra))}; its options are "
                              f"{', '.join(sorted(allowed)) or 'none'}")
    return Pipeline(name=str(data.get("name", path.stem)), work=work_dir, dataset=dataset, stages=stages, path=path)


def packaged_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("lt_data.pipelines").iterdir() if p.name.endswith(".toml"))


def resolve_pipeline(path: str | Path) -> Path:
    """``path`` itself when it exists or looks like a file path; else the shipped pipeline of that name."""
    p = Path(path)
    if p.exists() or p.suffix or len(p.parts) > 1:
        return p
    if p.name in packaged_names():
        return packaged_pipeline(p.name)
    raise LtDataError(f"{path}: no such pipeline file, and no pipeline of that name ships with lt-data "
                      f"(shipped: {', '.join(packaged_names())})")


def stage_options(stage: str) -> set[str]:
    """The keys a pipeline's ``[stage]`` table may hold (:meth:`lt_data.entry.stages.Stage.options`)."""
    return STAGE[stage].options()


def packaged_pipeline(name: str) -> Path:
    """Path of a pipeline file shipped with the package (``demo``, ``camvid``, ...)."""
    return Path(str(resources.files("lt_data.pipelines").joinpath(f"{name}.toml")))


def code_imports(stages: dict) -> list[str]:
    """What in a pipeline's stages imports and runs code from outside lt-data: a ``[train] model`` of
    the form ``package.module:callable`` (the module is imported, the callable called with the
    model_args), as ``"[train] model = 'M:F' (imports module M)"`` phrases."""
    model = (stages.get("train") or {}).get("model")
    if isinstance(model, str) and ":" in model:
        return [f"[train] model = {model!r} (imports module {model.partition(':')[0]} and calls "
                f"{model.partition(':')[2]})"]
    return []


def check_code(path, stages: dict, allow_code: bool, echo: Callable[[str], None] = print) -> None:
    """Refuse a pipeline that would import code (:func:`code_imports`) unless ``allow_code``
    (``--allow-code``); with it, say which modules are imported."""
    found = code_imports(stages)
    if found and not allow_code:
        raise LtDataError(f"{path}: {'; '.join(found)}: a pipeline file that imports code runs whatever that module "
                          "does; pass --allow-code if you trust it")
    for phrase in found:
        echo(f"note: {path}: {phrase}")


def run_pipeline(pipe: Pipeline, *, progress: bool = True, echo: Callable[[str], None] = print,
                 allow_code: bool = False) -> dict[str, Path]:
    """Run every stage the pipeline names, in :data:`STAGES` order; returns ``{stage: output path}``.
    A pipeline that imports code (:func:`code_imports`) is refused unless ``allow_code``."""
    check_code(pipe.path, pipe.stages, allow_code, echo)
    outputs: dict[str, Path] = {}
    ctx = Ctx(pipe, progress, echo)
    for stage in TABLE:
        if stage.name in pipe.stages or stage.name == "stats":  # stats always runs
            outputs.update(stage.step(stage, ctx, pipe.stages.get(stage.name, {})))
    return outputs
