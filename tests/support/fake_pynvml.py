"""A stand-in for nvidia-ml-py's ``pynvml`` module, for machines without an NVIDIA GPU.

It behaves like the real binding where the collector can tell: the same ``NVML_ERROR_*`` codes, an
``NVMLError`` whose constructor returns the per-code subclass (``NVMLError(3)`` is an
``NVMLError_NotSupported``), subclasses that take no argument, ``str(exc)`` texts, functions that
raise ``NVMLError_Uninitialized`` before ``nvmlInit`` and after ``nvmlShutdown``, text as ``str``,
power in mW, energy in mJ, process records with ``usedGpuMemory`` None when the driver has no figure,
``NVMLError_FunctionNotFound`` for a symbol the driver lacks (``missing_functions``) and, as
pynvml's unversioned ``nvmlDeviceGetComputeRunningProcesses`` does, ``NVMLLibraryMismatchError`` when
the ``_v3`` function behind it is missing (an older driver). ``tests/unit/test_gpu_fake_pynvml.py``
compares all of this with the installed pynvml.

Device models: ``gb10()`` (DGX Spark: memory info and power limit not supported, processes with host
PIDs, one without a memory figure), ``h100()`` (a discrete GPU where everything works) and
``h200()``, what a real H200 answered (``tests/fixtures/real-gpu/``; the unit tests compare them). Switches
on the module: ``library_missing``, ``driver_loaded``, ``permission``, ``lose_gpu()``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, NoReturn

# NVML return codes, as nvml.h and pynvml define them.
ERROR_CODES: dict[str, int] = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED": 22,
    "NVML_ERROR_INSUFFICIENT_RESOURCES": 23,
    "NVML_ERROR_FREQ_NOT_SUPPORTED": 24,
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH": 25,
    "NVML_ERROR_DEPRECATED": 26,
    "NVML_ERROR_NOT_READY": 27,
    "NVML_ERROR_GPU_NOT_FOUND": 28,
    "NVML_ERROR_INVALID_STATE": 29,
    "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED": 30,
    "NVML_ERROR_UNKNOWN": 999,
}

# What str() of each error says: pynvml's own texts; for other codes it asks the library.
ERROR_TEXTS = {
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    5: "Already Initialized",
    6: "Not Found",
    7: "Insufficient Size",
    8: "Insufficient External Power",
    9: "Driver Not Loaded",
    10: "Timeout",
    11: "Interrupt Request Issue",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    14: "Corrupted infoROM",
    15: "GPU is lost",
    16: "GPU requires restart",
    17: "The operating system has blocked the request.",
    18: "RM has detected an NVML/RM version mismatch.",
    20: "Insufficient Memory",
    999: "Unknown Error",
}


def error_class_name(constant: str) -> str:
    """``NVML_ERROR_GPU_IS_LOST`` -> ``NVMLError_GpuIsLost`` (the naming rule of pynvml)."""
    words = constant.removeprefix("NVML_ERROR_").split("_")
    return "NVMLError_" + "".join(w.capitalize() for w in words)


class NVMLError(Exception):
    """Base of every NVML error; ``NVMLError(code)`` builds the subclass for that code.

    As in pynvml: the code is required (``NVMLError()`` is a TypeError), ``args`` are what the
    constructor got (``NVMLError(3).args == (3,)``, ``NVMLError_NotSupported().args == ()``), ``==``
    compares ``.value`` (and fails on an object without one), and instances are unhashable.
    """

    _valClassMapping: ClassVar[dict[int, type[NVMLError]]] = {}
    value: int

    def __new__(cls, value: int) -> NVMLError:
        target = NVMLError._valClassMapping.get(value, cls) if cls is NVMLError else cls
        obj = Exception.__new__(target)
        obj.value = value
        return obj

    def __str__(self) -> str:
        # pynvml asks the library for codes it has no text for; without a library it says this.
        if self.value in ERROR_TEXTS:
            return ERROR_TEXTS[self.value]
        return "NVML Error with code %d" % self.value  # noqa: UP031 (pynvml's own formatting)

    def __eq__(self, other: object) -> bool:
        return bool(self.value == other.value)  # type: ignore[attr-defined]

    # pynvml defines __eq__ without __hash__, which makes its errors unhashable.
    __hash__ = None  # type: ignore[assignment]


class NVMLLibraryMismatchError(Exception):
    """What pynvml's unversioned wrappers (``nvmlDeviceGetComputeRunningProcesses`` -> ``_v3``) raise
    when the driver lacks the versioned function (an older driver)."""


def _make_error_class(name: str, code: int) -> type[NVMLError]:
    def new(cls: type[NVMLError], *args: Any) -> NVMLError:
        return NVMLError.__new__(cls, code)

    return type(name, (NVMLError,), {"__new__": new, "__module__": "pynvml"})


ERROR_CLASSES: dict[str, type[NVMLError]] = {}
for _constant, _code in ERROR_CODES.items():
    _cls = _make_error_class(error_class_name(_constant), _code)
    ERROR_CLASSES[_cls.__name__] = _cls
    NVMLError._valClassMapping[_code] = _cls


def nvmlExceptionClass(code: int) -> type[NVMLError]:
    """The subclass for an error code; ValueError for a code pynvml does not know."""
    if code not in NVMLError._valClassMapping:
        raise ValueError(f"nvmlErrorCode {code} is not valid")
    return NVMLError._valClassMapping[code]


def _raise(constant: str) -> NoReturn:
    raise NVMLError(ERROR_CODES[constant])


# --------------------------------------------------------------------------------------------------
# devices


@dataclass
class FakeProcess:
    pid: int
    used_bytes: int | None
    """None: the driver has no figure (pynvml turns NVML_VALUE_NOT_AVAILABLE into None)."""


@dataclass
class FakeDevice:
    """One modelled GPU; a field set to None raises NVMLError_NotSupported when read."""

    name: str
    uuid: str
    utilization_pct: int | None = 0
    power_mw: int | None = 0
    power_limit_mw: int | None = None
    temperature_c: int | None = 30
    sm_clock_mhz: int | None = 0
    mem_clock_mhz: int | None = None
    energy_mj: int | None = 0
    clock_event_reasons: int | None = 0
    memory: tuple[int, int] | None = None
    """(total, used) bytes, or None: nvmlDeviceGetMemoryInfo is not supported."""
    processes: list[FakeProcess] | None = field(default_factory=list)
    lost: bool = False


GB10_PROCESS_MEMORY = 89 * 1024**3


def gb10() -> FakeDevice:
    """A DGX Spark GB10 as drivers 580.x report it (see shared/reference/gb10-nvml.md)."""
    return FakeDevice(
        name="NVIDIA GB10",
        uuid="GPU-5d1e3b7c-0f3a-4b51-9d0e-6a4f2c9b8e11",
        utilization_pct=96,
        power_mw=41_250,
        power_limit_mw=None,
        temperature_c=63,
        sm_clock_mhz=2418,
        energy_mj=3_600_000_000,
        clock_event_reasons=0x4,  # sw_power_cap
        memory=None,
        # host PIDs: not the PIDs seen inside the vLLM container, and not in this test's /proc
        processes=[FakeProcess(pid=2_841_907, used_bytes=GB10_PROCESS_MEMORY), FakeProcess(2_841_955, None)],
    )


def h100() -> FakeDevice:
    """A discrete H100 where every query works."""
    return FakeDevice(
        name="NVIDIA H100 80GB HBM3",
        uuid="GPU-9a0c41f2-77d3-4e8b-a1c5-3b2e9f6d4a70",
        utilization_pct=71,
        power_mw=512_300,
        power_limit_mw=700_000,
        temperature_c=58,
        sm_clock_mhz=1980,
        energy_mj=9_100_000_000,
        clock_event_reasons=0x0,
        memory=(85_520_809_984, 72_000_000_000),
        processes=[FakeProcess(pid=31_337, used_bytes=71_500_000_000)],
    )


def h200() -> FakeDevice:
    """An idle H200 as driver 580.159.04 answered (tests/fixtures/real-gpu/h200-580.159.04.probe.json)."""
    return FakeDevice(
        name="NVIDIA H200",
        uuid="GPU-3e173970-8861-57e4-a9f5-2319c01ad775",
        utilization_pct=0,
        power_mw=77_260,
        power_limit_mw=700_000,
        temperature_c=37,
        sm_clock_mhz=345,
        mem_clock_mhz=3201,
        energy_mj=2_553_994,
        clock_event_reasons=0x1,  # gpu_idle
        memory=(150_754_820_096, 644_939_776),
        processes=[],
    )


@dataclass(frozen=True)
class _Handle:
    index: int


class Utilization:
    def __init__(self, gpu: int, memory: int) -> None:
        self.gpu = gpu
        self.memory = memory


class Memory:
    def __init__(self, total: int, used: int) -> None:
        self.total = total
        self.used = used
        self.free = total - used


class ProcessInfo:
    """Like pynvml's friendly object for c_nvmlProcessInfo_v3_t."""

    def __init__(self, pid: int, used: int | None) -> None:
        self.pid = pid
        self.usedGpuMemory = used
        self.gpuInstanceId = 0xFFFFFFFF
        self.computeInstanceId = 0xFFFFFFFF


class FakeNvml(ModuleType):
    """The module object handed to ``NvmlCollector(nvml=...)``."""

    NVML_SUCCESS = 0
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_GRAPHICS = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVMLError = NVMLError
    NVMLLibraryMismatchError = NVMLLibraryMismatchError

    def __init__(
        self,
        devices: Iterable[FakeDevice] = (),
        *,
        driver_version: str = "580.95.05",
        process_names: dict[int, str] | None = None,
        missing_functions: Sequence[str] = (),
    ) -> None:
        super().__init__("pynvml")
        for name, code in ERROR_CODES.items():
            setattr(self, name, code)
        for name, cls in ERROR_CLASSES.items():
            setattr(self, name, cls)
        self.nvmlExceptionClass = nvmlExceptionClass
        self.devices = list(devices)
        self.driver_version = driver_version
        self.process_names = dict(process_names or {})
        self.missing_functions = set(missing_functions)
        self.library_missing = False
        self.driver_loaded = True
        self.permission = True
        self.refcount = 0
        self.calls: Counter[str] = Counter()

    # switches -------------------------------------------------------------------------------------

    def lose_gpu(self, index: int = 0) -> None:
        self.devices[index].lost = True

    def restore_gpu(self, index: int = 0) -> None:
        self.devices[index].lost = False

    # plumbing -------------------------------------------------------------------------------------

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if self.library_missing:
            # pynvml never loaded libnvidia-ml.so.1: every later call finds no library handle.
            _raise("NVML_ERROR_UNINITIALIZED")
        if name in self.missing_functions:
            _raise("NVML_ERROR_FUNCTION_NOT_FOUND")
        if self.refcount <= 0:
            _raise("NVML_ERROR_UNINITIALIZED")

    def _device(self, name: str, handle: object) -> FakeDevice:
        self._enter(name)
        if not isinstance(handle, _Handle) or not 0 <= handle.index < len(self.devices):
            _raise("NVML_ERROR_INVALID_ARGUMENT")
        assert isinstance(handle, _Handle)
        device = self.devices[handle.index]
        if device.lost:
            _raise("NVML_ERROR_GPU_IS_LOST")
        return device

    @staticmethod
    def _value(value: Any) -> Any:
        if value is None:
            _raise("NVML_ERROR_NOT_SUPPORTED")
        return value

    # the pynvml surface ---------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.library_missing:
            _raise("NVML_ERROR_LIBRARY_NOT_FOUND")
        if not self.driver_loaded:
            _raise("NVML_ERROR_DRIVER_NOT_LOADED")
        if not self.permission:
            _raise("NVML_ERROR_NO_PERMISSION")
        self.refcount += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._enter("nvmlSystemGetProcessName")
        if pid not in self.process_names:
            _raise("NVML_ERROR_NOT_FOUND")
        return self.process_names[pid]

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.devices):
            _raise("NVML_ERROR_INVALID_ARGUMENT")
        if self.devices[index].lost:
            _raise("NVML_ERROR_GPU_IS_LOST")
        return _Handle(index)

    def nvmlDeviceGetName(self, handle: object) -> str:
        return self._device("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetUUID(self, handle: object) -> str:
        return self._device("nvmlDeviceGetUUID", handle).uuid

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Utilization:
        device = self._device("nvmlDeviceGetUtilizationRates", handle)
        return Utilization(self._value(device.utilization_pct), 0)

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        return int(self._value(self._device("nvmlDeviceGetPowerUsage", handle).power_mw))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        return int(self._value(self._device("nvmlDeviceGetEnforcedPowerLimit", handle).power_limit_mw))

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        device = self._device("nvmlDeviceGetTemperature", handle)
        if sensor != self.NVML_TEMPERATURE_GPU:
            _raise("NVML_ERROR_INVALID_ARGUMENT")  # NVML_TEMPERATURE_GPU is the only sensor (an H200 said so)
        return int(self._value(device.temperature_c))

    def nvmlDeviceGetClockInfo(self, handle: object, type: int) -> int:
        device = self._device("nvmlDeviceGetClockInfo", handle)
        if type == self.NVML_CLOCK_SM:
            return int(self._value(device.sm_clock_mhz))
        if type == self.NVML_CLOCK_MEM:
            return int(self._value(device.mem_clock_mhz))
        _raise("NVML_ERROR_NOT_SUPPORTED")  # the models know no other clock

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        return int(self._value(self._device("nvmlDeviceGetTotalEnergyConsumption", handle).energy_mj))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: object) -> int:
        device = self._device("nvmlDeviceGetCurrentClocksEventReasons", handle)
        return int(self._value(device.clock_event_reasons))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: object) -> int:
        device = self._device("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        return int(self._value(device.clock_event_reasons))

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> Memory:
        device = self._device("nvmlDeviceGetMemoryInfo", handle)
        total, used = self._value(device.memory)
        return Memory(total, used)

    def _compute_processes(self, name: str, handle: object) -> list[ProcessInfo]:
        device = self._device(name, handle)
        procs = self._value(device.processes)
        return [ProcessInfo(p.pid, p.used_bytes) for p in procs]

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: object) -> list[ProcessInfo]:
        return self._compute_processes("nvmlDeviceGetComputeRunningProcesses_v2", handle)

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: object) -> list[ProcessInfo]:
        return self._compute_processes("nvmlDeviceGetComputeRunningProcesses_v3", handle)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[ProcessInfo]:
        """pynvml's unversioned wrapper: ``_v3``, and NVMLLibraryMismatchError when the driver lacks it."""
        self.calls["nvmlDeviceGetComputeRunningProcesses"] += 1
        try:
            return self.nvmlDeviceGetComputeRunningProcesses_v3(handle)
        except ERROR_CLASSES["NVMLError_FunctionNotFound"]:
            # raised inside the handler as pynvml does, so __context__ is the FunctionNotFound
            raise NVMLLibraryMismatchError(  # noqa: B904
                "Unversioned function called and the pyNVML version does not match the NVML lib version. "
                "Either use matching pyNVML and NVML lib versions or use a versioned function such as "
                "nvmlDeviceGetComputeRunningProcesses_v2"
            )
