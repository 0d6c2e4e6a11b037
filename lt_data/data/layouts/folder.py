"""Any dataset as ``ROOT/images/SPLIT/NAME.(jpg|png)`` + ``ROOT/labels/SPLIT/NAME.png`` + ``ROOT/classes.txt``.

``classes.txt`` has one class name per line; line k names label value k. With ``reduce_zero_label``
value 0 is ignored (its line names it, e.g. "background") and value k becomes train id k − 1.
``ignore_index`` is the label value that marks void pixels (default 255).
"""

from __future__ import annotations

from pathlib import Path

from ...core.classes import ClassTable, duplicate_names
from ...core.errors import DataError, LtDataError
from ...core.fs import as_path, check_location
from .base import IMAGE_EXTS, Layout, index_files, pair_files, require_dir


def read_class_names(path: Path) -> list[str]:
    if path.is_dir():
        raise DataError(path, "is a directory, not a classes file (one class name per line)")
    if not path.is_file():
        raise DataError(path, "classes file not found (one class name per line; line k names label value k)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, f"classes file is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise DataError(path, f"unreadable classes file ({e.strerror or e})") from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DataError(path, "classes file is empty")
    if any(not n for n in names):
        raise DataError(path, f"blank class name on line {names.index('') + 1}")
    clash = duplicate_names(names)
    if clash:
        name, lines = clash[0]
        if len({names[i] for i in lines}) == 1:
            where = f"{name!r} on lines {' and '.join(str(i + 1) for i in lines)}"
        else:
            where = " and ".join(f"{names[i]!r} on line {i + 1}" for i in lines)
        more = f" (and {len(clash) - 1} more repeated names)" if len(clash) > 1 else ""
        raise DataError(path, f"class name repeated: {where}{more}; each class needs its own name (names are "
                              f"matched ignoring case, so the repeat could never be named)")
    return names


class FolderLayout(Layout):
    name = "folder"
    cli_options = {"reduce_zero_label": "reduce_zero_label", "ignore_index": "ignore_index", "classes": "classes_file"}

    def __init__(self, root: str | Path, split: str = "train", *, reduce_zero_label: bool = False,
                 ignore_index: int = 255, classes_file: str | Path | None = None):
        super().__init__(root, split)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or not 0 <= ignore_index <= 255:
            raise LtDataError(f"ignore index {ignore_index!r} is not an 8-bit label value (0..255)")
        self.reduce_zero_label = reduce_zero_label
        self.ignore_index = ignore_index
        if classes_file:
            check_location(classes_file, "classes file")
            self.classes_file = as_path(classes_file, getattr(self.root, "storage_options", None))
        else:
            self.classes_file = self.root / "classes.txt"
        names = read_class_names(self.classes_file)
        if reduce_zero_label:
            names = names[1:]
        if len(names) > 255:
            raise DataError(self.classes_file, f"{len(names)} classes do not fit 8-bit train ids (at most 255)")
        try:
            self.table = ClassTable.from_names(names, dataset=self.root.name, raw_ignore=ignore_index,
                                               reduce_zero_label=reduce_zero_label)
        except ValueError as e:
            raise DataError(self.classes_file, f"{e} (use --reduce-zero-label when 0 marks void)") from None

    def options(self) -> dict:
        return {"reduce_zero_label": self.reduce_zero_label, "ignore_index": self.ignore_index,
                "classes_file": str(self.classes_file)}

    def scan(self):
        img_dir = require_dir(self.root / "images" / self.split, "image")
        lab_dir = require_dir(self.root / "labels" / self.split, "label")
        images = index_files(img_dir, "*", exts=IMAGE_EXTS)
        labels = index_files(lab_dir, "*.png")
        return pair_files(self.root, images, labels,
                          expected_label=lambda p: lab_dir / (p.stem + ".png"),
                          expected_image=lambda p: img_dir / (p.stem + ".jpg|.png"))
