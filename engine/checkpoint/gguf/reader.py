"""A fast, read-only parser of the GGUF container: metadata and tensor directory.

Owns the byte layout (GGUF v2/v3, little-endian; spec: ggml `docs/gguf.md`): header,
key/value metadata, tensor infos, aligned data section. Tensors come back as views of a
memory map, so nothing is copied until a tensor is dequantized. `gguf.GGUFReader` parses
the same file but builds a numpy view per string of the vocabulary (seconds for a 49k-token
vocabulary); reading strings with `struct` from one bytes buffer takes milliseconds.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError

__all__ = ["GGUFFile", "GGUFTensor", "read_gguf_file"]

_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32

# value type -> struct format of one scalar (GGUF spec, gguf_metadata_value_type)
_SCALARS = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_STRING, _ARRAY = 8, 9
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?",
          10: "<u8", 11: "<i8", 12: "<f8"}  # fmt: skip


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor: its ggml type, its numpy shape (outermost dim first) and its raw bytes."""

    name: str
    ggml_type: int
    shape: tuple[int, ...]  # numpy order: ggml's ne reversed
    data: np.ndarray  # uint8 view [rows, bytes per row] into the memory map


@dataclass
class GGUFFile:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensor]


class _Cursor:
    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> Any:
        try:
            (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        except struct.error:
            raise ModelLoadError(f"{self.path} ends early; the GGUF file is truncated") from None
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("<Q")
        end = self.pos + n
        if end > len(self.buf):
            raise ModelLoadError(f"{self.path} ends inside a string; the GGUF file is truncated")
        text = bytes(self.buf[self.pos : end]).decode("utf-8", errors="replace")
        self.pos = end
        return text

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.take("<I"), self.take("<Q")
            if etype in _NUMPY:  # numbers: one numpy read, then plain Python values
                size = np.dtype(_NUMPY[etype]).itemsize * count
                arr = np.frombuffer(self.buf, dtype=_NUMPY[etype], count=count, offset=self.pos)
                self.pos += size
                return arr.tolist()
            return [self.value(etype) for _ in range(count)]
        raise ModelLoadError(f"{self.path}: unknown GGUF metadata value type {vtype}")


def read_gguf_file(path: str | Path) -> GGUFFile:
    """Parse a GGUF file's metadata and tensor directory; tensor data stays memory-mapped."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"GGUF file not found: {path}")
    with open(path, "rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # empty file
            raise ModelLoadError(f"{path} is not a readable GGUF file: {exc}") from exc
    buf = memoryview(mapped)
    if bytes(buf[:4]) != _MAGIC:
        raise ModelLoadError(
            f"{path} is not a readable GGUF file: it does not start with the GGUF magic bytes"
        )
    cur = _Cursor(buf, path)
    cur.pos = 4
    version = cur.take("<I")
    if version not in (2, 3):
        raise ModelLoadError(
            f"{path} is GGUF version {version}; accepted: 2 and 3 (little-endian), as written "
            "by llama.cpp since 2023"
        )
    n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.take("<I"))

    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        ne = [cur.take("<Q") for _ in range(cur.take("<I"))]
        infos.append((name, ne, cur.take("<I"), cur.take("<Q")))
    alignment = int(metadata.get("general.alignment", _DEFAULT_ALIGNMENT))
    data_start = -(-cur.pos // alignment) * alignment

    tensors: dict[str, GGUFTensor] = {}
    whole = np.frombuffer(mapped, dtype=np.uint8)
    for name, ne, ggml_type, offset in infos:
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise ModelLoadError(
                f"{path}: tensor {name} has unknown ggml type {ggml_type}"
            ) from None
        shape = tuple(int(d) for d in reversed(ne)) or (1,)
        row_bytes = shape[-1] // block * type_size
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        start = data_start + offset
        if start + rows * row_bytes > len(whole):
            raise ModelLoadError(f"{path}: tensor {name} lies past the end of the file (truncated)")
        data = whole[start : start + rows * row_bytes].reshape(rows, row_bytes)
        tensors[name] = GGUFTensor(name=name, ggml_type=ggml_type, shape=shape, data=data)
    return GGUFFile(path=path, version=version, metadata=metadata, tensors=tensors)
