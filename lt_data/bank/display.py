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


def contact_sheet(bank: TailBank, *, per_class: int = 12, cell: int = 96, seed: int = 0) -> np.ndarray:
    """A contact sheet: one row per bank class, up to ``per_class`` objects drawn uniformly without
    replacement (seeded), each scaled to fit a ``cell``×``cell`` tile and shown on a checkerboard
    where its mask is off. Returns (H, W, 3) uint8."""
    import cv2
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    label_w, pad = 150, 4
    classes = bank.classes
    sheet = np.full((max(1, len(classes)) * (cell + pad) + pad, label_w + per_class * (cell + pad) + pad, 3), 255,
                    np.uint8)
    yy, xx = np.mgrid[:cell, :cell]
    checker = np.where(((yy // 8 + xx // 8) % 2)[..., None] == 0, 204, 153).astype(np.uint8).repeat(3, axis=2)
    for r, c in enumerate(classes):
        n = bank.count(c)
        pick = np.sort(rng.choice(n, size=min(n, per_class), replace=False)) + int(bank.class_start[c]) if n else []
        y = pad + r * (cell + pad)
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
    for r, c in enumerate(classes):
        y = pad + r * (cell + pad)
        draw.text((pad, y + cell // 2 - 12), f"{c} {bank.table.names[c]}", fill=(0, 0, 0))
        draw.text((pad, y + cell // 2 + 2), f"{bank.count(c):,} objects", fill=(90, 90, 90))
    return np.asarray(im)


__all__ = ["contact_sheet", "format_info"]
