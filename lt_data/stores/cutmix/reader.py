"""``TailCutmix``, the reader of a complete ``cutmix.zarr``: subsets, level boxes, image sizes, crops."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...core.errors import ArtifactError
from ...core.names import CUTMIX_DIR
from ..zarr_store import StoreReader
from .build import SCHEMA, SCHEMA_VERSION


class TailCutmix(StoreReader):
    """Reader of a complete ``cutmix.zarr``: ``TailCutmix.open(path_or_url, work=WORK)``.

    Entries are grouped by class: the subset of class b is ``subset(b)`` (sample rows of the
    statistics), position ``i`` in it has level boxes ``boxes(b)[i]`` (levels + 1, 4). Everything
    but the sample list is loaded into numpy at open (a few arrays); pickling carries only the URL.
    Crops are read from the source images through the dataset layout recorded in the store
    (``root`` overrides its recorded root: data moved).
    """

    DIR, SCHEMA, SCHEMA_VERSION, COMMAND = CUTMIX_DIR, SCHEMA, SCHEMA_VERSION, "cutmix build"

    def __init__(self, url: str, *, storage_options: dict | None = None, root: str | Path | None = None):
        super().__init__(url, storage_options=storage_options)
        self.root = root

    def _options(self) -> dict:
        return {"storage_options": self.storage_options, "root": self.root}

    def _load_arrays(self, group) -> None:
        from ..bank.reader import check_class_list

        check_class_list(self.url, self.attrs, self.table, self._rebuild_hint())
        self._class_id = group["class_id"][...].astype(np.int64)
        self._sample = group["sample"][...].astype(np.int64)
        self._size = group["image_size"][...].astype(np.int64).reshape(-1, 2)
        self._class_pixels = group["class_pixels"][...]
        self._boxes = group["boxes"][...].astype(np.int64).reshape(len(self._sample), -1, 4)
        self._class_start = group["class_start"][...].astype(np.int64)
        self._layout = None

    def __repr__(self) -> str:
        if not self._loaded:
            return f"TailCutmix({self.url!r}, not loaded)"
        return f"TailCutmix({self.url!r}, classes {self.classes}, levels 0..{self.levels})"

    # ---- index ----------------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        """T: levels 0..T are stored."""
        self._ensure()
        return int(self.attrs["params"]["levels"])

    def subset(self, b: int) -> np.ndarray:
        """(N_b,) int64 sample rows (of the statistics) of the images containing class b."""
        s = self._span(b)  # loads the store first
        return self._sample[s]

    def boxes(self, b: int) -> np.ndarray:
        """(N_b, levels + 1, 4) int64 level boxes (y0, x0, y1, x1) of class b's subset."""
        s = self._span(b)  # loads the store first
        return self._boxes[s]

    def box(self, b: int, i: int, level: int) -> tuple[int, int, int, int]:
        """Level box (y0, x0, y1, x1), half-open, of position ``i`` of class b's subset."""
        s = self._span(b)
        if not 0 <= i < s.stop - s.start:
            raise IndexError(f"position {i} outside 0..{s.stop - s.start - 1} of the subset of class {b}")
        if not 0 <= level <= self.levels:
            raise IndexError(f"level {level} outside 0..{self.levels}")
        return tuple(int(v) for v in self._boxes[s.start + i, level])

    def image_sizes(self, b: int) -> np.ndarray:
        """(N_b, 2) int64 (height, width) of each image of class b's subset."""
        s = self._span(b)  # loads the store first
        return self._size[s]

    def class_pixels(self, b: int) -> np.ndarray:
        """(N_b,) int64 pixels of class b in each image of its subset."""
        s = self._span(b)  # loads the store first
        return self._class_pixels[s]

    def sample(self, class_ids: Sequence[int] | np.ndarray, generator) -> tuple[np.ndarray, np.ndarray]:
        """One subset position drawn uniformly for each class in ``class_ids`` (numpy or torch
        generator; one uniform per entry). Classes with an empty subset are skipped. Returns
        (classes (m,), positions (m,)) int64."""
        cls, _, pick = self._draw(class_ids, generator)
        return cls, pick

    # ---- crops ----------------------------------------------------------------------------------
    def layout(self):
        """The dataset layout the store was built from (``root`` overrides its recorded root)."""
        self._ensure()
        if self._layout is None:
            from ...data.layouts import get_layout

            d = self.attrs["dataset"]
            self._layout = get_layout(d["layout"], self.root or d["root"], d["split"], **(d.get("options") or {}))
        return self._layout

    def crops(self, b: int, i: int, levels: Sequence[int] | None = None
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Level crops of position ``i`` of class b's subset: one decode of the source image and
        label, then a slice per level. Returns [(pixels (h, w, 3) uint8, labels (h, w) uint8 train
        ids), ...] for ``levels`` (default all, 0..T). Crops are views of the decoded image."""
        from ...data.layouts import Sample

        s = self._span(b)
        if not 0 <= i < s.stop - s.start:
            raise IndexError(f"position {i} outside 0..{s.stop - s.start - 1} of the subset of class {b}")
        levels = range(self.levels + 1) if levels is None else levels
        row = s.start + i
        lay = self.layout()
        sample = Sample(**self.samples[int(self._sample[row])])
        image, label = lay.read_image(sample), lay.read_label(sample)
        if label.shape != tuple(self._size[row]):
            raise ArtifactError(f"{lay.label_path(sample)}: label is {label.shape[1]}x{label.shape[0]} but the store "
                                f"recorded {self._size[row][1]}x{self._size[row][0]}; rebuild {self.url}")
        out = []
        for t in levels:
            if not 0 <= t <= self.levels:
                raise IndexError(f"level {t} outside 0..{self.levels}")
            y0, x0, y1, x1 = self._boxes[row, t].tolist()
            out.append((image[y0:y1, x0:x1], label[y0:y1, x0:x1]))
        return out

    def crop(self, b: int, i: int, level: int) -> tuple[np.ndarray, np.ndarray]:
        """One level crop: (pixels (h, w, 3) uint8, labels (h, w) uint8)."""
        return self.crops(b, i, [level])[0]

    def summary(self) -> dict:
        self._ensure()
        per = []
        for c in self.classes:
            bx = self.boxes(c)
            size = self.image_sizes(c)
            frac = [float(np.mean((bx[:, t, 2] - bx[:, t, 0]) * (bx[:, t, 3] - bx[:, t, 1]) / (size[:, 0] * size[:, 1])))
                    if len(bx) else 0.0 for t in range(self.levels + 1)]
            per.append({"id": c, "name": self.table.names[c], "images": self.count(c), "mean_area_share": frac})
        return {"url": self.url, "levels": self.levels, "params": self.params, "classes": per}


def format_summary(summary: dict) -> str:
    p = summary["params"]
    lines = [f"cutmix {summary['url']}: levels 0..{summary['levels']}, r = {p['ratio']}, s = {p['step']}",
             "mean share of the image covered by each level box:"]
    width = max([5] + [len(c["name"]) for c in summary["classes"]])
    lines.append(f"{'id':>4}  {'class':<{width}}  {'images':>6}  " + "  ".join(f"{'L' + str(t):>6}"
                                                                              for t in range(summary["levels"] + 1)))
    for c in summary["classes"]:
        lines.append(f"{c['id']:>4}  {c['name']:<{width}}  {c['images']:>6}  "
                     + "  ".join(f"{v:>6.1%}" for v in c["mean_area_share"]))
    return "\n".join(lines)


__all__ = ["TailCutmix", "format_summary"]
