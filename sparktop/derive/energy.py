"""Energy per generated token, from NVML's energy counter and vLLM's generation token counter.

Both inputs are raw counter samples ``(t, value)``. Over the window each counter's increase is
summed pair by pair, so a counter reset (driver reload, server restart) counts the value after the
reset instead of a negative jump. The two counters are sampled by different sources at different
moments, so the result is the ratio of their rates: (energy / its span) / (tokens / their span).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sparktop.model import GpuSample, Num, Unknown

Series = Sequence[tuple[float, Num]]


def counter_increase(samples: Iterable[tuple[float, Num]]) -> tuple[float, float] | Unknown:
    """(increase, seconds covered) of a counter over its known samples, with reset handling.

    Unknown when fewer than two known samples exist; the reason is the last unknown's, if any.
    """
    last_unknown: Unknown | None = None
    prev: tuple[float, float] | None = None
    first_t: float | None = None
    increase = 0.0
    for t, value in samples:
        if isinstance(value, Unknown):
            last_unknown = value
            continue
        if prev is None:
            first_t = t
        else:
            step = value - prev[1]
            increase += step if step >= 0 else value
        prev = (t, value)
    if prev is None or first_t is None or prev[0] <= first_t:
        if last_unknown is not None:
            return last_unknown
        return Unknown("fewer than two readings in the window")
    return increase, prev[0] - first_t


def energy_per_token(
    energy_mj: Series,
    generation_tokens: Series,
    window_s: float,
    now: float | None = None,
) -> float | Unknown:
    """Joules per generated token over the last ``window_s`` seconds up to ``now``.

    Args:
        energy_mj: ``(t, total energy counter in mJ)`` samples, oldest first.
        generation_tokens: ``(t, vllm generation_tokens_total)`` samples, oldest first.
        window_s: the window length; samples with ``now - window_s <= t <= now`` count.
        now: the window's end; default the latest sample time of either series.
    """
    if not window_s > 0:
        raise ValueError(f"window must be > 0 seconds, got {window_s!r}")
    if now is None:
        times = [t for t, _ in energy_mj[-1:]] + [t for t, _ in generation_tokens[-1:]]
        if not times:
            return Unknown("no readings yet")
        now = max(times)
    start = now - window_s

    energy = counter_increase((t, v) for t, v in energy_mj if start <= t <= now)
    if isinstance(energy, Unknown):
        return Unknown(f"energy counter: {energy.reason}")
    tokens = counter_increase((t, v) for t, v in generation_tokens if start <= t <= now)
    if isinstance(tokens, Unknown):
        return Unknown(f"generated tokens: {tokens.reason}")
    joules, energy_span = energy[0] / 1000.0, energy[1]
    count, token_span = tokens
    if count <= 0:
        return Unknown("no tokens generated in the window")
    return (joules / energy_span) / (count / token_span)


def total_energy_mj(sample: GpuSample) -> Num:
    """The energy counters of every device in a sample, summed; Unknown if any is unknown."""
    if not sample.devices:
        return Unknown(f"no GPU readings ({sample.status}: {sample.detail})")
    total = 0.0
    for device in sample.devices:
        if isinstance(device.energy_mj, Unknown):
            return Unknown(f"GPU {device.index} energy: {device.energy_mj.reason}")
        total += device.energy_mj
    return total
