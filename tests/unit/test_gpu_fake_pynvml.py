"""The pynvml stand-in against the installed nvidia-ml-py, compared programmatically.

pynvml imports without a GPU or a driver: its error classes, codes and wrappers are plain Python, so
every difference between them and ``tests/support/fake_pynvml.py`` fails here rather than hiding
behind a test that only the stand-in can pass.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import pytest

from tests.support import fake_pynvml
from tests.support.fake_pynvml import FakeNvml, h100

real: ModuleType = pytest.importorskip("pynvml")
fake = FakeNvml([h100()])


def facts(exc: BaseException) -> tuple[object, ...]:
    """What code can see of an error without asking the library."""
    return type(exc).__name__, getattr(exc, "value", None), exc.args, repr(exc)


def outcome(make: Callable[[], Any]) -> tuple[str, str]:
    """What calling ``make`` gives: ("ok", repr) or (exception type name, str)."""
    try:
        return "ok", repr(make())
    except Exception as exc:
        return type(exc).__name__, str(exc)


def real_codes() -> dict[str, int]:
    return {name: getattr(real, name) for name in dir(real) if name.startswith("NVML_ERROR_")}


def test_the_same_error_codes() -> None:
    assert real_codes() == fake_pynvml.ERROR_CODES
    assert {n: getattr(fake, n) for n in dir(fake) if n.startswith("NVML_ERROR_")} == real_codes()


def test_the_same_error_classes() -> None:
    real_classes = {n for n in dir(real) if n.startswith("NVMLError_")}
    assert set(fake_pynvml.ERROR_CLASSES) == real_classes
    assert {n for n in dir(fake) if n.startswith("NVMLError_")} == real_classes
    for name in real_classes:
        real_cls, fake_cls = getattr(real, name), getattr(fake, name)
        assert issubclass(fake_cls, fake.NVMLError) and fake_cls.__module__ == real_cls.__module__
    for code in real_codes().values():
        assert real.nvmlExceptionClass(code).__name__ == fake.nvmlExceptionClass(code).__name__
    assert outcome(lambda: real.nvmlExceptionClass(12345)) == outcome(lambda: fake.nvmlExceptionClass(12345))


@pytest.mark.parametrize("code", [*sorted(real_codes().values()), 0, 31, 12345])
def test_errors_built_from_a_code_behave_alike(code: int) -> None:
    real_exc, fake_exc = real.NVMLError(code), fake.NVMLError(code)
    assert facts(real_exc) == facts(fake_exc)
    # with a library loaded, pynvml asks it for the codes it has no text of its own for
    if real.nvmlLib is None or code in fake_pynvml.ERROR_TEXTS:
        assert str(real_exc) == str(fake_exc)


def test_the_same_error_texts() -> None:
    for code, text in fake_pynvml.ERROR_TEXTS.items():
        assert real.NVMLError._errcode_to_string.get(code) == text, code
    if real.nvmlLib is None:  # nothing learnt from a library yet
        assert set(real.NVMLError._errcode_to_string) == set(fake_pynvml.ERROR_TEXTS)


@pytest.mark.parametrize("name", sorted(n for n in dir(real) if n.startswith("NVMLError_")))
def test_subclasses_behave_alike(name: str) -> None:
    real_cls, fake_cls = getattr(real, name), getattr(fake, name)
    for args in ((), (7,), (7, "extra")):
        real_exc, fake_exc = real_cls(*args), fake_cls(*args)
        assert facts(real_exc) == facts(fake_exc)
        assert isinstance(real_exc, real.NVMLError) and isinstance(fake_exc, fake.NVMLError)


def test_equality_hashing_and_a_missing_code_behave_alike() -> None:
    for module in (real, fake):
        assert module.NVMLError(3) == module.NVMLError_NotSupported()
        assert module.NVMLError(3) != module.NVMLError(4)
    misuses: list[Callable[[Any], object]] = [
        lambda m: m.NVMLError(),
        lambda m: hash(m.NVMLError(3)),
        lambda m: {m.NVMLError_GpuIsLost()},
        lambda m: m.NVMLError(3) == 3,
        lambda m: m.NVMLError(3) != "x",
    ]
    for misuse in misuses:
        real_outcome = outcome(partial(misuse, real))
        assert real_outcome[0] != "ok"
        assert outcome(partial(misuse, fake)) == real_outcome


def test_library_mismatch_error_is_the_same_kind() -> None:
    assert fake.NVMLLibraryMismatchError.__name__ == real.NVMLLibraryMismatchError.__name__
    assert real.NVMLLibraryMismatchError.__mro__[1:] == fake.NVMLLibraryMismatchError.__mro__[1:]
    assert not issubclass(real.NVMLLibraryMismatchError, real.NVMLError)


def test_an_old_driver_without_v3_process_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real wrapper, with the driver's lookup answering as an older driver's would."""

    def lookup(name: str) -> object:
        if name == "nvmlDeviceGetComputeRunningProcesses_v3":
            raise real.NVMLError(real.NVML_ERROR_FUNCTION_NOT_FOUND)
        raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(real, "_nvmlGetFunctionPointer", lookup)
    old = FakeNvml([h100()], missing_functions=["nvmlDeviceGetComputeRunningProcesses_v3"])
    old.nvmlInit()
    handle = old.nvmlDeviceGetHandleByIndex(0)
    real_outcome = outcome(lambda: real.nvmlDeviceGetComputeRunningProcesses(None))
    assert real_outcome[0] == "NVMLLibraryMismatchError"
    assert outcome(lambda: old.nvmlDeviceGetComputeRunningProcesses(handle)) == real_outcome
    assert outcome(lambda: real.nvmlDeviceGetComputeRunningProcesses_v3(None)) == outcome(
        lambda: old.nvmlDeviceGetComputeRunningProcesses_v3(handle)
    )
    contexts = []
    for call in (
        partial(real.nvmlDeviceGetComputeRunningProcesses, None),
        partial(old.nvmlDeviceGetComputeRunningProcesses, handle),
    ):
        with pytest.raises(Exception) as caught:
            call()
        contexts.append((type(caught.value.__context__).__name__, caught.value.__suppress_context__))
    assert contexts[0] == contexts[1] == ("NVMLError_FunctionNotFound", False)


def test_calls_before_init_fail_alike() -> None:
    if real.nvmlLib is not None:
        pytest.skip("pynvml has loaded a library in this process")
    fresh = FakeNvml([h100()])
    real_outcome = outcome(real.nvmlDeviceGetCount)
    assert real_outcome == ("NVMLError_Uninitialized", "Uninitialized")
    assert outcome(fresh.nvmlDeviceGetCount) == real_outcome
    assert outcome(lambda: real.nvmlDeviceGetComputeRunningProcesses(None)) == outcome(
        lambda: fresh.nvmlDeviceGetComputeRunningProcesses(None)
    )


def test_the_stand_in_surface_has_the_real_signatures() -> None:
    surface = [name for name in dir(FakeNvml) if name.startswith("nvml")]
    assert len(surface) > 10
    for name in surface:
        real_params = list(inspect.signature(getattr(real, name)).parameters.values())
        fake_params = list(inspect.signature(getattr(fake, name)).parameters.values())
        assert [p.name for p in fake_params] == [p.name for p in real_params], name
        assert [p.default for p in fake_params] == [p.default for p in real_params], name
    for constant in (
        "NVML_SUCCESS",
        "NVML_TEMPERATURE_GPU",
        "NVML_CLOCK_SM",
        "NVML_CLOCK_GRAPHICS",
        "NVML_CLOCK_MEM",
    ):
        assert getattr(real, constant) == getattr(FakeNvml, constant), constant
