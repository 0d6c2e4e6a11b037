"""The per-image paste transforms for other pipelines: mmseg's data pipeline (``LtDataBankPaste``,
``LtDataCutmixPaste``, built through mmengine's registry and run in mmcv's Compose) and albumentations
(``BankPaste``).

Expected outputs are composed here from the dataset itself: each pasted object's pixels are read from
its source image (the bank stores only its mask, box and source), in the channel order the pipeline
uses; the transform's plan is only observed for where it put each object. mmseg itself cannot run
here (its transforms need mmcv's compiled ops): a stand-in ``mmseg`` package checks the registration.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from conftest import REPO


# ---- a work directory with a bank and a cutmix store ---------------------------------------------------

@pytest.fixture(scope="module")
def paste_work(tiny_work, tmp_path_factory):
    """(work, layout, samples): the generated 96x64 training set, its bank.zarr and a cutmix.zarr."""
    from lt_data.stores.cutmix import build_cutmix
    from lt_data.data.stats import load_stats, open_layout

    work = tmp_path_factory.mktemp("transforms") / "work"
    shutil.copytree(tiny_work[0], work, ignore=shutil.ignore_patterns("eval-*"))
    build_cutmix(work, levels=2, workers=1, progress=False)
    return work, open_layout(work), load_stats(work, verify=False).samples


class Spy:
    """Records, for each plan a transform draws, the plan and the store entries it drew from."""

    def __init__(self, monkeypatch, core):
        self.calls, self._drawn = [], []
        planner = core.planner
        if hasattr(planner, "bank"):
            real_sample = planner.bank.sample

            def sample(classes, rng):
                got = real_sample(classes, rng)
                self._drawn.extend(np.asarray(got).tolist())
                return got

            monkeypatch.setattr(planner.bank, "sample", sample)
        else:
            real_crop = planner.cutmix.crop

            def crop(b, i, level):
                self._drawn.append((int(b), int(i), int(level)))
                return real_crop(b, i, level)

            monkeypatch.setattr(planner.cutmix, "crop", crop)
        real_plan = core.plan

        def plan(label, rng):
            self._drawn = []
            p = real_plan(label, rng)
            self.calls.append((p, list(self._drawn)))
            return p

        monkeypatch.setattr(core, "plan", plan)


def bank_objects(work, layout, samples, ids):
    """[(pixels RGB from the source image, mask, class)] of bank objects ``ids``."""
    from lt_data.stores.bank import TailBank

    bank = TailBank.open(work / "bank.zarr")
    out = []
    for i in ids:
        _, mask, meta = bank.get(int(i))
        y0, x0, h, w = meta["box"]
        source = layout.read_image(samples[meta["sample"]])
        out.append((source[y0:y0 + h, x0:x0 + w], mask, meta["class_id"]))
    return out


def compose_expected(image, label, objects, offsets, order):
    """Paste ``objects`` at ``offsets`` (in order: a later one wins), pixels in channel ``order``."""
    img, lab = image.copy(), label.copy()
    for (pix, mask, c), (y, x) in zip(objects, offsets):
        h, w = mask.shape
        pix = pix[..., ::-1] if order == "bgr" else pix
        img[y:y + h, x:x + w][mask] = pix[mask]
        if np.ndim(c) == 0:
            lab[y:y + h, x:x + w][mask] = c
        else:
            lab[y:y + h, x:x + w][mask] = c[mask]
    return img, lab


def missing_tail(work, label):
    """Tail classes (buckets.json) that have bank objects and are absent from ``label``."""
    from lt_data.stores.bank import TailBank

    tail = json.loads((work / "buckets.json").read_text())["tail"]
    bank = TailBank.open(work / "bank.zarr")
    return sorted(c for c in tail if bank.count(c) > 0 and not (label == c).any())


def level_crops(store, layout, samples, drawn):
    """[(pixels RGB, all-true mask, labels)] of the cutmix level crops ``drawn`` ((class, index, level)),
    read from the source images independently of the store's pixels."""
    crops = []
    for b, i, level in drawn:
        src = samples[int(store.subset(b)[i])]
        y0, x0, y1, x1 = store.box(b, i, level)
        crop_lab = layout.read_label(src)[y0:y1, x0:x1]
        assert (crop_lab == b).any()
        crops.append((layout.read_image(src)[y0:y1, x0:x1], np.ones(crop_lab.shape, bool), crop_lab))
    return crops


EXACT = dict(resize_ratio=1.0, sample_ratio=1.0, per_image=True)  # every missing class, objects at full size


# ---- mmseg: through mmengine's registry and mmcv's Compose -------------------------------------------

@pytest.fixture(scope="module")
def mm():
    pytest.importorskip("mmengine.registry")
    mmcv_transforms = pytest.importorskip("mmcv.transforms")
    from mmengine.registry import TRANSFORMS

    import lt_data.entry.integrations.mmseg as integration

    return types.SimpleNamespace(TRANSFORMS=TRANSFORMS, Compose=mmcv_transforms.Compose, integration=integration)


def _pipeline(mm, paste: dict):
    cfg = [dict(type="LoadImageFromFile"),
           dict(type="LoadAnnotations", with_bbox=False, with_label=False, with_seg=True),
           dict(type="RandomFlip", prob=1.0, direction="horizontal"),
           paste]
    return mm.Compose([mm.TRANSFORMS.build(c) for c in cfg])


def _files(layout, s) -> dict:
    return {"img_path": str(layout.image_path(s)), "seg_map_path": str(layout.label_path(s))}


def test_bank_paste_in_an_mmcv_pipeline_pastes_the_source_pixels_in_bgr(mm, paste_work, monkeypatch):
    work, layout, samples = paste_work
    pipeline = _pipeline(mm, dict(type="LtDataBankPaste", work=str(work), paste_args=EXACT, seed=0))
    paste = pipeline.transforms[-1]
    assert type(paste) is mm.integration.LtDataBankPaste
    assert mm.integration.REGISTERED_TRANSFORMS == ["LtDataBankPaste", "LtDataCutmixPaste"]
    spy = Spy(monkeypatch, paste.core)
    pasted = 0
    for s in samples:
        rgb, label = layout.read_image(s)[:, ::-1], layout.read_label(s)[:, ::-1]  # RandomFlip prob 1
        out = pipeline(_files(layout, s))
        plan, ids = spy.calls[-1]
        want = missing_tail(work, label)
        assert out["lt_data_pasted"] == len(ids) == len(plan) == len(want)
        assert sorted(out["lt_data_pasted_classes"]) == want
        objects = bank_objects(work, layout, samples, ids)
        assert [c for _, _, c in objects] == out["lt_data_pasted_classes"]
        img, lab = compose_expected(rgb[..., ::-1], label, objects, plan.offsets.tolist(), "bgr")
        assert out["img"].dtype == np.uint8 and out["img"].shape == rgb.shape
        assert out["gt_seg_map"].dtype == np.uint8 and out["gt_seg_map"].shape == label.shape
        np.testing.assert_array_equal(out["gt_seg_map"], lab)
        np.testing.assert_array_equal(out["img"], img)
        changed = out["gt_seg_map"] != label
        covered = np.zeros_like(changed)
        for (_, mask, _), (y, x) in zip(objects, plan.offsets.tolist()):
            covered[y:y + mask.shape[0], x:x + mask.shape[1]] |= mask
        assert not (changed & ~covered).any() and (out["img"][~covered] == rgb[..., ::-1][~covered]).all()
        pasted += len(ids)
    assert pasted >= 3, "the check needs images that received objects"


def test_rgb_channel_order_other_dtypes_and_a_plain_call(mm, paste_work, monkeypatch):
    work, layout, samples = paste_work
    paste = mm.integration.LtDataBankPaste(work=work, paste_args=EXACT, channel_order="rgb", seed=3)
    spy = Spy(monkeypatch, paste.core)
    seen = 0
    for s in samples[:4]:
        rgb, label = layout.read_image(s).astype(np.float32), layout.read_label(s).astype(np.int64)
        out = paste({"img": rgb, "gt_seg_map": label})
        plan, ids = spy.calls[-1]
        img, lab = compose_expected(rgb, label, bank_objects(work, layout, samples, ids), plan.offsets.tolist(),
                                    "rgb")
        assert out["img"].dtype == np.float32 and out["gt_seg_map"].dtype == np.int64
        np.testing.assert_array_equal(out["img"], img)
        np.testing.assert_array_equal(out["gt_seg_map"], lab)
        seen += len(ids)
    assert seen > 0
    with pytest.raises(ValueError, match="differ in size"):
        paste({"img": np.zeros((64, 96, 3), np.uint8), "gt_seg_map": np.zeros((32, 96), np.uint8)})
    with pytest.raises(KeyError, match="LoadAnnotations"):
        paste({"img": np.zeros((64, 96, 3), np.uint8)})


def test_cutmix_paste_in_an_mmcv_pipeline_writes_the_level_crop(mm, paste_work, monkeypatch):
    from lt_data.stores.cutmix import TailCutmix

    work, layout, samples = paste_work
    pipeline = _pipeline(mm, dict(type="LtDataCutmixPaste", work=str(work), paste_args=dict(levels=[1, 2], prob=1.0),
                                  seed=1))
    spy = Spy(monkeypatch, pipeline.transforms[-1].core)
    store = TailCutmix.open(work / "cutmix.zarr")
    for s in samples:
        rgb, label = layout.read_image(s)[:, ::-1], layout.read_label(s)[:, ::-1]
        out = pipeline(_files(layout, s))
        plan, drawn = spy.calls[-1]
        assert out["lt_data_pasted"] == len(drawn) == len(plan) == 1
        crops = level_crops(store, layout, samples, drawn)
        img, lab = compose_expected(rgb[..., ::-1], label, crops, plan.offsets.tolist(), "bgr")
        np.testing.assert_array_equal(out["gt_seg_map"], lab)
        np.testing.assert_array_equal(out["img"], img)


def _run(pipeline_or_paste, layout, samples, direct=False):
    outs = []
    for s in samples:
        if direct:
            outs.append(pipeline_or_paste({"img": layout.read_image(s)[..., ::-1], "gt_seg_map": layout.read_label(s)}))
        else:
            outs.append(pipeline_or_paste(_files(layout, s)))
    return [(o["img"].copy(), o["gt_seg_map"].copy()) for o in outs]


def _same(a, b) -> bool:
    return all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def test_seeds_reproduce_and_differ(mm, paste_work):
    work, layout, samples = paste_work
    cfg = dict(type="LtDataBankPaste", work=str(work), paste_args=dict(resize_ratio=(0.5, 1.0)))
    # seed=None: numpy's global state, as mmengine seeds it in each worker
    runs = []
    for global_seed in (5, 5, 6):
        pipeline = _pipeline(mm, cfg)
        np.random.seed(global_seed)
        runs.append(_run(pipeline, layout, samples))
    assert _same(runs[0], runs[1]) and not _same(runs[0], runs[2])
    # an int seed: the transform's own generator, whatever the global state
    runs = []
    for seed in (1, 1, 2):
        np.random.seed(seed * 7)
        runs.append(_run(_pipeline(mm, {**cfg, "seed": seed}), layout, samples))
    assert _same(runs[0], runs[1]) and not _same(runs[0], runs[2])


def test_pickles_small_and_reopens_its_store_lazily(mm, paste_work, monkeypatch):
    import torch.utils.data

    work, layout, samples = paste_work
    for cls in (mm.integration.LtDataBankPaste, mm.integration.LtDataCutmixPaste):
        used = cls(work=work, seed=7)
        _run(used, layout, samples[:2], direct=True)  # store opened, generator advanced
        blob = pickle.dumps(used)
        assert len(blob) < 20_000, len(blob)
        copy = pickle.loads(blob)
        store = copy.core.planner.bank if hasattr(copy.core.planner, "bank") else copy.core.planner.cutmix
        assert "not loaded" in repr(store)
        # a worker's copy starts its own stream from the seed: the same as a fresh transform's
        fresh = cls(work=work, seed=7)
        assert _same(_run(copy, layout, samples, direct=True), _run(fresh, layout, samples, direct=True))
    # ... keyed by the DataLoader worker, so that workers do not all paste the same objects
    main = _run(mm.integration.LtDataBankPaste(work=work, seed=7), layout, samples, direct=True)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: types.SimpleNamespace(id=0))
    worker = _run(mm.integration.LtDataBankPaste(work=work, seed=7), layout, samples, direct=True)
    assert not _same(main, worker)


def test_dose_is_the_trainers_for_the_crop_size(mm, paste_work):
    from lt_data.training.paste.dose import resolve_dose

    work, _, _ = paste_work
    default = mm.integration.LtDataBankPaste(work=work)
    assert default.dose.figures["canvas"] == [64, 96]  # the images' size
    cropped = mm.integration.LtDataBankPaste(work=work, crop_size=(32, 48))
    assert cropped.dose.figures["canvas"] == [32, 48]
    assert cropped.dose.args == resolve_dose("bank", work, crop_size=(32, 48)).args
    explicit = mm.integration.LtDataBankPaste(work=work, paste_args=dict(sample_ratio=0.5, tail=[6, 7]))
    assert explicit.dose.args["sample_ratio"] == 0.5 and explicit.dose.source["sample_ratio"] == "explicit"
    assert explicit.core.planner.tail.tolist() == [6, 7]
    assert mm.integration.LtDataCutmixPaste(work=work).dose.args["prob"] == 1.0


# ---- registration: loud when mmseg is installed but broken --------------------------------------------

def _python(code: str, path: list, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, path), str(REPO)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def _package(root, files: dict):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def test_installed_but_broken_mmseg_fails_the_import_loudly(tmp_path):
    pytest.importorskip("mmengine.registry")
    broken = _package(tmp_path / "broken", {
        "mmseg/__init__.py": "",
        "mmseg/registry/__init__.py": "raise ModuleNotFoundError(\"No module named 'ftfy'\")\n"})
    # mmseg 1.x's registries as mmseg declares them; its model and transform packages need mmcv's ops,
    # which mmcv-lite lacks: registering must not import them
    good = _package(tmp_path / "good", {
        "mmseg/__init__.py": "",
        "mmseg/registry/__init__.py": """
            from mmengine.registry import MODELS as _MODELS, TRANSFORMS as _TRANSFORMS, Registry
            MODELS = Registry("model", parent=_MODELS, scope="mmseg", locations=["mmseg.models"])
            TRANSFORMS = Registry("transform", parent=_TRANSFORMS, scope="mmseg",
                                  locations=["mmseg.datasets.transforms"])
            """,
        "mmseg/models/__init__.py": "raise ModuleNotFoundError(\"No module named 'mmcv._ext'\", name='mmcv._ext')\n",
        "mmseg/datasets/__init__.py": "",
        "mmseg/datasets/transforms/__init__.py": "raise ModuleNotFoundError(\"No module named 'mmcv._ext'\")\n"})
    res = _python(f"""
        import importlib, json, sys
        try:
            import lt_data.entry.integrations.mmseg
        except ImportError as e:
            failure = f"{{type(e).__name__}}: {{e}}"
        else:
            failure = None
        # the same process, now with an mmseg that imports: registration in its registries
        for name in [n for n in sys.modules if n == "mmseg" or n.startswith("mmseg.")]:
            del sys.modules[name]
        sys.path[sys.path.index({str(broken)!r})] = {str(good)!r}
        importlib.invalidate_caches()
        import mmseg.registry as r, lt_data.entry.integrations.mmseg as m
        print(json.dumps([failure, m.REGISTERED, m.REGISTERED_TRANSFORMS,
                          r.TRANSFORMS.module_dict.get("LtDataBankPaste") is m.LtDataBankPaste,
                          r.TRANSFORMS.module_dict.get("LtDataCutmixPaste") is m.LtDataCutmixPaste,
                          r.MODELS.module_dict.get("LtDataAUCLoss") is m.LtDataAUCLoss]))
        """, [broken], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    failure, *registered = json.loads(res.stdout)
    assert failure is not None, "importing lt_data.entry.integrations.mmseg with a broken mmseg did not fail"
    assert failure.startswith("ImportError: ") and "No module named 'ftfy'" in failure
    assert "ftfy is a dependency of mmseg" in failure and "`pip install ftfy`" in failure
    assert "not in registry" in failure
    assert registered == [["LtDataAUCLoss", "LtDataPATLoss"], ["LtDataBankPaste", "LtDataCutmixPaste"],
                          True, True, True]


def test_without_mmcv_mmengine_mmseg_or_albumentations(paste_work, tmp_path):
    work, layout, samples = paste_work
    s = samples[0]
    res = _python(f"""
        import sys, importlib.abc

        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("mmcv", "mmengine", "mmseg", "albumentations"):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, Absent())
        import numpy as np
        import lt_data.entry.integrations.mmseg as m
        assert m.REGISTERED == [] and m.REGISTERED_TRANSFORMS == [], (m.REGISTERED, m.REGISTERED_TRANSFORMS)
        from lt_data.data.layouts import get_layout
        paste = m.LtDataBankPaste(work={str(work)!r}, seed=0,
                                  paste_args=dict(resize_ratio=1.0, sample_ratio=1.0, per_image=True))
        out = paste({{"img": np.zeros(({s.height}, {s.width}, 3), np.uint8),
                     "gt_seg_map": np.zeros(({s.height}, {s.width}), np.uint8)}})
        print(out["lt_data_pasted"], out["img"].any())
        try:
            import lt_data.entry.integrations.albumentations
        except ImportError as e:
            print("ImportError:", e)
        """, [], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    first, second = res.stdout.strip().splitlines()
    assert first == "3 True"  # all three tail classes are missing from a blank image
    assert second.startswith("ImportError:") and "`pip install albumentations`" in second


# ---- albumentations ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alb():
    A = pytest.importorskip("albumentations")
    from lt_data.entry.integrations.albumentations import BankPaste

    return A, BankPaste


@pytest.mark.parametrize("image_dtype,mask_dtype", [(np.uint8, np.uint8), (np.float32, np.int32)])
def test_albumentations_bank_paste_in_a_compose(alb, paste_work, monkeypatch, image_dtype, mask_dtype):
    A, BankPaste = alb
    work, layout, samples = paste_work
    paste = BankPaste(work=work, paste_args=EXACT)
    aug = A.Compose([A.HorizontalFlip(p=1.0), paste, A.VerticalFlip(p=1.0)], seed=0)
    spy = Spy(monkeypatch, paste.core)
    def as_input(rgb):  # albumentations' float images hold 0..1
        return rgb.astype(np.float32) / np.float32(255) if image_dtype == np.float32 else rgb

    pasted = 0
    for s in samples:
        rgb, label = layout.read_image(s), layout.read_label(s)
        out = aug(image=as_input(rgb), mask=label.astype(mask_dtype))
        plan, ids = spy.calls[-1]
        flipped, flipped_label = rgb[:, ::-1], label[:, ::-1]
        assert len(ids) == len(plan) == len(missing_tail(work, flipped_label))
        img, lab = compose_expected(flipped, flipped_label, bank_objects(work, layout, samples, ids),
                                    plan.offsets.tolist(), "rgb")
        assert out["image"].dtype == image_dtype and out["mask"].dtype == mask_dtype
        np.testing.assert_array_equal(out["mask"], lab[::-1])
        np.testing.assert_array_equal(out["image"], as_input(img[::-1]))
        pasted += len(ids)
    assert pasted >= 3


def test_albumentations_seed_reproduces(alb, paste_work):
    A, BankPaste = alb
    work, layout, samples = paste_work

    def run(aug):
        outs = [aug(image=layout.read_image(s), mask=layout.read_label(s)) for s in samples]
        return [(o["image"], o["mask"]) for o in outs]

    def build(seed):
        return A.Compose([A.RandomCrop(48, 64), BankPaste(work=work, crop_size=(48, 64)), A.HorizontalFlip()],
                         seed=seed)

    first = run(build(0))
    assert _same(first, run(build(0))) and not _same(first, run(build(1)))
    aug = build(0)
    assert _same(first, run(pickle.loads(pickle.dumps(aug))))
    with pytest.raises(ValueError, match="mask"):
        aug(image=layout.read_image(samples[0]))


@pytest.mark.parametrize("case", ["version", "ops"])
def test_mmseg_with_the_wrong_mmcv_fails_in_one_line_naming_the_fix(tmp_path, case):
    """mmseg 1.2.2 + mmcv-lite 2.2.0 (its version assert, which names only the lower bound), and
    mmseg + mmcv-lite 2.1.0 (mmseg.datasets needs mmcv's compiled ops): the import fails in one line
    with the bounds read from the installed mmseg and the command that fixes it."""
    pytest.importorskip("mmengine.registry")
    init = """
        MMCV_MIN = '2.0.0rc4'
        MMCV_MAX = '2.2.0'
        """
    if case == "version":  # mmseg 1.2.2's check, word for word in its message
        init += """
        assert False, 'MMCV==2.2.0 is used but incompatible. ' 'Please install mmcv>=2.0.0rc4.'
        """
    pkg = _package(tmp_path / "mmseg_pkg", {
        "mmseg/__init__.py": init,
        "mmseg/registry/__init__.py": """
            from mmengine.registry import MODELS as _MODELS, TRANSFORMS as _TRANSFORMS, Registry
            MODELS = Registry("model", parent=_MODELS, scope="mmseg", locations=["mmseg.models"])
            TRANSFORMS = Registry("transform", parent=_TRANSFORMS, scope="mmseg", locations=["mmseg.datasets"])
            """,
        "mmseg/datasets/__init__.py": "raise ModuleNotFoundError(\"No module named 'mmcv._ext'\", name='mmcv._ext')\n"})
    res = _python("""
        try:
            import lt_data.entry.integrations.mmseg
        except ImportError as e:
            print(e)
        """, [pkg], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    message = res.stdout.strip()
    assert message.count("\n") == 0 and message.startswith("lt_data.entry.integrations.mmseg: ")
    assert "mim install 'mmcv>=2.0.0rc4,<2.2.0'" in message
    assert "pip uninstall -y mmsegmentation && pip install 'mmcv-lite>=2.0.0rc4,<2.2.0'" in message
    if case == "version":
        assert "`import mmseg.registry` failed" in message and "< 2.2.0" in message
    else:
        assert "`import mmseg.datasets` failed" in message and "compiled ops" in message


def test_albumentations_cutmix_paste_writes_the_level_crop(alb, paste_work, monkeypatch):
    A, _ = alb
    from lt_data.stores.cutmix import TailCutmix
    from lt_data.entry.integrations.albumentations import CutmixPaste

    work, layout, samples = paste_work
    paste = CutmixPaste(work=work, paste_args=dict(levels=[1, 2]))
    assert paste.dose.args["prob"] == 1.0 and paste.dose.source["prob"] == "rule"
    aug = A.Compose([A.HorizontalFlip(p=1.0), paste], seed=0)
    spy = Spy(monkeypatch, paste.core)
    store = TailCutmix.open(work / "cutmix.zarr")
    for s in samples:
        rgb, label = layout.read_image(s), layout.read_label(s)
        out = aug(image=rgb, mask=label)
        plan, drawn = spy.calls[-1]
        assert len(drawn) == len(plan) == 1
        crops = level_crops(store, layout, samples, drawn)
        img, lab = compose_expected(rgb[:, ::-1], label[:, ::-1], crops, plan.offsets.tolist(), "rgb")
        np.testing.assert_array_equal(out["mask"], lab)
        np.testing.assert_array_equal(out["image"], img)


@pytest.mark.parametrize("mode", ["bank", "cutmix"])
def test_albumentations_masks_get_the_pastes_of_mask(alb, paste_work, mode):
    """Several label maps of one image (masks=): each gets the pastes mask= gets with the same seed."""
    A, _ = alb
    from lt_data.entry.integrations.albumentations import BankPaste, CutmixPaste

    work, layout, samples = paste_work
    cls = BankPaste if mode == "bank" else CutmixPaste

    def build():
        return A.Compose([A.RandomCrop(48, 64), cls(work=work, crop_size=(48, 64)), A.HorizontalFlip()], seed=5)

    changed = 0
    for s in samples[:4]:
        rgb, label = layout.read_image(s), layout.read_label(s)
        single = build()(image=rgb, mask=label)
        multi = build()(image=rgb, masks=[label, label.copy()])
        assert len(multi["masks"]) == 2
        for m in multi["masks"]:
            np.testing.assert_array_equal(m, single["mask"])
        np.testing.assert_array_equal(multi["image"], single["image"])
        changed += int((single["mask"] != A.Compose([A.RandomCrop(48, 64), A.HorizontalFlip()], seed=5)(
            image=rgb, mask=label)["mask"]).any())
    assert changed >= 1


# ---- labels checked at the door -----------------------------------------------------------------------

def _raw_label(layout, s):
    """A label map with one raw id: 11, CamVid's void, which is not a train id of this 7-class table."""
    label = layout.read_label(s).copy()
    label[::4, ::4] = 11  # a grid: some of it survives any crop
    return label


def test_raw_ids_are_refused_by_every_transform(alb, mm, paste_work):
    A, BankPaste = alb
    from lt_data.core.errors import LtDataError
    from lt_data.entry.integrations.albumentations import CutmixPaste

    work, layout, samples = paste_work
    label, rgb = _raw_label(layout, samples[0]), layout.read_image(samples[0])
    assert layout.table.num_classes <= 11
    for cls in (BankPaste, CutmixPaste):
        with pytest.raises(LtDataError, match=r"label value 11 is neither a train id .* raw dataset ids\?"):
            A.Compose([cls(work=work)], seed=0)(image=rgb, mask=label)
        out = A.Compose([cls(work=work, check_labels=False)], seed=0)(image=rgb, mask=label)
        assert (out["mask"] == 11).any()  # the user's own values, let through
    for name in ("LtDataBankPaste", "LtDataCutmixPaste"):
        t = mm.TRANSFORMS.build(dict(type=name, work=str(work)))
        with pytest.raises(LtDataError, match="label value 11"):
            t({"img": rgb[..., ::-1].copy(), "gt_seg_map": label})
        t = mm.TRANSFORMS.build(dict(type=name, work=str(work), check_labels=False))
        assert "img" in t({"img": rgb[..., ::-1].copy(), "gt_seg_map": label})
    # ignore (255) and every train id pass
    fine = layout.read_label(samples[0]).copy()
    fine[:2, :2] = 255
    A.Compose([BankPaste(work=work)], seed=0)(image=rgb, mask=fine)


def test_raw_ids_are_refused_by_the_dataset_naming_the_file(paste_work, monkeypatch):
    from lt_data.training.dataset import SegmentationDataset, make_loader
    from lt_data.core.errors import DataError

    work, layout, samples = paste_work
    ds = SegmentationDataset(work, crop_size=(48, 64))
    bad = samples[2]
    real = ds.layout.read_label
    monkeypatch.setattr(ds.layout, "read_label", lambda s: _raw_label(layout, s) if s.id == bad.id else real(s))
    ds[0]
    with pytest.raises(DataError) as err:
        ds[2]
    assert str(err.value).startswith(str(layout.label_path(bad))) and "label value 11" in str(err.value)
    with pytest.raises(DataError, match="label value 11"):  # through the loader's carried errors, one line
        for _ in make_loader(ds, batch_size=4, shuffle=False):
            pass
    ds = SegmentationDataset(work, crop_size=(48, 64), check_labels=False)
    monkeypatch.setattr(ds.layout, "read_label", lambda s: _raw_label(layout, s) if s.id == bad.id else real(s))
    assert (ds[2]["label"] == 11).any()
