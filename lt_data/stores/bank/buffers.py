"""How a bank reader gets object bytes without a zarr call per object (~0.5-1 ms each).

Four buffers over one flat 1-D uint8 zarr array, each with ``read(offset, n)`` and
``read_many(offsets, sizes)``: memory-mapped chunk files (local stores), the whole array in RAM,
batched positioned reads of the chunk files through fsspec (object storage), and zarr itself (the
slow path, for stores re-encoded with a compressor).
"""

from __future__ import annotations

import mmap
import os
from collections import OrderedDict
from typing import Sequence

import numpy as np

from ...core.errors import ArtifactError

_MMAP_CACHE = 256  # open chunk maps per buffer (each holds a file descriptor)


def raw_chunks(array) -> bool:
    """True when the array's chunk files hold the raw bytes (one BytesCodec, nothing else)."""
    from zarr.codecs import BytesCodec

    codecs = array.metadata.codecs
    return len(codecs) == 1 and isinstance(codecs[0], BytesCodec)


class MemoryBuffer:
    def __init__(self, data: np.ndarray):
        self.data = data

    def read(self, offset: int, n: int) -> np.ndarray:
        return self.data[offset:offset + n]

    def read_many(self, offsets: Sequence[int], sizes: Sequence[int]) -> list[np.ndarray]:
        d = self.data
        return [d[o:o + n] for o, n in zip(offsets, sizes)]


class MmapBuffer:
    """The chunk files of an uncompressed 1-D uint8 array, memory-mapped on first touch.

    Maps are per process (opened lazily, shared through the page cache); at most ``_MMAP_CACHE``
    stay open, least recently used closed first. Chunk files are opened relative to a handle on their
    directory taken at open, so a reader keeps reading the store it opened even after a rebuild
    renamed another one into its place; once that old store is removed, a chunk not yet mapped is an
    error, never the new store's bytes at the old store's offsets.
    """

    def __init__(self, paths: list[str], chunk: int):
        self.paths, self.chunk = paths, chunk
        self.maps: OrderedDict[int, np.ndarray] = OrderedDict()
        dirs = {os.path.dirname(p) for p in paths}
        self._dir_fd = os.open(dirs.pop(), os.O_RDONLY | os.O_DIRECTORY) if len(dirs) == 1 else None
        self._pid = os.getpid()

    def __del__(self):
        if getattr(self, "_dir_fd", None) is not None and self._pid == os.getpid():
            try:
                os.close(self._dir_fd)
            except OSError:
                pass

    def _open(self, k: int) -> int:
        if self._dir_fd is None:
            return os.open(self.paths[k], os.O_RDONLY)
        return os.open(os.path.basename(self.paths[k]), os.O_RDONLY, dir_fd=self._dir_fd)

    def _map(self, k: int) -> np.ndarray:
        m = self.maps.get(k)
        if m is None:
            try:
                fd = self._open(k)
            except FileNotFoundError:  # every chunk is written at build (write_empty_chunks): never zeros
                raise ArtifactError(f"{self.paths[k]}: chunk file missing (the store was removed or rebuilt "
                                    f"since it was opened?); reopen or rebuild the store") from None
            try:
                # a plain ndarray over the map: np.memmap's Python-level slicing costs more than the read
                m = np.frombuffer(mmap.mmap(fd, 0, access=mmap.ACCESS_READ), dtype=np.uint8)
            except ValueError:  # an empty file cannot be mapped
                m = np.zeros(0, dtype=np.uint8)
            finally:
                os.close(fd)
            self.maps[k] = m
            if len(self.maps) > _MMAP_CACHE:
                self.maps.popitem(last=False)
        elif len(self.maps) > 8:
            self.maps.move_to_end(k)
        return m

    def read(self, offset: int, n: int) -> np.ndarray:
        c = self.chunk
        k0, k1 = offset // c, (offset + n - 1) // c if n else offset // c
        if k0 == k1:
            s = offset - k0 * c
            out = self._map(k0)[s:s + n]
            if len(out) != n:
                raise ArtifactError(f"{self.paths[k0]}: chunk file truncated (needs {s + n} bytes, has "
                                    f"{len(self._map(k0))}); rebuild the store")
            return out
        parts, pos, end = [], offset, offset + n
        while pos < end:
            k = pos // c
            s = pos - k * c
            take = min(end - pos, c - s)
            part = self._map(k)[s:s + take]
            if len(part) != take:
                raise ArtifactError(f"{self.paths[k]}: chunk file truncated; rebuild the store")
            parts.append(part)
            pos += take
        return np.concatenate(parts)

    def read_many(self, offsets, sizes) -> list[np.ndarray]:
        return [self.read(o, n) for o, n in zip(offsets, sizes)]


class RangeBuffer:
    """Positioned reads of the raw chunk files through fsspec, one ``cat_ranges`` call per batch."""

    def __init__(self, fs, paths: list[str], chunk: int):
        self.fs, self.paths, self.chunk = fs, paths, chunk

    def read(self, offset: int, n: int) -> np.ndarray:
        return self.read_many([offset], [n])[0]

    def read_many(self, offsets, sizes) -> list[np.ndarray]:
        c = self.chunk
        paths, starts, ends, owner = [], [], [], []
        for j, (o, n) in enumerate(zip(offsets, sizes)):
            pos, end = int(o), int(o) + int(n)
            while pos < end:
                k = pos // c
                s = pos - k * c
                take = min(end - pos, c - s)
                paths.append(self.paths[k])
                starts.append(s)
                ends.append(s + take)
                owner.append(j)
                pos += take
        blobs = self.fs.cat_ranges(paths, starts, ends) if paths else []
        out: list[list[bytes]] = [[] for _ in offsets]
        for j, b in zip(owner, blobs):
            if isinstance(b, Exception):
                raise b
            out[j].append(b)
        return [np.frombuffer(b"".join(p), dtype=np.uint8) for p in out]


class ZarrBuffer:
    """The slow path (one zarr call per object): for stores re-encoded with a compressor."""

    def __init__(self, array):
        self.array = array

    def read(self, offset: int, n: int) -> np.ndarray:
        return self.array[offset:offset + n]

    def read_many(self, offsets, sizes) -> list[np.ndarray]:
        return [self.read(o, n) for o, n in zip(offsets, sizes)]



__all__ = ["MemoryBuffer", "MmapBuffer", "RangeBuffer", "ZarrBuffer", "raw_chunks"]
