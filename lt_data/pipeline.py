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

import inspect
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from .errors import LtDataError, local_path

STAGES = ("generate", "stats", "buckets", "report", "export", "bank", "cutmix", "preview", "train", "evaluate")


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


# Options a stage table may hold beyond its function's keyword arguments (or instead of them).
_STAGE_KEYS = {
    "stats": {"workers", "skip_bad"},
    "evaluate": {"split"},
    # write_buckets passes these on through **params (the `lt-data buckets` flags)
    "buckets": {"head_share", "tail_share", "head", "tail", "preset", "head_classes", "tail_classes"},
    "generate": {"kind"},
    "preview": {"modes"},
}


def stage_options(stage: str) -> set[str]:
    """The keys a pipeline's ``[stage]`` table may hold: the stage function's keyword arguments, less
    those the runner fills in itself (work, root, out, progress, mode)."""
    if stage == "train":
        from .config import TrainConfig

        return set(TrainConfig.__dataclass_fields__)
    func = None
    if stage == "generate":
        from .synthetic import generate_street_scenes as func
    elif stage == "buckets":
        from .buckets import write_buckets as func
    elif stage == "report":
        from .report import write_report as func
    elif stage == "export":
        from .exports import write_exports as func
    elif stage == "bank":
        from .bank import build_bank as func
    elif stage == "cutmix":
        from .cutmix import build_cutmix as func
    elif stage == "preview":
        from .preview import write_preview as func
    keys = set(_STAGE_KEYS.get(stage, ()))
    if func is not None:
        params = inspect.signature(func).parameters.values()
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        keys -= {"work", "root", "progress"} | ({"out", "mode", "echo"} if stage == "preview" else set())
    return keys


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
    from .layouts import get_layout
    from .stats import format_table, run_stats

    check_code(pipe.path, pipe.stages, allow_code, echo)

    outputs: dict[str, Path] = {}
    ds, st, work = pipe.dataset, pipe.stages, pipe.work
    if "generate" in st:
        opts = dict(st["generate"])
        kind = opts.pop("kind", "street_scenes")
        if kind != "street_scenes":
            raise LtDataError(f"{pipe.path}: [generate] kind must be 'street_scenes', not {kind!r}")
        from .synthetic import generate_street_scenes

        if "size" in opts:
            opts["size"] = tuple(opts["size"])
        outputs["generate"] = generate_street_scenes(ds["root"], progress=progress, **opts)
        echo(f"[generate] synthetic street scenes → {outputs['generate']}")

    opts = dict(st["stats"])
    layout = get_layout(ds["layout"], ds["root"], ds["split"], **pipe.layout_options)
    stats = run_stats(layout, work, workers=opts.get("workers"), skip_bad=opts.get("skip_bad", False),
                      progress=progress)
    echo(format_table(stats))
    outputs["stats"] = work / "class_stats.json"
    echo(f"[stats] {stats.num_images} images → {work}/class_stats.json, pixel_counts.npy, samples.jsonl")

    if "buckets" in st:
        from .buckets import format_buckets, load_buckets, write_buckets

        outputs["buckets"] = write_buckets(work, **st["buckets"])
        echo(format_buckets(load_buckets(work)))
        echo(f"[buckets] → {outputs['buckets']}")
    if "report" in st:
        from .report import write_report

        outputs["report"] = write_report(work, **st["report"])
        echo(f"[report] open {outputs['report']} in a browser")
    if "export" in st:
        from .exports import write_exports

        outputs["export"] = write_exports(work, **st["export"])
        echo(f"[export] DAFormer sample stats and class weights → {outputs['export']}")
    if "bank" in st:
        from .bank import TailBank, build_bank

        outputs["bank"] = Path(build_bank(work, progress=progress, **st["bank"]))
        bank = TailBank.open(outputs["bank"])
        counts = ", ".join(f"{bank.table.names[c]} {bank.count(c)}" for c in bank.classes)
        echo(f"[bank] {len(bank)} tail objects ({counts}) → {outputs['bank']}")
    if "cutmix" in st:
        from .cutmix import build_cutmix

        outputs["cutmix"] = Path(build_cutmix(work, progress=progress, **st["cutmix"]))
        echo(f"[cutmix] multi-level tail subsets → {outputs['cutmix']}")
    if "preview" in st:
        from .preview import write_preview

        opts = dict(st["preview"])
        modes = opts.pop("modes", ["bank"] if "bank" in st else ["cutmix"])
        for mode in modes:
            if "crop_size" in opts:
                opts["crop_size"] = tuple(opts["crop_size"])
            outputs[f"preview_{mode}"] = write_preview(work, work / f"preview_{mode}.png", mode=mode, **opts,
                                                       echo=lambda m: echo(f"[preview] {m}"))
            echo(f"[preview] {mode} pasting before/after → {outputs[f'preview_{mode}']}")

    val_work = None
    if "evaluate" in st:
        from .evaluate import split_work

        split = st["evaluate"].get("split", "val")
        val_work = split_work(work, split, work / f"eval-{split}", progress=progress)
    if "train" in st:
        from .metrics import format_metrics
        from .config import TrainConfig
        from .train import train

        opts = dict(st["train"])  # the run directory defaults to WORK/runs/<recipe>, as for `lt-data train`
        opts.setdefault("val_work", str(val_work) if val_work else None)
        cfg = TrainConfig.from_dict({"work": str(work), **opts})
        metrics = train(cfg, progress=progress, echo=echo)
        outputs["train"] = Path(cfg.run) / "checkpoint.pt"
        echo(f"[train] {cfg.steps} steps, loss {cfg.loss}, paste {cfg.paste} → {outputs['train']}")
        if metrics:
            outputs["evaluate"] = Path(cfg.run) / "metrics.json"
            echo(format_metrics(metrics))
            echo(f"[evaluate] {val_work} → {outputs['evaluate']}")
    return outputs
