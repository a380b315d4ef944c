"""System metrics: sampled by one thread per process, logged as ``system/...`` keys."""

from __future__ import annotations

import time
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

import loopml
from loopml._config import Settings
from loopml.tracking import _system


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_samples_land_as_system_keys_without_moving_the_step() -> None:
    run = loopml.init(project="sys", system_metrics_interval=0.05)
    run.log({"loss": 1.0})
    _wait_for(lambda: any(w.sample >= 3 for w in _system.sampler()._watches.values()))
    run.log({"loss": 0.5})
    run.finish()
    rec = loopml.get_run(run.id)
    for key in (
        "system/cpu_percent",
        "system/memory_percent",
        "system/memory_used_mb",
        "system/process_memory_mb",
        "system/process_cpu_percent",
        "system/disk_read_mb_s",
        "system/network_recv_mb_s",
    ):
        assert key in rec.metrics, key
    assert rec.metrics["system/cpu_percent"].count >= 3
    assert 0 <= rec.metrics["system/memory_percent"].last <= 100
    assert rec.metrics["system/process_memory_mb"].last > 10
    # The user's steps are 0 and 1: the samples did not advance them.
    assert rec.metrics["loss"].last_step == 1
    assert rec.metrics["loss"].count == 2


def test_thread_ends_with_the_last_run() -> None:
    a = loopml.init(project="sys", system_metrics_interval=0.05)
    b = loopml.init(project="sys", system_metrics_interval=0.05)
    s = _system.sampler()
    assert s.running
    a.finish()
    assert s.running
    b.finish()
    _wait_for(lambda: not s.running, timeout=5)


def test_off_by_argument_and_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    run = loopml.init(project="sys", system_metrics=False, system_metrics_interval=0.05)
    time.sleep(0.2)
    run.log({"x": 1})
    run.finish()
    assert list(loopml.get_run(run.id).metrics) == ["x"]
    assert Settings.from_env({"LOOPML_SYSTEM_METRICS": "0"}).system_metrics is False
    assert Settings.from_env({"LOOPML_SYSTEM_METRICS": "off"}).system_metrics is False
    assert Settings.from_env({}).system_metrics is True
    settings = Settings.from_env({"LOOPML_SYSTEM_METRICS_INTERVAL": "2.5"})
    assert settings.system_metrics_interval == 2.5


def test_environment_switch_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_SYSTEM_METRICS", "0")
    monkeypatch.setenv("LOOPML_SYSTEM_METRICS_INTERVAL", "0.05")
    run = loopml.init(project="sys")
    time.sleep(0.2)
    run.log({"x": 1})
    run.finish()
    assert list(loopml.get_run(run.id).metrics) == ["x"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOOPML_SYSTEM_METRICS": "maybe"}, "LOOPML_SYSTEM_METRICS='maybe' is not a switch"),
        ({"LOOPML_SYSTEM_METRICS_INTERVAL": "soon"}, "is not a number"),
        ({"LOOPML_SYSTEM_METRICS_INTERVAL": "-1"}, "must be a positive number"),
    ],
)
def test_bad_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(loopml.ValidationError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "10", True])
def test_bad_interval_argument(bad: Any) -> None:
    with pytest.raises(loopml.ValidationError, match="system_metrics_interval"):
        loopml.init(project="sys", system_metrics_interval=bad)


class _FakeNvml:
    """Stands in for the pynvml module: two devices, or a failure where asked."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, fail_init: bool = False, fail_read: bool = False) -> None:
        self.fail_init = fail_init
        self.fail_read = fail_read

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML_ERROR_UNKNOWN")

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        if self.fail_read:
            raise RuntimeError("GPU is lost")
        return SimpleNamespace(gpu=40 + h, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(used=2 * 1024**3, total=8 * 1024**3)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 55

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return 123_000


def _sample_with(gpu: _system.GpuReader) -> tuple[dict[str, Any], list[warnings.WarningMessage]]:
    sampler = _system.SystemSampler(gpu)
    run = loopml.init(project="sys", system_metrics=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler.watch(run, 0.05)
        _wait_for(lambda: all(w.sample >= 3 for w in sampler._watches.values()))
        sampler.unwatch(run)
        _wait_for(lambda: not sampler.running)
    run.finish()
    return dict(loopml.get_run(run.id).metrics), [
        w for w in caught if "loopml system metrics" in str(w.message)
    ]


def test_gpu_figures_per_device() -> None:
    metrics, caught = _sample_with(_system.GpuReader(_FakeNvml()))
    assert not caught
    assert metrics["system/gpu.0.utilization_percent"].last == 40
    assert metrics["system/gpu.1.utilization_percent"].last == 41
    assert metrics["system/gpu.1.memory_percent"].last == 25
    assert metrics["system/gpu.0.power_w"].last == 123
    assert metrics["system/gpu.0.temperature_c"].last == 55


@pytest.mark.parametrize("fault", ["fail_init", "fail_read"])
def test_failing_gpu_library_warns_once_and_sampling_goes_on(fault: str) -> None:
    metrics, caught = _sample_with(_system.GpuReader(_FakeNvml(**{fault: True})))
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "no GPU figures" in str(caught[0].message)
    assert metrics["system/cpu_percent"].count >= 3
    assert not any(k.startswith("system/gpu") for k in metrics)


def test_missing_gpu_library_warns_only_where_a_driver_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    monkeypatch.setattr(_system, "_gpu_present", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _system.GpuReader().read() == {}
    assert not caught
    monkeypatch.setattr(_system, "_gpu_present", lambda: True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = _system.GpuReader()
        assert reader.read() == {}
        assert reader.read() == {}
    assert len(caught) == 1
    assert "nvidia-ml-py is not installed" in str(caught[0].message)
