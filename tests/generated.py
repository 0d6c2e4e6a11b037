"""Generated stand-ins for the real trees of ``../shared``, in the official layouts, for a clone without it.

``camvid_tree`` writes a CamVid-layout tree (``{split}/`` + ``{split}annot/``, 8-bit labels with CamVid's
11 ids, void 11) from :mod:`lt_data.training.synthetic`'s street scenes: each street class is mapped to its
CamVid counterpart, and a fence (CamVid's Fence, which the street scenes lack) is drawn along the top of
a sidewalk in about half of the frames, in the label and the image alike. The shares follow CamVid's
order closely enough that the default bucket rule gives CamVid's buckets (head Sky, Building, Road;
tail Pole, SignSymbol, Fence, Pedestrian, Bicyclist), checked in ``tests/test_generated.py``.

Nothing here is real data: no file of ``../shared`` is read or copied.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lt_data import synthetic as syn

# street class -> CamVid id (0 Sky, 1 Building, 2 Pole, 3 Road, 4 Pavement, 5 Tree, 6 SignSymbol, 7 Fence,
# 8 Car, 9 Pedestrian, 10 Bicyclist, 11 void)
STREET_TO_CAMVID = {syn.ROAD: 3, syn.SIDEWALK: 4, syn.BUILDING: 1, syn.SKY: 0, syn.VEGETATION: 5, syn.CAR: 8,
                    syn.POLE: 2, syn.SIGN: 6, syn.PERSON: 9, syn.BICYCLE: 10, syn.IGNORE: 11}
FENCE, VOID = 7, 11
CAMVID_SPLITS = {"train": 40, "val": 24, "test": 12}
CAMVID_SIZE = (480, 360)  # CamVid's frame size


def _camvid_lut() -> np.ndarray:
    lut = np.full(256, VOID, np.uint8)
    for street, camvid in STREET_TO_CAMVID.items():
        lut[street] = camvid
    return lut


def _add_fence(img: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> None:
    """A fence: the top rows of the sidewalk (Pavement) on one side of the frame, in place."""
    h, w = label.shape
    cols = np.arange(w // 2) if rng.random() < 0.5 else np.arange(w // 2, w)
    band = max(3, int(round(h * rng.uniform(0.03, 0.06))))
    for x in cols:
        rows = np.flatnonzero(label[:, x] == 4)
        if rows.size:
            ys = rows[:band][np.diff(rows[:band], prepend=rows[0]) <= 1]  # the top run only
            label[ys, x] = FENCE
            shade = 150 if (x // 3) % 2 else 110
            img[ys, x] = (shade - 50, shade - 25, shade)  # BGR: a brown-grey picket pattern


def _head_share(label: np.ndarray) -> float:
    return float(np.isin(label, (0, 1, 3)).mean())


def camvid_tree(root: Path, splits: dict[str, int] = CAMVID_SPLITS, size: tuple[int, int] = CAMVID_SIZE,
                seed: int = 7) -> Path:
    """A CamVid-layout tree of generated street scenes under ``root`` (see the module docstring).

    Each split is drawn from three times as many street scenes: the frames where Sky, Building and Road
    hold the most pixels are kept (about 73 % of the labelled pixels together, CamVid's 72 %)."""
    lut = _camvid_lut()
    pools = {"train": ("train", splits["train"]), "val": ("val", splits["val"] + splits["test"])}
    street = syn.generate_street_scenes(root / ".street", num_train=3 * pools["train"][1],
                                        num_val=3 * pools["val"][1], size=size, seed=seed)
    chosen = {}
    for src, n in pools.values():
        frames = []
        for f in sorted((street / "labels" / src).glob("*.png")):
            label = lut[cv2.imread(str(f), cv2.IMREAD_UNCHANGED)]
            frames.append((-_head_share(label), f.name, label))
        chosen[src] = [(name, label) for _, name, label in sorted(frames, key=lambda t: t[:2])[:n]]
    picks = {"train": chosen["train"], "val": chosen["val"][:splits["val"]], "test": chosen["val"][splits["val"]:]}
    for split, frames in picks.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        src = "train" if split == "train" else "val"
        for i, (src_name, label) in enumerate(frames):
            img = cv2.imread(str(street / "images" / src / src_name), cv2.IMREAD_COLOR)
            rng = np.random.default_rng([seed, len(split), i])
            if rng.random() < 0.5:
                _add_fence(img, label, rng)
            name = f"{split}_{i:03d}.png"  # CamVid's own names look like 0001TP_006690.png: any name works
            cv2.imwrite(str(root / split / name), img)
            cv2.imwrite(str(root / f"{split}annot" / name), label)
    for p in sorted(street.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    street.rmdir()
    return root


# ---- one street frame in the other official layouts -----------------------------------------------

def _street_frame(seed: int, size: tuple[int, int], want: set[int], avoid: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, street label) of the first generated scene holding every street class of ``want``
    and none of ``avoid``, with a fence (street value 10) drawn along a sidewalk."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        street = syn.generate_street_scenes(Path(tmp), num_train=40, num_val=0, size=size, seed=seed)
        for f in sorted((street / "labels" / "train").glob("*.png")):
            label = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            present = set(np.unique(label).tolist())
            if want <= present and not avoid & present:
                img = cv2.imread(str(street / "images" / "train" / f.name), cv2.IMREAD_COLOR)
                camvid = _camvid_lut()[label]
                _add_fence(img, camvid, np.random.default_rng(seed))
                label[camvid == FENCE] = 10
                return np.ascontiguousarray(img[..., ::-1]), label
    raise AssertionError(f"no generated scene holds {sorted(want)} without {sorted(avoid)}")


STREET_FENCE = 10  # the fence added by _street_frame
# street class -> Cityscapes label id (labelIds: 0 unlabeled, 7 road, 8 sidewalk, 11 building, 13 fence,
# 17 pole, 20 traffic sign, 21 vegetation, 23 sky, 24 person, 26 car, 33 bicycle)
STREET_TO_CITYSCAPES = {syn.ROAD: 7, syn.SIDEWALK: 8, syn.BUILDING: 11, syn.SKY: 23, syn.VEGETATION: 21,
                        syn.CAR: 26, syn.POLE: 17, syn.SIGN: 20, syn.PERSON: 24, syn.BICYCLE: 33, STREET_FENCE: 13}
CITYSCAPES_TRAIN_ID = {7: 0, 8: 1, 11: 2, 13: 4, 17: 5, 20: 7, 21: 8, 23: 10, 24: 11, 26: 13, 33: 18}


def cityscapes_tree(root: Path, seed: int = 3, size: tuple[int, int] = (256, 128)) -> Path:
    """One generated frame in Cityscapes' layout (``leftImg8bit/val/frankfurt`` + ``gtFine`` labelIds,
    labelTrainIds and instanceIds), holding fence, pole, traffic sign, person and car, and no bicycle,
    like the mmsegmentation test frame it stands in for."""
    img, street = _street_frame(seed, size, {syn.CAR, syn.POLE, syn.SIGN, syn.PERSON}, {syn.BICYCLE})
    ids = np.zeros_like(street)
    for s, lid in STREET_TO_CITYSCAPES.items():
        ids[street == s] = lid
    train = np.full_like(street, 255)
    for lid, t in CITYSCAPES_TRAIN_ID.items():
        train[ids == lid] = t
    inst = ids.astype(np.int32)
    for lid in (24, 26):  # things: one instance id per connected region, label id * 1000 + k
        n, cc = cv2.connectedComponents((ids == lid).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            inst[cc == k] = lid * 1000 + k - 1
    stem = "frankfurt_000000_000294"
    (root / "leftImg8bit" / "val" / "frankfurt").mkdir(parents=True)
    (root / "gtFine" / "val" / "frankfurt").mkdir(parents=True)
    cv2.imwrite(str(root / "leftImg8bit" / "val" / "frankfurt" / f"{stem}_leftImg8bit.png"), img[..., ::-1])
    gt = root / "gtFine" / "val" / "frankfurt"
    cv2.imwrite(str(gt / f"{stem}_gtFine_labelIds.png"), ids)
    cv2.imwrite(str(gt / f"{stem}_gtFine_labelTrainIds.png"), train)
    cv2.imwrite(str(gt / f"{stem}_gtFine_instanceIds.png"), inst.astype(np.uint16))
    return root


def _ids_by_name(layout: str, names: dict[int, str]) -> dict[int, int]:
    from lt_data.core.classes import load_class_table

    table = load_class_table(layout).names
    return {s: table.index(n) for s, n in names.items()}


STREET_NAMES = {syn.ROAD: "road", syn.SIDEWALK: "sidewalk", syn.BUILDING: "building", syn.SKY: "sky",
                syn.VEGETATION: "tree", syn.CAR: "car", syn.POLE: "pole", syn.SIGN: "signboard",
                syn.PERSON: "person", syn.BICYCLE: "bicycle", STREET_FENCE: "fence"}


def ade_sample_tree(root: Path, n: int = 3, seed: int = 5, size: tuple[int, int] = (160, 120)) -> Path:
    """``sampleData/{images,annotations}`` as in CSAILVision/sceneparsing: ``n`` generated frames, JPEG
    images and annotations with ADE20K's values (0 other, k + 1 for class k); the frames' clutter and
    1-pixel frame are 0 (other objects)."""
    ade = _ids_by_name("ade20k", STREET_NAMES)
    (root / "sampleData" / "images").mkdir(parents=True)
    (root / "sampleData" / "annotations").mkdir(parents=True)
    for i in range(n):
        img, street = _street_frame(seed + i, size, set(), set())
        ann = np.zeros_like(street)
        for s, k in ade.items():
            ann[street == s] = k + 1
        name = f"ADE_val_{i + 1:08d}"
        cv2.imwrite(str(root / "sampleData" / "images" / f"{name}.jpg"), img[..., ::-1])
        cv2.imwrite(str(root / "sampleData" / "annotations" / f"{name}.png"), ann)
    return root


COCO_UNUSED = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}  # COCO's 11 unused label ids (0-based)
COCO_STUFF = {syn.ROAD: "road", syn.SIDEWALK: "pavement", syn.BUILDING: "building-other", syn.SKY: "sky-other",
              syn.VEGETATION: "tree", STREET_FENCE: "fence"}


def coco_stuff_examples(root: Path, n: int = 2, seed: int = 11, size: tuple[int, int] = (160, 120)) -> Path:
    """``cocostuffapi/annotations/stuff_examples.json`` as in nightrome/cocostuffapi: ``n`` generated
    frames' stuff regions as compressed RLE (category_id = raw id + 1), the things' pixels as one
    "other" (183) region per image."""
    import json

    from pycocotools import mask as mask_utils

    used = [v for v in range(182) if v not in COCO_UNUSED]
    stuff = {s: used[k] + 1 for s, k in _ids_by_name("coco_stuff164k", COCO_STUFF).items()}
    images, anns = [], []
    for i in range(n):
        _, street = _street_frame(seed + i, size, {syn.CAR}, set())
        h, w = street.shape
        image_id = 100 + i
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": w, "height": h})
        regions = [(cat, street == s) for s, cat in stuff.items()]
        regions.append((183, np.isin(street, (syn.CAR, syn.POLE, syn.SIGN, syn.PERSON, syn.BICYCLE))))
        for cat, m in regions:
            if m.any():
                rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                             "area": int(m.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                             "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")}})
    cats = [{"id": c, "name": f"stuff {c}", "supercategory": "stuff"} for c in sorted({a["category_id"] for a in anns})]
    out = root / "cocostuffapi" / "annotations"
    out.mkdir(parents=True)
    (out / "stuff_examples.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root
