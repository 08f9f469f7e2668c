"""The chores, written once: atomic writes, device resolution, quieting Hugging Face's progress bars,
the process's place in a torchrun / accelerate launch, torch threads, the Auto class of a model folder.

Nothing here imports torch or transformers at module import time.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Optional

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_with", "atomic_path", "is_temporary", "resolve_device", "quiet_hf_progress",
           "dist_info", "DistInfo", "set_threads", "DeviceError", "check_output_file", "check_input_file", "write_output",
           "auto_model_class"]


class DeviceError(ValueError):
    """An invalid or unavailable ``--device``."""


# ------------------------------------------------------------------------------------------ atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsync'ed and renamed onto ``path``.

    A kill leaves either the old file or the new one, never a partial one; the temporary file is removed
    on any exception (a ``.{name}.tmp-<pid>`` left by ``kill -9`` is named so that readers can skip it).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_with(path: str | os.PathLike, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then fsync and rename it onto ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output_file(path: str | os.PathLike, flag: str = "-o") -> Path:
    """Check, before any expensive work, that ``path`` can be written as a file; ValueError naming ``flag``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; expected a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{flag} {path}: not writable")
    return path


def write_output(path, text: str) -> None:
    """A command's result: to stdout when ``path`` is None or ``-``, else atomically to the file."""
    if path is None or str(path) == "-":
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write_text(path, text)


def check_input_file(path: str | os.PathLike, flag: str) -> Path:
    """``path`` is an existing regular file; ValueError naming ``flag`` otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; expected a file")
    if not path.is_file():
        raise ValueError(f"{flag} {path}: no such file")
    return path


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s temporaries."""
    return name.startswith(".") and ".tmp-" in name


# ----------------------------------------------------------------------------------------------- devices
def resolve_device(device: Optional[str] = "auto") -> str:
    """One rule for every command: ``auto``/``None`` -> ``cuda`` if available, else ``mps``, else ``cpu``;
    ``cpu``, ``cuda``, ``cuda:N``, ``mps`` are checked (``cuda`` without a GPU is an error, not a silent CPU
    fallback).  Under torchrun with several GPUs, ``cuda``/``auto`` picks the rank's ``LOCAL_RANK`` GPU.
    """
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        else:
            return "cpu"
    if not isinstance(device, str):
        raise DeviceError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")
    if device == "cpu":
        return device
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise DeviceError("--device mps was requested but MPS is not available; use --device cpu or auto")
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device} was requested but no CUDA GPU is available "
                              "(torch.cuda.is_available() is False); use --device cpu or auto")
        if device == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            return f"cuda:{local % torch.cuda.device_count()}"
        if int(device[5:]) >= torch.cuda.device_count():
            raise DeviceError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return device
    raise DeviceError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")


# ------------------------------------------------------------------------------------------ model classes
def auto_model_class(config):
    """``AutoModelForSeq2SeqLM`` for an encoder-decoder ``config`` (a ``PretrainedConfig``), else
    ``AutoModelForCausalLM`` (decoder-only LMs)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM


# ------------------------------------------------------------------------------------- Hugging Face bars
@contextlib.contextmanager
def quiet_hf_progress(quiet: bool = True) -> Iterator[None]:
    """Silence transformers' own progress bars (weight loading, ...) while ``quiet``; restores the state."""
    if not quiet:
        yield
        return
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


# ------------------------------------------------------------------------------------------ processes
class DistInfo(tuple):
    """``(rank, world_size, local_rank)`` of this process, from torchrun's / accelerate's environment."""

    __slots__ = ()

    def __new__(cls, rank: int, world_size: int, local_rank: int):
        return super().__new__(cls, (rank, world_size, local_rank))

    rank = property(lambda self: self[0])
    world_size = property(lambda self: self[1])
    local_rank = property(lambda self: self[2])
    is_main = property(lambda self: self[0] == 0)


def dist_info() -> DistInfo:
    """This process's place in a launch (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; a plain run is 0 of 1)."""
    def get(name: str, default: int) -> int:
        value = os.environ.get(name)
        try:
            return int(value) if value not in (None, "") else default
        except ValueError:
            raise DeviceError(f"environment variable {name}={value!r}: expected an integer") from None

    world = get("WORLD_SIZE", 1)
    rank = get("RANK", 0)
    if world < 1 or not (0 <= rank < world):
        raise DeviceError(f"RANK={rank}, WORLD_SIZE={world}: expected 0 <= RANK < WORLD_SIZE")
    return DistInfo(rank, world, get("LOCAL_RANK", rank))


def set_threads(threads: Optional[int]) -> None:
    """``torch.set_num_threads`` (``None``: leave torch's default).  On small shared CPUs one thread per
    process is often several times faster than torch's default; run more processes instead."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads {threads!r}: expected an integer >= 1")
    import torch

    torch.set_num_threads(threads)
