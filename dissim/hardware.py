"""The hardware a run uses: the device (CPU, a GPU, one GPU per worker process) and the numeric
precision of the networks on it (float32, or bfloat16/float16 autocast where that is faster).

``--precision auto`` picks bf16 where the device multiplies bf16 in hardware (a CUDA GPU with bf16;
a CPU with AMX or AVX-512-BF16, detected at run time) and fp32 everywhere else, so a machine without
it runs exactly the float32 code it always ran. Master weights, optimizer state, the final
features, SVMs, k-means and the DCT stay float32 (or float64) whatever the precision.
"""

from __future__ import annotations

import os
import platform
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

_CLAIMED_GPU: str | None = None  # this process's GPU, once claimed (see runtime_device)
_GPU_LOCKS: list = []  # open lock files: a claim lasts as long as the process


def resolve_device(choice: str, *, require: bool = True) -> str:
    """``auto`` -> cuda when available, else cpu; ``cuda`` (or ``cuda:N``) without that GPU is a user
    error unless ``require`` is false (a dry run may plan for a GPU the planning machine lacks)."""
    choice = str(choice)
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = choice.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise UserError(f"--device {choice!r}: use auto, cpu, cuda or cuda:N")
    if not require or kind == "cpu":
        return choice
    if not torch.cuda.is_available():
        raise UserError(f"--device {choice}: no CUDA device is available here; use --device cpu or auto")
    if index and int(index) >= torch.cuda.device_count():
        raise UserError(f"--device {choice}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return choice


def runtime_device(device: str) -> str:
    """The device a worker process computes on: plain ``cuda`` on a machine with several GPUs becomes
    one GPU per process (the first one no other dissim process holds, claimed for the process's
    life with a lock file; the one with the most free memory when all are held). Anything else is
    returned as it is."""
    global _CLAIMED_GPU
    if device != "cuda" or torch.cuda.device_count() <= 1:
        return device
    if _CLAIMED_GPU is None:
        _CLAIMED_GPU = f"cuda:{claim_gpu(torch.cuda.device_count())}"
    return _CLAIMED_GPU


@dataclass(frozen=True)
class Compute:
    """Where and how one network computes, resolved once (:func:`resolve_compute`) and handed down: the
    device, the autocast ``precision`` (fp32, bf16 or fp16; master weights stay float32), whether
    images use the channels-last memory format, and the CPU threads it was resolved with."""

    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    threads: int = 1

    @classmethod
    def of(cls, device: str | torch.device, precision: str = "fp32", dims: int = 2) -> "Compute":
        """The Compute of a device and precision already resolved, with their memory layout for ``dims``-D
        inputs (:func:`uses_channels_last`)."""
        device = str(device)
        return cls(device, precision, uses_channels_last(device, precision, dims), torch.get_num_threads())

    def autocast(self):
        """The autocast context of this precision on this device (a no-op for fp32)."""
        return autocast(torch.device(self.device), self.precision)

    def to_dict(self) -> dict:
        return {"device": self.device, "precision": self.precision, "channels_last": self.channels_last,
                "threads": self.threads}


def resolve_compute(device: str = "auto", precision: str = "auto", *, dims: int = 2, pretrained: bool = False,
                    size: int | None = None) -> Compute:
    """An estimator's :class:`Compute` as ``fit`` uses it: the device resolved (one GPU per process), the
    precision resolved for it (:func:`resolve_precision`), the memory layout that goes with both
    (:func:`uses_channels_last`) and torch's current thread count. On CUDA, cuDNN picks its fastest
    kernels for the (fixed) shapes of a training."""
    device = runtime_device(resolve_device(device))
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    return Compute.of(device, resolve_precision(precision, device, dims=dims, pretrained=pretrained, size=size), dims)


def claim_gpu(count: int, lock_dir: Path | None = None) -> int:
    """Index of a GPU (of ``count``) that no other process has claimed; the claim is held until exit."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): spread processes by id
        return os.getpid() % count
    lock_dir = Path(lock_dir or Path(tempfile.gettempdir()) / "dissim-gpu-claims")
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(lock_dir / f"{_gpu_identity(index)}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _GPU_LOCKS.append(handle)
        return index
    return max(range(count), key=lambda i: torch.cuda.mem_get_info(i)[0])  # more workers than GPUs


def _gpu_identity(index: int) -> str:
    """A name for GPU ``index`` that other processes see alike (its UUID; CUDA_VISIBLE_DEVICES renumbers)."""
    try:
        return str(torch.cuda.get_device_properties(index).uuid)
    except (AssertionError, RuntimeError, AttributeError):
        return f"gpu{index}"


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device present here, else the CPU's model (:func:`cpu_model`)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()


def cpu_model() -> str:
    """The CPU's model name (e.g. "AMD EPYC 9654 96-Core Processor"), or the architecture where the
    system does not say."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """The names of the CUDA devices this process sees (empty without any)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def cpu_bf16_support() -> str | None:
    """The CPU's hardware bf16 matrix instructions ("AMX", "AVX-512-BF16", "Arm BF16"), or None."""
    checks = (("AMX", "_is_amx_tile_supported"), ("AVX-512-BF16", "_is_avx512_bf16_supported"))
    for name, probe in checks:
        function = getattr(torch.cpu, probe, None)
        if function is not None and function():
            return name
    flags = _cpu_flags()
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512-BF16"
    if platform.machine().lower() in ("aarch64", "arm64") and "bf16" in flags:
        return "Arm BF16"
    return None


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


# ImageNet networks train faster in bf16 than in fp32 on a CPU with AVX-512-BF16 (no AMX) only from this
# input side on (EfficientNet-Lite0, one thread: 0.71x at 32 px, 0.94x at 64, 0.89x at 96, 2.52x at 128;
# benchmarks/topologies.py --topologies lite0 --sizes 32,64,96,128 --channels 1 --batch 15 --threads 1)
PRETRAINED_BF16_MIN_SIZE = 128


def resolve_precision(choice: str, device: str, *, dims: int = 2, require: bool = True,
                      pretrained: bool = False, size: int | None = None) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``device`` and twins of ``dims`` (2: images, 1: spectra).

    ``auto`` is bf16 for image twins where the device has fast bf16, and fp32 for spectra: measured
    on the one-shot and open-set protocols, bf16 moved their accuracy down (rruff-ir one-shot
    Siamese 70.2 -> 66.3 %, coffee maximum-softmax CNN 75.0 -> 70.8 %), where image runs stayed
    level (digits quick best fusion 97.11 -> 97.05 %); ``bf16`` can still be asked for. fp16 needs
    CUDA (CPUs have no fast float16 training path); bf16 on a GPU without it is an error.
    ``require=False`` (a dry run) resolves ``auto`` on a CUDA device the machine lacks to bf16.
    ``pretrained=True`` (ImageNet networks: EfficientNet-Lite, torchvision models) resolves ``auto``
    on a CPU to fp32 below ``PRETRAINED_BF16_MIN_SIZE`` (or when ``size`` is not given), where their
    depthwise convolutions trained slower in bf16 on an AVX-512-BF16 CPU without AMX, and to bf16 from
    it on, where bf16 trained 2.5 times faster.
    """
    if choice not in PRECISIONS:
        raise UserError(f"--precision {choice!r}: use one of {', '.join(PRECISIONS)}")
    cuda = str(device).startswith("cuda")
    available = cuda and torch.cuda.is_available()
    if choice == "auto" and dims != 2:
        return "fp32"
    if choice == "auto":
        if cuda:
            return "bf16" if (not available and not require) or (available and torch.cuda.is_bf16_supported()) \
                else "fp32"
        fast = not pretrained or (size is not None and size >= PRETRAINED_BF16_MIN_SIZE)
        return "bf16" if cpu_bf16_support() and fast else "fp32"
    if choice == "fp16" and not cuda:
        raise UserError("--precision fp16 needs a CUDA device; on a CPU use bf16 (fast with AMX or "
                        "AVX-512-BF16) or fp32")
    if choice == "bf16" and available and not torch.cuda.is_bf16_supported():
        raise UserError(f"--precision bf16: {device_name(device)} has no bf16; use fp16 or fp32")
    return choice


@dataclass(frozen=True)
class RunCompute:
    """A run's compute settings, resolved once at its start (:meth:`resolve`) and handed to every task:
    the device, the precision asked for and what it resolves to for each kind of network (image twins,
    spectrum twins, ImageNet networks below and from ``PRETRAINED_BF16_MIN_SIZE``), the tasks run at
    once (``jobs``) and the torch threads each task computes with (``threads``).
    Channels-last follows from device and precision (:func:`uses_channels_last`)."""

    device: str
    asked: str
    images: str
    spectra: str
    pretrained_small: str
    pretrained_large: str
    jobs: int
    threads: int = 1

    @classmethod
    def resolve(cls, device: str, precision: str, *, jobs: int, threads: int = 1,
                require: bool = True) -> "RunCompute":
        """``require=False`` (a dry run) plans for a CUDA device this machine may lack."""
        device = resolve_device(device, require=require)

        def resolved(**kind) -> str:
            return resolve_precision(precision, device, require=require, **kind)

        return cls(device, precision, resolved(dims=2), resolved(dims=1), resolved(pretrained=True),
                   resolved(pretrained=True, size=PRETRAINED_BF16_MIN_SIZE), jobs, threads)

    def precision(self, *, dims: int = 2, pretrained: bool = False, size: int | None = None) -> str:
        """The resolved precision of a network of this kind (an ImageNet network's by its input ``size``)."""
        if pretrained:
            large = size is not None and size >= PRETRAINED_BF16_MIN_SIZE
            return self.pretrained_large if large else self.pretrained_small
        return self.images if dims == 2 else self.spectra

    def to_dict(self) -> dict:
        return {"device": self.device, "asked_precision": self.asked,
                "precision": {"images": self.images, "spectra": self.spectra,
                              f"imagenet_below_{PRETRAINED_BF16_MIN_SIZE}px": self.pretrained_small,
                              f"imagenet_from_{PRETRAINED_BF16_MIN_SIZE}px": self.pretrained_large},
                "channels_last": {"images": uses_channels_last(self.device, self.images, 2),
                                  f"imagenet_below_{PRETRAINED_BF16_MIN_SIZE}px":
                                      uses_channels_last(self.device, self.pretrained_small, 2),
                                  f"imagenet_from_{PRETRAINED_BF16_MIN_SIZE}px":
                                      uses_channels_last(self.device, self.pretrained_large, 2)},
                "jobs": self.jobs, "threads_per_task": self.threads}


def memory_bytes(device: str) -> int:
    """The memory of ``device``: the GPU's for CUDA, the machine's RAM otherwise."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(torch.device(device).index or 0).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): no bound known
        return 2**63


def check_memory(parts: dict[str, int], device: str, what: str) -> None:
    """UserError with the numbers when the ``parts`` (bytes by name) of ``what`` exceed ``device``'s memory."""
    needed, available = sum(parts.values()), memory_bytes(device)
    if needed > available:
        largest = max(parts, key=parts.get)
        raise UserError(f"{what} needs at least {_gib(needed)} of memory, more than the {_gib(available)} of "
                        f"{'this GPU' if str(device).startswith('cuda') else 'this machine'} (largest part: "
                        f"{largest}, {_gib(parts[largest])}); lower the batch size, input size, iterations or "
                        "layer sizes")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def autocast(device: torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32)."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return nullcontext() if dtype is None else torch.autocast(torch.device(device).type, dtype=dtype)


def uses_channels_last(device: torch.device, precision: str, dims: int) -> bool:
    """Images run channels-last on CUDA and under CPU bf16 (oneDNN's fast layout: bf16 convolutions,
    depthwise ones most of all, are several times slower without it); float32 CPU keeps the
    contiguous layout, which measured no slower here and keeps results identical to earlier runs."""
    return dims == 2 and (torch.device(device).type == "cuda" or precision != "fp32")


__all__ = ["PRECISIONS", "Compute", "autocast", "check_memory", "claim_gpu", "cpu_bf16_support", "cpu_model",
           "RunCompute", "device_name", "gpu_names", "memory_bytes", "resolve_compute", "resolve_device", "resolve_precision",
           "runtime_device", "uses_channels_last"]
