"""Safe files: atomic writes, and safetensors reading that checks the file before trusting it.

Safetensors (https://github.com/huggingface/safetensors) is an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes.
Loading it never runs code. Before handing a file to the library we check the framing
ourselves, so that an empty, truncated or corrupt file is refused with a message that says
which of these it is.
"""
from __future__ import annotations

import glob
import math
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from rnnkit.errors import CheckpointError
from rnnkit.io.schema import SchemaError, check, choice, fields, integer, list_of, load_json

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
DTYPES = {"F16": 2, "F32": 4, "F64": 8, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "U8": 1,
          "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}
MAX_BYTES = 2**50  # byte offsets and sizes beyond any file
TENSOR_ENTRY = fields(dtype=choice(*DTYPES),
                      shape=list_of(integer(0, MAX_BYTES), max_len=8),
                      data_offsets=list_of(integer(0, MAX_BYTES), min_len=2, max_len=2))




def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file in the same folder, flush to disk, then rename over ``path``.

    A crash at any point leaves either the old file or the new one, never half of one. The
    file gets the mode a plain ``open`` would give (0666 less the umask). The temporary file
    is named ``.<name>.<pid>.<random>.tmp``; one left by a process that no longer runs (a
    killed save) is removed here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of earlier writes of ``path`` whose process is gone."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isascii() or not pid.isdigit() or _running(int(pid)):
            continue
        try:
            tmp.unlink()
        except OSError:
            pass  # another process got there first, or the folder is read-only


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread's write in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or not a pid we can ask about: leave it
    return True


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)


def _check_framing(path: Path, data: bytes) -> dict:
    """Validate the header and byte ranges; return the parsed header."""
    size = len(data)
    if size == 0:
        raise CheckpointError(f"{path}: file is empty")
    if size < 8:
        raise CheckpointError(f"{path}: truncated ({size} bytes, shorter than the 8-byte header "
                              "length)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(f"{path}: header length {n} bytes exceeds the limit of "
                              f"{MAX_HEADER_BYTES} (not a safetensors file, or corrupt)")
    if 8 + n > size:
        raise CheckpointError(f"{path}: truncated (header claims {n} bytes, file has {size - 8})")
    try:
        header = load_json(data[8 : 8 + n], "header")
    except SchemaError as exc:
        raise CheckpointError(f"{path}: corrupt {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt header (not a JSON object)")
    body = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise CheckpointError(f"{path}: corrupt metadata")
            continue
        try:
            check(entry, TENSOR_ENTRY, f"tensor {name!r}")
        except SchemaError as exc:
            raise CheckpointError(f"{path}: corrupt entry for {exc}") from None
        dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        nbytes = DTYPES[dtype] * math.prod(shape)
        if end - start != nbytes or start < 0:
            raise CheckpointError(f"{path}: corrupt entry for tensor {name!r}: byte range "
                                  f"{start}..{end} does not hold {dtype} {shape}")
        if end > body:
            raise CheckpointError(f"{path}: truncated (tensor {name!r} ends at byte {end}, "
                                  f"data has {body})")
    return header


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file into NumPy arrays and its string metadata, or raise
    :class:`CheckpointError` saying what is wrong with it."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    header = _check_framing(path, data)
    try:
        tensors = load(data)
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from None
    return tensors, dict(header.get("__metadata__", {}))
