"""System metrics: one background thread per process samples the machine for every open run.

Each sample is written through the run's journal like any metric, under ``system/...`` keys,
at its own step (the sample number), so it never moves the step of the user's ``log()``.
CPU, memory, disk and network come from ``psutil``; GPU figures from ``nvidia-ml-py`` where a
GPU driver is present. A missing or failing GPU library costs the GPU figures only, with one
warning per process.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from loopml._errors import LoopmlError
from loopml.tracking._threads import pending_or_alive, start_soon

if TYPE_CHECKING:
    from loopml.tracking._run import Run

__all__ = ["SYSTEM_METRICS_PREFIX", "GpuReader", "SystemSampler", "sampler", "watch"]

SYSTEM_METRICS_PREFIX = "system/"  # every system metric key starts with it

_MB = 1024.0 * 1024.0
_NVIDIA_DRIVER = "/proc/driver/nvidia/version"


def _gpu_present() -> bool:
    # The driver's proc file is there exactly when an NVIDIA kernel driver is loaded.
    return os.path.exists(_NVIDIA_DRIVER)


class GpuReader:
    """Per-device utilisation, memory, temperature and power through NVML.

    ``read()`` returns ``{}`` when there is no GPU, and stops trying (with one warning) when
    the library is missing on a machine with a driver, or fails.
    """

    def __init__(self, nvml: Any = None) -> None:
        self._nvml = nvml
        self._handles: list[Any] = []
        self._disabled = False
        self._started = False

    def _warn(self, why: str) -> None:
        self._disabled = True
        warnings.warn(
            f"loopml system metrics: no GPU figures ({why}); CPU, memory, disk and network "
            "are still recorded. Install or repair nvidia-ml-py (pip install nvidia-ml-py) "
            "to get them",
            RuntimeWarning,
            stacklevel=2,
        )

    def _start(self) -> None:
        self._started = True
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml  # the nvidia-ml-py package
            except ImportError:
                if _gpu_present():
                    self._warn("nvidia-ml-py is not installed")
                else:
                    self._disabled = True
                return
            self._nvml = nvml = pynvml
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:
            if _gpu_present() or not _is_no_library(exc):
                self._warn(f"NVML failed to start: {exc}")
            self._disabled = True

    def read(self) -> dict[str, float]:
        """One reading of every device, as ``system/gpu.<i>.<figure>`` values."""
        if not self._started:
            self._start()
        if self._disabled:
            return {}
        nvml = self._nvml
        out: dict[str, float] = {}
        try:
            for i, handle in enumerate(self._handles):
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                prefix = f"system/gpu.{i}."
                out[prefix + "utilization_percent"] = float(util.gpu)
                out[prefix + "memory_used_mb"] = mem.used / _MB
                out[prefix + "memory_percent"] = 100.0 * mem.used / mem.total if mem.total else 0.0
                out[prefix + "temperature_c"] = float(
                    nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                )
                out[prefix + "power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except Exception as exc:
            self._warn(f"reading the GPU failed: {exc}")
            return {}
        return out


def _is_no_library(exc: BaseException) -> bool:
    # NVML says "library not found" or "driver not loaded" on a machine with no GPU: not a fault.
    text = f"{type(exc).__name__} {exc}".lower()
    return any(s in text for s in ("librarynotfound", "not found", "driver", "drivernotloaded"))


class _Reader:
    """Turns psutil's counters into one sample of rates and levels."""

    def __init__(self, gpu: GpuReader) -> None:
        import psutil

        self._psutil = psutil
        self._proc = psutil.Process()
        self._gpu = gpu
        # First calls prime the CPU counters; rates are over the time since the last sample.
        psutil.cpu_percent(None)
        self._proc.cpu_percent(None)
        self._last = time.monotonic()
        self._disk = self._disk_counters()
        self._net = self._net_counters()

    def _disk_counters(self) -> tuple[float, float]:
        c = self._psutil.disk_io_counters()
        return (0.0, 0.0) if c is None else (float(c.read_bytes), float(c.write_bytes))

    def _net_counters(self) -> tuple[float, float]:
        c = self._psutil.net_io_counters()
        return (0.0, 0.0) if c is None else (float(c.bytes_sent), float(c.bytes_recv))

    def read(self) -> dict[str, float]:
        ps = self._psutil
        now = time.monotonic()
        dt = max(now - self._last, 1e-6)
        self._last = now
        vm = ps.virtual_memory()
        disk, net = self._disk_counters(), self._net_counters()
        out = {
            "system/cpu_percent": float(ps.cpu_percent(None)),
            "system/memory_percent": float(vm.percent),
            "system/memory_used_mb": (vm.total - vm.available) / _MB,
            "system/disk_read_mb_s": max(disk[0] - self._disk[0], 0.0) / _MB / dt,
            "system/disk_write_mb_s": max(disk[1] - self._disk[1], 0.0) / _MB / dt,
            "system/network_sent_mb_s": max(net[0] - self._net[0], 0.0) / _MB / dt,
            "system/network_recv_mb_s": max(net[1] - self._net[1], 0.0) / _MB / dt,
        }
        self._disk, self._net = disk, net
        try:
            with self._proc.oneshot():
                out["system/process_cpu_percent"] = float(self._proc.cpu_percent(None))
                out["system/process_memory_mb"] = self._proc.memory_info().rss / _MB
                out["system/process_threads"] = float(self._proc.num_threads())
        except ps.Error:  # pragma: no cover - the process reading itself should not fail
            pass
        out.update(self._gpu.read())
        return out


class _Watch:
    # A plain class, not a dataclass: making one costs about a millisecond at import, which
    # here is inside the first loopml.init() of every process.
    __slots__ = ("due", "interval", "run", "sample")

    def __init__(self, run: Run, interval: float, due: float) -> None:
        self.run = run
        self.interval = interval
        self.due = due
        self.sample = 0


_LINGER_SECONDS = 1.0


class SystemSampler:
    """One thread that samples the machine for every watched run, each at its own interval.

    Thread-safe. The thread starts with the first watched run and ends a second after the last
    one, unless another run is watched meanwhile.
    """

    def __init__(self, gpu: GpuReader | None = None) -> None:
        self._gpu = gpu or GpuReader()
        self._watches: dict[int, _Watch] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._launched = threading.Event()  # set once ``_thread`` has been started
        self._reader: _Reader | None = None

    def watch(self, run: Run, interval: float) -> None:
        """Sample for ``run`` every ``interval`` seconds until it ends or is unwatched."""
        with self._cond:
            self._watches[id(run)] = _Watch(run, interval, time.monotonic() + interval)
            if not self._running():
                self._thread = threading.Thread(
                    target=self._loop, name="loopml-system-metrics", daemon=True
                )
                # On loopml.init's path, and the first sample is an interval away: no waiting
                # for the thread to be scheduled.
                self._launched = start_soon(self._thread)
            self._cond.notify()

    def unwatch(self, run: Run) -> None:
        """Stop sampling for ``run`` (called when it finishes)."""
        with self._cond:
            if self._watches.pop(id(run), None) is not None:
                self._cond.notify()

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive (or started and about to run)."""
        return self._running()

    def _running(self) -> bool:
        thread = self._thread
        return thread is not None and pending_or_alive(thread, self._launched)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._watches:
                        # Linger a moment before ending: a script making runs one after another
                        # would otherwise start (and wake) a thread for every run. A run may
                        # come and go while this waits, so the linger counts from here.
                        until = time.monotonic() + _LINGER_SECONDS
                        while not self._watches and time.monotonic() < until:
                            self._cond.wait(until - time.monotonic())
                        if not self._watches:
                            self._thread = None
                            return
                        continue
                    now = time.monotonic()
                    due = [w for w in self._watches.values() if w.due <= now]
                    if due:
                        break
                    self._cond.wait(min(w.due for w in self._watches.values()) - now)
            try:
                if self._reader is None:
                    self._reader = _Reader(self._gpu)
                values = self._reader.read()
            except Exception as exc:
                # Sampling must never break training: say so once and stop sampling.
                warnings.warn(
                    f"loopml system metrics stopped: reading the machine failed ({exc!r})",
                    RuntimeWarning,
                    stacklevel=1,
                )
                with self._cond:
                    self._watches.clear()
                    self._thread = None
                return
            for w in due:
                self._write(w, values)

    def _write(self, w: _Watch, values: dict[str, float]) -> None:
        try:
            w.run.log_system(values, w.sample)
        except LoopmlError:
            self.unwatch(w.run)  # the run ended between the check and the write
            return
        w.sample += 1
        w.due = max(w.due + w.interval, time.monotonic())


_sampler: SystemSampler | None = None
_sampler_lock = threading.Lock()


def sampler() -> SystemSampler:
    """This process's sampler, made on first use."""
    global _sampler
    with _sampler_lock:
        if _sampler is None:
            _sampler = SystemSampler()
        return _sampler


def watch(run: Run, interval: float) -> None:
    """Record system metrics for ``run`` every ``interval`` seconds on this process's sampler."""
    sampler().watch(run, interval)


def _after_fork_in_child() -> None:
    # A forked child has no sampling thread; it starts its own when it watches a run.
    global _sampler
    _sampler = None


os.register_at_fork(after_in_child=_after_fork_in_child)
