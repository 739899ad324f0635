"""vLLM's startup read from log lines: phases, progress, KV-cache figures, fatal errors and hints."""

from __future__ import annotations

import pytest

from sparktop import codec
from sparktop.container.phases import FATAL_PATTERNS, MAX_TEXT, PhaseTracker, clean_line
from sparktop.model import Event, StartupProgress
from sparktop.sim import startup as st
from sparktop.sim.memory import plan_memory
from sparktop.sim.profiles import PROFILES, get_profile
from tests.support.frames import sim_startup_lines

ORDER = ["engine", "weights", "compile", "kv_cache", "graphs", "warmup", "api"]


def sim_lines(profile_name: str, **kw: object) -> list[tuple[float, str]]:
    return sim_startup_lines(profile_name, 1000.0, **kw)


def feed_all(tracker: PhaseTracker, lines: list[tuple[float, str]]) -> list[Event]:
    events: list[Event] = []
    for t, line in lines:
        events += tracker.feed(t, line)
    return events


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_simulated_startup_reads_as_the_phases_in_order(name: str) -> None:
    profile = get_profile(name)
    plan = plan_memory(profile)
    tracker = PhaseTracker()
    events = feed_all(tracker, sim_lines(name))
    progress = tracker.progress
    assert [p.name for p in progress.phases] == ORDER
    assert progress.ready and progress.fatal is None and progress.current is None
    assert progress.kv_cache_tokens == plan.kv_tokens
    assert progress.max_concurrency == pytest.approx(plan.max_concurrency, abs=0.005)
    assert progress.max_concurrency_tokens == profile.serving.max_model_len
    for phase in progress.phases:
        assert phase.ended is not None and phase.ended >= phase.started
    weights = progress.phases[1]
    assert weights.ended is not None
    assert weights.ended - weights.started == pytest.approx(profile.startup.weights_s + 0.5)
    assert weights.detail == f"{plan.weights_bytes / 1024**3:.2f} GiB"
    statuses = [
        (e.data["phase"], e.data["status"]) for e in events if e.data.get("status") in ("started", "finished")
    ]
    assert statuses == [(p, s) for p in ORDER for s in ("started", "finished")]
    elapsed = [e.data["elapsed_s"] for e in events if e.data.get("status") == "finished"]
    assert all(isinstance(x, float) and x >= 0 for x in elapsed)
    percents = [
        x
        for e in events
        if e.data.get("phase") == "weights" and isinstance(x := e.data.get("percent"), float)
    ]
    assert percents == sorted(percents) and percents[-1] == 100 and len(percents) >= 3
    assert events[-1].data["status"] == "ready" and events[-1].text.startswith("ready after ")
    assert all(e.kind == "startup" and e.source == "container" for e in events)


def test_progress_while_a_phase_runs() -> None:
    tracker = PhaseTracker()
    lines = sim_lines("gemma4-26b-a4b-bf16")
    half = next(i for i, (_, line) in enumerate(lines) if "checkpoint shards:  50%" in line)
    feed_all(tracker, lines[: half + 1])
    progress = tracker.progress
    assert progress.current == "weights" and progress.percent == 50.0 and not progress.ready
    assert progress.phases[-1].ended is None


E = "(EngineCore_DP0 pid=9) "


def info(message: str, where: str = "x.py:1") -> str:
    """An engine-core INFO line as vLLM prints it."""
    return f"{E}INFO 05-01 10:00:00 [{where}] {message}"


TYPICAL = [
    # an older vLLM, colours on, other process prefixes and wording
    (0.0, "\x1b[32mINFO\x1b[0m 05-01 10:00:00 [api_server.py:1] vLLM API server version 0.8.5.post1"),
    (1.0, "(VllmWorker rank=0 pid=77) INFO 05-01 10:00:01 [x.py:1] Resolved architecture: LlamaForCausalLM"),
    (2.0, info("Starting to load model meta/llama...")),
    (3.0, f"{E}Downloading 'model-00001.safetensors':  40%|████      | 2.0G/5.0G"),
    (32.5, info("Time spent downloading weights for meta/llama: 30.250000 seconds")),
    (
        33.0,
        f"{E}Loading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]\r"
        "Loading safetensors checkpoint shards:  25% Completed | 1/4 [00:03<00:09]\r"
        "Loading safetensors checkpoint shards:  75% Completed | 3/4 [00:09<00:03]",
    ),
    (45.0, info("Model loading took 15.2345 GiB and 12.000000 seconds")),
    (50.0, info("Dynamo bytecode transform time: 5.00 s")),
    (70.0, info("torch.compile takes 20.00 s in total")),
    (75.0, info("Available KV cache memory: 60.5 GiB")),
    (75.1, info("GPU KV cache size: 1,234,567 tokens")),
    (75.2, info("Maximum concurrency for 32,768 tokens per request: 37.68x")),
    (76.0, f"{E}Capturing CUDA graphs (mixed prefill-decode, PIECEWISE):  52%|█████▏    | 35/67"),
    (90.0, info("Graph capturing finished in 14 secs, took 0.51 GiB")),
    (
        91.0,
        "(APIServer pid=1) INFO 05-01 10:01:31 [api_server.py:1] Starting vLLM API server 0 on http://0.0.0.0:8000",
    ),
    (92.0, "(APIServer pid=1) INFO:     Application startup complete."),
]


def test_lines_of_other_vllm_versions_and_a_download() -> None:
    tracker = PhaseTracker()
    events = feed_all(tracker, TYPICAL)
    p = tracker.progress
    assert [x.name for x in p.phases] == [
        "engine",
        "download",
        "weights",
        "compile",
        "kv_cache",
        "graphs",
        "api",
    ]
    download, weights = p.phases[1], p.phases[2]
    assert (download.started, download.ended, download.detail) == (2.0, 32.5, "30.2 s")
    assert (weights.started, weights.ended) == (32.5, 45.0)
    assert p.phases[0].detail == "vLLM 0.8.5.post1, LlamaForCausalLM"
    assert weights.detail == "15.23 GiB"
    assert (p.kv_cache_tokens, p.max_concurrency, p.max_concurrency_tokens) == (1_234_567, 37.68, 32_768)
    assert p.ready
    percents = [(e.data["phase"], e.data["percent"]) for e in events if "percent" in e.data]
    assert percents == [("download", 40.0), ("weights", 25.0), ("weights", 75.0), ("graphs", 52.0)]
    assert "\x1b" not in "".join(e.text for e in events)


FATAL_LINES = [
    (
        "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`",
        "kv-cache-none",
        "raise --gpu-memory-utilization",
    ),
    (
        "ValueError: To serve at least one request with the model's max seq len (131072), (15.00 GiB KV "
        "cache is needed, which is larger than the available KV cache memory (9.00 GiB). Based on the "
        "available memory, the estimated maximum model length is 78640. Try increasing "
        "`gpu_memory_utilization`",
        "kv-cache-too-small",
        "lower --max-model-len to 78640 or less",
    ),
    (
        "ValueError: Free memory on device (101.2/121.7 GiB) on startup is less than desired GPU memory "
        "utilization (0.95, 115.6 GiB).",
        "free-memory",
        "drop the page cache",
    ),
    ("RuntimeError: Failed to load model - not enough GPU memory.", "load-oom", "quantized model"),
    (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "cuda-oom",
        "--gpu-memory-utilization",
    ),
    (
        "  Value error, Model architectures ['NemotronHForCausalLM'] are not supported for now. Supported",
        "architecture",
        "newer image",
    ),
    (
        # seen on a real vLLM 0.32 in a container started without --shm-size (Docker's default 64 MiB)
        "RuntimeError: Insufficient space in /dev/shm for shared-memory allocation: 160 MiB required, 64 MiB "
        "free. Increase /dev/shm (e.g. --shm-size or --ipc=host).",
        "shm",
        "shm_size",
    ),
    ("RuntimeError: Engine core initialization failed. See root cause above.", "engine-init", "root cause"),
]


@pytest.mark.parametrize(("line", "name", "hint"), FATAL_LINES, ids=[x[1] for x in FATAL_LINES])
def test_known_fatal_errors_end_the_startup_with_a_hint(line: str, name: str, hint: str) -> None:
    tracker = PhaseTracker()
    feed_all(tracker, TYPICAL[:3])
    events = tracker.feed(10.0, f"(EngineCore_DP0 pid=9) ERROR 05-01 10:00:10 [core.py:1] {line}")
    assert len(events) == 1
    event = events[0]
    assert (event.kind, event.level, event.data["fatal"]) == ("error", "error", name)
    assert hint in str(event.data["hint"])
    p = tracker.progress
    assert p.fatal == line.strip() and hint in (p.hint or "") and not p.ready and p.current is None
    assert p.phases[-1].ended == 10.0 and p.phases[-1].detail.endswith("failed")
    assert event.text == f"weights load failed: {line.strip()}"


def test_the_root_cause_stands_over_the_summary_line() -> None:
    lines = sim_lines("gemma4-26b-a4b-bf16", force_kv_error=True)
    tracker = PhaseTracker()
    events = feed_all(tracker, lines)
    errors = [e for e in events if e.kind == "error"]
    assert [e.data["fatal"] for e in errors] == ["kv-cache-too-small"]
    assert errors[0].data["phase"] == "kv_cache"
    assert "Engine core initialization failed" in lines[-1][1]
    # alone, the summary is the fatal line
    alone = PhaseTracker()
    alone.feed(
        0.0, "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above."
    )
    assert (
        alone.progress.fatal is not None
        and alone.progress.hint == "the root cause is in the log lines above it"
    )


def test_an_image_too_old_for_the_model() -> None:
    tracker = PhaseTracker()
    feed_all(tracker, sim_lines("nemotron3-nano-30b-a3b-bf16", vllm_version="0.15.1"))
    p = tracker.progress
    assert p.fatal is not None and "NemotronHForCausalLM" in p.fatal and "newer image" in (p.hint or "")
    assert [x.name for x in p.phases] == ["engine"]


def test_after_ready_an_engine_death_is_one_error_not_a_failed_startup() -> None:
    tracker = PhaseTracker()
    feed_all(tracker, sim_lines("gemma4-26b-a4b-nvfp4"))
    events = []
    for line in st.crash_lines(
        "torch.AcceleratorError: CUDA error: an illegal memory access was encountered"
    ):
        events += tracker.feed(5000.0, st.LogFormat.render(line, 5000.0))
    events += tracker.feed(5001.0, "ERROR torch.OutOfMemoryError: CUDA out of memory.")
    events += tracker.feed(5002.0, "ERROR torch.OutOfMemoryError: CUDA out of memory.")
    assert [e.data["fatal"] for e in events] == ["engine-dead", "cuda-oom"]
    assert tracker.progress.ready and tracker.progress.fatal is None


def test_a_restarted_server_starts_a_new_startup() -> None:
    tracker = PhaseTracker()
    lines = sim_lines("gemma4-26b-a4b-nvfp4")
    feed_all(tracker, lines)
    assert tracker.progress.ready
    feed_all(tracker, [(t + 10_000, line) for t, line in lines[:3]])
    p = tracker.progress
    assert not p.ready and p.current == "engine" and p.phases[0].started > 10_000


def test_steady_state_lines_alone_say_nothing_about_startup() -> None:
    tracker = PhaseTracker()
    lines = [
        '(APIServer pid=1) INFO:     172.17.0.1:5000 - "GET /metrics HTTP/1.1" 200 OK',
        "(APIServer pid=1) INFO 05-01 10:00:00 [loggers.py:1] Engine 000: Avg prompt throughput: 0.0 tok/s",
        "",
        "\r",
    ]
    assert feed_all(tracker, [(1.0, x) for x in lines]) == []
    assert not tracker.seen_startup and tracker.progress == StartupProgress()


def test_text_from_the_container_is_cleaned_and_cut() -> None:
    assert clean_line(
        "\x1b[1;31m(APIServer pid=12) ERROR 05-01 10:00:00 [a.py:3] boom\x07\x1b]0;title\x07"
    ) == (
        "ERROR",
        "boom",
    )
    tracker = PhaseTracker()
    huge = "ValueError: No available memory for the cache blocks " + "x" * 5000
    events = tracker.feed(1.0, huge)
    assert len(events[0].text) < MAX_TEXT + 40 and (tracker.progress.fatal or "").endswith("…")


def test_progress_is_a_value_the_codec_carries() -> None:
    tracker = PhaseTracker()
    feed_all(tracker, sim_lines("gemma4-26b-a4b-mtp"))
    progress = tracker.progress
    assert tracker.progress is progress  # cached until a line changes it
    assert codec.decode(StartupProgress, codec.encode(progress)) == progress


def test_every_fatal_pattern_is_tested() -> None:
    assert {p.name for p in FATAL_PATTERNS} == {x[1] for x in FATAL_LINES}
