"""Text, title bands and colour legends drawn onto raster pictures (the preview grid, the bank's
contact sheet): readable at the saved size, whatever lies under them.

Text is drawn with DejaVu Sans, the TrueType font matplotlib ships (a dependency already), through
Pillow; sizes are in pixels of the saved picture, never below :data:`MIN_PX`. Text over a picture
sits on a dark translucent box, so it reads on sky and on road alike.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MIN_PX = 12  # the smallest text a person reads without zooming


@lru_cache(maxsize=16)
def font(px: int, bold: bool = False):
    """DejaVu Sans at ``px`` pixels (at least :data:`MIN_PX`); Pillow's own scalable font if
    matplotlib's file cannot be opened."""
    from PIL import ImageFont

    px = max(MIN_PX, int(px))
    try:
        from pathlib import Path

        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), px)
    except (OSError, ImportError):
        return ImageFont.load_default(size=px)


def text_size(text: str, fnt) -> tuple[int, int]:
    """(width, height) in pixels of one line of ``text``; the height is the font's line height."""
    left, _, right, _ = fnt.getbbox(text)
    ascent, descent = fnt.getmetrics()
    return int(right - left), int(ascent + descent)


def wrap(text: str, fnt, width: int) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` pixels where a word allows."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_size(lines[-1] + " " + word, fnt)[0] <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def boxed_text(image: np.ndarray, lines: list[str], xy: tuple[int, int], fnt, *, pad: int = 3,
               fill=(255, 255, 255), box=(0, 0, 0), alpha: float = 0.65) -> np.ndarray:
    """``lines`` drawn on ``image (H, W, 3) uint8`` at ``xy`` (top left) over a translucent box."""
    from PIL import Image, ImageDraw

    h = text_size("Ag", fnt)[1]
    w = max(text_size(t, fnt)[0] for t in lines)
    x, y = xy
    x1, y1 = min(image.shape[1], x + w + 2 * pad), min(image.shape[0], y + len(lines) * h + 2 * pad)
    out = image.copy()
    region = out[y:y1, x:x1].astype(np.float32)
    out[y:y1, x:x1] = (alpha * np.asarray(box, np.float32) + (1 - alpha) * region).astype(np.uint8)
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    for i, t in enumerate(lines):
        draw.text((x + pad, y + pad + i * h), t, fill=fill, font=fnt)
    return np.asarray(im)


def title_band(titles: list[str], cell_width: int, px: int, *, gap: int = 0, background=(255, 255, 255),
               color=(0, 0, 0)) -> np.ndarray:
    """(h, len(titles)·cell_width, 3) uint8: each title centred above its column, wrapped to the
    column's width; the height fits the longest title."""
    from PIL import Image, ImageDraw

    fnt = font(px, bold=True)
    lines = [wrap(t, fnt, cell_width - 6) for t in titles]
    line_h = text_size("Ag", fnt)[1]
    h = max(len(ls) for ls in lines) * line_h + 2 * max(4, px // 3)
    im = Image.new("RGB", (len(titles) * cell_width, h), background)
    draw = ImageDraw.Draw(im)
    for j, ls in enumerate(lines):
        y = h - max(4, px // 3) - len(ls) * line_h  # bottom-aligned: titles sit on the pictures
        for t in ls:
            tw = text_size(t, fnt)[0]
            draw.text((j * cell_width + (cell_width - tw) // 2, y), t, fill=color, font=fnt)
            y += line_h
    return np.asarray(im)


def legend(entries: list[tuple[str, tuple[int, int, int] | None]], width: int, px: int, *,
           background=(255, 255, 255), title: str | None = None) -> np.ndarray:
    """(h, width, 3) uint8: a swatch and a name per entry, flowing left to right in rows. An entry's
    colour None draws a dark swatch with a white outline (the preview's pasted outline); False, no
    swatch (a note in grey)."""
    from PIL import Image, ImageDraw

    fnt = font(px)
    line_h = text_size("Ag", fnt)[1]
    sw, gap, margin = line_h - 4, px, max(6, px // 2)
    items, x, y = [], margin, margin
    if title:
        tw = text_size(title, font(px, bold=True))[0]
        items.append(("title", title, None, x, y))
        x += tw + gap
    for name, color in entries:
        w = (0 if color is False else sw + 6) + text_size(name, fnt)[0]
        if x > margin and x + w > width - margin:
            x, y = margin, y + line_h + 4
        items.append(("entry", name, color, x, y))
        x += w + gap
    h = y + line_h + margin
    im = Image.new("RGB", (width, h), background)
    draw = ImageDraw.Draw(im)
    for kind, name, color, x, y in items:
        if kind == "title":
            draw.text((x, y), name, fill=(0, 0, 0), font=font(px, bold=True))
            continue
        top = y + (line_h - sw) // 2
        if color is False:
            draw.text((x, y), name, fill=(90, 90, 90), font=fnt)
            continue
        if color is None:
            draw.rectangle((x, top, x + sw, top + sw), fill=(70, 70, 70), outline=(0, 0, 0))
            draw.rectangle((x + 2, top + 2, x + sw - 2, top + sw - 2), outline=(255, 255, 255), width=1)
        else:
            draw.rectangle((x, top, x + sw, top + sw), fill=tuple(int(c) for c in color), outline=(60, 60, 60))
        draw.text((x + sw + 6, y), name, fill=(0, 0, 0), font=fnt)
    return np.asarray(im)


__all__ = ["MIN_PX", "boxed_text", "font", "legend", "text_size", "title_band", "wrap"]
