"""Looking at a bank: ``bank info`` text and the ``bank show`` contact sheet."""

from __future__ import annotations

import numpy as np

from .reader import TailBank


def format_info(summary: dict) -> str:
    """Plain-text ``bank info``."""
    p = summary["params"]
    d = summary.get("dataset") or {}
    mib = 1 << 20
    lines = [f"bank {summary['url']}",
             f"  built from {d.get('num_samples')} images of {d.get('layout')}/{d.get('split')} at {d.get('root')}",
             f"  min area {p['min_area']} px, {p['connectivity']}-connectivity, max per class "
             f"{p['max_per_class'] if p['max_per_class'] is not None else 'unlimited'}"
             + (f" ({p['choose']}, seed {p['seed']})" if p['max_per_class'] is not None else ""),
             f"  {summary['objects']:,} objects; pixels {summary['pixel_bytes'] / mib:.1f} MiB, masks "
             f"{summary['mask_bytes'] / mib:.2f} MiB, {summary['disk_bytes'] / mib:.1f} MiB on disk",
             ""]
    width = max([5] + [len(c["name"]) for c in summary["classes"]])
    lines.append(f"{'id':>4}  {'class':<{width}}  {'objects':>8}  {'images':>6}  "
                 f"{'area min':>8}  {'p10':>6}  {'median':>7}  {'p90':>7}  {'max':>8}  median box h×w")
    for c in summary["classes"]:
        lines.append(f"{c['id']:>4}  {c['name']:<{width}}  {c['objects']:>8,}  {c['images']:>6}  "
                     f"{c['area_min']:>8,}  {c['area_p10']:>6,}  {c['area_median']:>7,}  {c['area_p90']:>7,}  "
                     f"{c['area_max']:>8,}  {c['box_median_hw'][0]}×{c['box_median_hw'][1]}")
    return "\n".join(lines)


NAME_PX, COUNT_PX = 14, 12  # label text at the saved size (lt_data.core.raster.MIN_PX and above)


def contact_sheet(bank: TailBank, *, per_class: int = 12, cell: int = 96, seed: int = 0) -> np.ndarray:
    """A contact sheet: one row per bank class, up to ``per_class`` objects drawn uniformly without
    replacement (seeded), each scaled to fit a ``cell``×``cell`` tile and shown on a checkerboard
    where its mask is off; left of each row, the class (id and name, 14 px) and its object count
    (12 px). A row is ``cell`` pixels high, or the two label lines' height when that is more.
    Returns (H, W, 3) uint8."""
    import cv2
    from PIL import Image, ImageDraw

    from ...core.raster import font, text_size

    rng = np.random.default_rng(seed)
    pad = 4
    classes = bank.classes
    name_font, count_font = font(NAME_PX, bold=True), font(COUNT_PX)
    names = [f"{c} {bank.table.names[c]}" for c in classes]
    counts = [f"{bank.count(c):,} objects" for c in classes]
    label_w = max([150] + [text_size(t, name_font)[0] + 2 * pad for t in names]
                  + [text_size(t, count_font)[0] + 2 * pad for t in counts])
    name_h, count_h = text_size("Ag", name_font)[1], text_size("Ag", count_font)[1]
    row = max(cell, name_h + count_h)
    sheet = np.full((max(1, len(classes)) * (row + pad) + pad, label_w + per_class * (cell + pad) + pad, 3), 255,
                    np.uint8)
    yy, xx = np.mgrid[:cell, :cell]
    checker = np.where(((yy // 8 + xx // 8) % 2)[..., None] == 0, 204, 153).astype(np.uint8).repeat(3, axis=2)
    for r, c in enumerate(classes):
        n = bank.count(c)
        pick = np.sort(rng.choice(n, size=min(n, per_class), replace=False)) + int(bank.class_start[c]) if n else []
        y = pad + r * (row + pad) + (row - cell) // 2
        for j, i in enumerate(pick):
            pixels, mask, _ = bank.get(int(i))
            h, w = mask.shape
            scale = cell / max(h, w)
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
            p = cv2.resize(pixels, (nw, nh), interpolation=interp)
            m = cv2.resize(mask.view(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
            tile = checker.copy()
            oy, ox = (cell - nh) // 2, (cell - nw) // 2
            region = tile[oy:oy + nh, ox:ox + nw]
            region[m] = p[m]
            x = label_w + pad + j * (cell + pad)
            sheet[y:y + cell, x:x + cell] = tile
    im = Image.fromarray(sheet)
    draw = ImageDraw.Draw(im)
    for r, (name, count) in enumerate(zip(names, counts)):
        y = pad + r * (row + pad) + (row - name_h - count_h) // 2
        draw.text((pad, y), name, fill=(0, 0, 0), font=name_font)
        draw.text((pad, y + name_h), count, fill=(80, 80, 80), font=count_font)
    return np.asarray(im)


__all__ = ["contact_sheet", "format_info"]
