"""vLLM's startup as ``docker logs`` shows it: phases, their durations and their log lines.

``startup_script`` lays out the phases (process start, engine config, weights, torch.compile, KV
cache sizing, CUDA graphs, API server) with the profile's durations, the lines vLLM prints in each
(``LEVEL MM-DD HH:MM:SS [file.py:line] message`` behind a ``(APIServer pid=N)``, ``(EngineCore
pid=N)`` or ``(Worker pid=N)`` prefix, tqdm bars bare, uvicorn's own lines with no prefix), and stops
early with vLLM's own error when the memory checks fail. ``LogFormat`` renders lines with the model
clock's time. Shapes, file tags and wording follow a real vLLM's log (``tests/fixtures/real-vllm/``:
the ASCII banner with the version, ``GPU KV cache size`` and the maximum concurrency on one line,
"init engine ... took X s", ``Starting vLLM server on``, ``Application startup complete.``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sparktop.sim.memory import MemoryPlan
from sparktop.sim.profiles import GIB, Profile, Serving

Phase = Literal["process", "engine", "weights", "compile", "kv_cache", "graphs", "api", "ready", "failed"]
StartupMode = Literal["realistic", "fast", "instant"]
STARTUP_MODES: tuple[StartupMode, ...] = ("realistic", "fast", "instant")
FAST_TOTAL_S = 2.0
"""Model seconds a ``fast`` startup takes in all (same phases and lines, compressed)."""

API_PID = 1
ENGINE_PID = 214
WORKER_PID = 281
API = f"(APIServer pid={API_PID}) "
VLLM_CORE_PY = "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py"
ENGINE = f"(EngineCore pid={ENGINE_PID}) "
WORKER = f"(Worker pid={WORKER_PID}) "
UVICORN = ""
"""uvicorn prints its own lines (``INFO:     Application startup complete.``) with no process prefix."""
BANNER_SINCE = (0, 11)
"""The first vLLM that prints its version in an ASCII-art banner (older: one plain line)."""

ROUTES = (
    ("/openapi.json", "HEAD, GET"),
    ("/docs", "HEAD, GET"),
    ("/health", "GET"),
    ("/load", "GET"),
    ("/ping", "POST, GET"),
    ("/tokenize", "POST"),
    ("/v1/models", "GET"),
    ("/version", "GET"),
    ("/v1/chat/completions", "POST"),
    ("/v1/completions", "POST"),
    ("/metrics", "GET"),
)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line before its timestamp is known. ``level`` None: a bare line (tqdm bars, uvicorn)."""

    prefix: str
    level: str | None
    where: str
    message: str


class LogFormat:
    """Renders ``LogLine`` as vLLM prints it, at a given model time."""

    @staticmethod
    def render(line: LogLine, t: float) -> str:
        if line.level is None:
            return f"{line.prefix}{line.message}"
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(t))
        return f"{line.prefix}{line.level} {stamp} [{line.where}] {line.message}"


def api(message: str, where: str = "api_server.py:1912", level: str = "INFO") -> LogLine:
    return LogLine(API, level, where, message)


def engine(message: str, where: str = "core.py:77", level: str = "INFO") -> LogLine:
    return LogLine(ENGINE, level, where, message)


def worker(message: str, where: str, level: str = "INFO") -> LogLine:
    return LogLine(WORKER, level, where, message)


def banner(version: str, model: str) -> tuple[LogLine, ...]:
    """vLLM's startup banner: the ASCII-art logo with the version and model (plain for old versions)."""
    if version_tuple(version) < BANNER_SINCE:
        return (api(f"vLLM server version {version}, serving model {model}", "api_server.py:1900"),)
    where = "api_utils.py:347"
    art = (
        "",
        "       █     █     █▄   ▄█",
        f" ▄▄ ▄█ █     █     █ ▀▄▀ █  version {version}",
        f"  █▄█▀ █     █     █     █  model   {model}",
        "   ▀▀  ▀▀▀▀▀ ▀▀▀▀▀ ▀     ▀",
        "",
    )
    return tuple(api(text, where) for text in art)


def bare(prefix: str, message: str) -> LogLine:
    return LogLine(prefix, None, "", message)


@dataclass(frozen=True, slots=True)
class StartupStep:
    """Lines printed ``after_s`` model seconds after the previous step; ``phase`` entered here."""

    after_s: float
    phase: Phase | None
    lines: tuple[LogLine, ...]
    error: str | None = None
    """Set on the last step of a failed startup: the root-cause line."""


def version_tuple(version: str) -> tuple[int, ...]:
    """``"0.20.1"`` -> (0, 20, 1); anything after the numbers is ignored."""
    out = []
    for part in version.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _num(n: int) -> str:
    return f"{n:,}"


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


def _tqdm(label: str, done: int, total: int, per_item: float) -> str:
    """A tqdm progress line as vLLM's shard loader prints it."""
    if done == 0:
        return f"{label}:   0% Completed | 0/{total} [00:00<?, ?it/s]"
    rate = f"{per_item:5.2f}s/it" if per_item >= 1 else f"{1 / per_item:5.2f}it/s"
    times = f"{_mmss(done * per_item)}<{_mmss((total - done) * per_item)}"
    return f"{label}: {100 * done // total:3d}% Completed | {done}/{total} [{times}, {rate}]"


def _bar(label: str, total: int, seconds: float) -> str:
    rate = total / seconds if seconds > 0 else float(total)
    return f"{label}: 100%|██████████| {total}/{total} [{_mmss(seconds)}<00:00, {rate:5.2f}it/s]"


def _engine_error(headline: str, where: str, line: int, call: str, error: str) -> tuple[LogLine, ...]:
    """An engine-core exception as vLLM logs it: headline, a short traceback, the root cause."""
    frame = f'  File "{VLLM_CORE_PY}", line {line}, in run_engine_core'
    lines = (headline, "Traceback (most recent call last):", frame, f"    {call}", error)
    return tuple(engine(text, where, "ERROR") for text in lines)


def engine_failure(error: str) -> tuple[LogLine, ...]:
    """The lines an engine-core startup failure prints (root cause, then the API server's verdict)."""
    return (
        *_engine_error(
            "EngineCore failed to start.",
            "core.py:708",
            699,
            "engine_core = EngineCoreProc(*args, **kwargs)",
            error,
        ),
        bare(API, "Traceback (most recent call last):"),
        bare(
            API,
            "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
        ),
    )


def unsupported_architecture(architecture: str) -> tuple[LogLine, ...]:
    """What an image too old for the model prints before exiting."""
    return (
        bare(API, "Traceback (most recent call last):"),
        bare(API, "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig"),
        bare(
            API,
            f"  Value error, Model architectures ['{architecture}'] are not supported for now. Supported "
            "architectures: dict_keys([...]) [type=value_error, input_value=ArgsKwargs((), {...}), "
            "input_type=ArgsKwargs]",
        ),
    )


def _scale(mode: StartupMode, profile: Profile) -> float:
    s = profile.startup
    total = s.process_s + s.weights_s + s.dynamo_s + s.compile_s + s.profile_s + s.graphs_s + s.api_s + 4.0
    return {"realistic": 1.0, "fast": FAST_TOTAL_S / total, "instant": 0.0}[mode]


def startup_script(
    profile: Profile,
    serving: Serving,
    plan: MemoryPlan,
    *,
    mode: StartupMode,
    served_model_name: str,
    host: str,
    port: int,
    vllm_version: str,
    force_kv_error: bool = False,
) -> list[StartupStep]:
    """The startup of ``profile`` as a list of timed steps (ending in ``ready`` or ``failed``)."""
    k = _scale(mode, profile)
    st = profile.startup
    s = serving
    model = profile.hf_model
    steps: list[StartupStep] = []

    def add(after: float, phase: Phase | None, *lines: LogLine, error: str | None = None) -> None:
        steps.append(StartupStep(after * k, phase, tuple(lines), error))

    args = (
        f"{{'model_tag': '{model}', 'host': '{host}', 'port': {port}, 'model': '{model}', "
        f"'max_model_len': {s.max_model_len}, 'served_model_name': ['{served_model_name}'], "
        f"'gpu_memory_utilization': {s.gpu_memory_utilization}, 'kv_cache_dtype': '{s.kv_cache_dtype}', "
        f"'max_num_seqs': {s.max_num_seqs}, 'max_num_batched_tokens': {s.max_num_batched_tokens}}}"
    )
    add(0.0, "process", LogLine("", "INFO", "__init__.py:216", "Automatically detected platform cuda."))
    add(
        st.process_s * 0.5,
        None,
        *banner(vllm_version, model),
        api(f"non-default args: {args}", "api_utils.py:286"),
    )
    if version_tuple(vllm_version) < version_tuple(profile.min_vllm_version):
        error = f"Model architectures ['{profile.architecture}'] are not supported for now."
        lines = unsupported_architecture(profile.architecture)
        add(st.process_s * 0.5, "failed", *lines, error=error)
        return steps
    config_lines = [
        api(f"Resolved architecture: {profile.architecture}", "model.py:733"),
        api(f"Using max model len {s.max_model_len}", "model.py:2152"),
    ]
    if s.kv_cache_dtype.startswith("fp8"):
        config_lines.append(
            api(
                "Using fp8 data type to store kv cache. It reduces the GPU memory footprint and boosts the "
                "performance. Meanwhile, it may cause accuracy drop without a proper scaling factor.",
                "cache.py:180",
            )
        )
    config_lines.append(
        api(
            f"Chunked prefill is enabled with max_num_batched_tokens={s.max_num_batched_tokens}.",
            "scheduler.py:205",
        )
    )
    add(st.process_s * 0.5, "engine", *config_lines)
    spec = profile.spec
    spec_text = (
        f"SpeculativeConfig(method='{spec.method}', model='{model}', "
        f"num_spec_tokens={spec.num_speculative_tokens})"
        if spec
        else "None"
    )
    add(
        2.0,
        None,
        engine("Waiting for init message from front-end.", "core.py:648"),
        engine(
            f"Initializing a V1 LLM engine (v{vllm_version}) with config: model='{model}', "
            f"speculative_config={spec_text}, tokenizer='{model}', skip_tokenizer_init=False, "
            "tokenizer_mode=auto, "
            f"trust_remote_code={profile.reasoning}, dtype=torch.bfloat16, max_seq_len={s.max_model_len}, "
            f"quantization={profile.quantization}, enforce_eager=False, kv_cache_dtype={s.kv_cache_dtype}, "
            f"device_config=cuda, served_model_name={served_model_name}, "
            f"enable_prefix_caching={s.enable_prefix_caching}, enable_chunked_prefill=True",
        ),
        engine(
            "rank 0 in world size 1 is assigned as DP rank 0, PP rank 0, TP rank 0, EP rank 0",
            "parallel_state.py:1208",
        ),
    )
    free_error = plan.free_memory_error()
    if free_error is not None:
        add(1.0, "failed", *engine_failure(free_error), error=free_error)
        return steps

    load_lines = [worker(f"Starting to load model {model}...", "gpu_model_runner.py:4872")]
    if profile.quantization == "modelopt_fp4":
        load_lines.append(
            engine(
                "Your GPU does not have native support for FP4 computation but FP4 quantization is being "
                "used. "
                "Weight-only FP4 compression will be used leveraging the Marlin kernel. This may degrade "
                "performance for compute-heavy workloads.",
                "marlin_utils_fp4.py:138",
                "WARNING",
            )
        )
    load_lines += [
        engine("Using FLASHINFER attention backend.", "cuda.py:366"),
        engine("Using model weights format ['*.safetensors']", "weight_utils.py:392"),
        bare(WORKER, _tqdm("Loading safetensors checkpoint shards", 0, st.shards, 1.0)),
    ]
    add(1.0, "weights", *load_lines)
    per_shard = st.weights_s / st.shards
    for i in range(1, st.shards + 1):
        add(
            per_shard,
            None,
            bare(WORKER, _tqdm("Loading safetensors checkpoint shards", i, st.shards, per_shard)),
        )
    add(
        0.5,
        None,
        worker(f"Loading weights took {st.weights_s:.2f} seconds", "default_loader.py:502"),
        worker(
            f"Model loading took {plan.weights_bytes / GIB:.2f} GiB memory and "
            f"{st.weights_s + 1.6:.6f} seconds",
            "gpu_model_runner.py:5150",
        ),
    )
    add(
        1.0,
        "compile",
        engine(
            "Using cache directory: /root/.cache/vllm/torch_compile_cache/3f9c2a71d5/rank_0_0/backbone for "
            "vLLM's torch.compile",
            "backends.py:548",
        ),
    )
    add(st.dynamo_s, None, engine(f"Dynamo bytecode transform time: {st.dynamo_s:.2f} s", "backends.py:559"))
    add(
        st.compile_s,
        None,
        engine(
            f"Compiling a graph for compile range (1, {s.max_num_batched_tokens}) takes {st.compile_s:.2f} s",
            "backends.py:197",
        ),
        engine(f"torch.compile took {st.dynamo_s + st.compile_s:.2f} s in total", "monitor.py:34"),
    )
    kv_error = plan.kv_error()
    if force_kv_error and kv_error is None:
        kv_error = _forced_kv_error(plan)
    if kv_error is not None:
        add(st.profile_s, "failed", *engine_failure(kv_error), error=kv_error)
        return steps
    add(
        st.profile_s,
        "kv_cache",
        worker(f"Available KV cache memory: {plan.kv_available_bytes / GIB:.2f} GiB", "gpu_worker.py:760"),
        engine(
            f"GPU KV cache size: {_num(plan.kv_tokens)} tokens, Maximum concurrency for "
            f"{_num(s.max_model_len)} tokens per request: {plan.max_concurrency:.2f}x",
            "kv_cache_utils.py:2327",
        ),
    )
    graphs = st.graphs_s
    add(
        0.5,
        "graphs",
        bare(
            WORKER,
            "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 0%|          | 0/67 [00:00<?, ?it/s]",
        ),
    )
    add(
        graphs * 0.6,
        None,
        bare(WORKER, _bar("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE)", 67, graphs * 0.6)),
    )
    add(graphs * 0.4, None, bare(WORKER, _bar("Capturing CUDA graphs (decode, FULL)", 35, graphs * 0.4)))
    compile_s = st.dynamo_s + st.compile_s
    init_s = st.profile_s + graphs + compile_s + 2.0
    add(
        0.3,
        None,
        worker(
            f"Graph capturing finished in {round(graphs)} secs, took {plan.cuda_graph_bytes / GIB:.2f} GiB",
            "gpu_model_runner.py:6582",
        ),
    )
    add(
        0.4,
        None,
        engine(
            f"init engine (profile, create kv cache, warmup model) took {init_s:.2f} s "
            f"(compilation: {compile_s:.2f} s)",
            "core.py:402",
        ),
    )
    api_lines = [
        api(
            "Engine 000: vllm cache_config_info with initialization after num_gpu_blocks is: "
            f"{plan.num_blocks}",
            "loggers.py:351",
        ),
        api("Supported tasks: ['generate']", "entry.py:136"),
        api(f"Starting vLLM server on http://{host}:{port}", "entry.py:140"),
        api("Available routes are:", "launcher.py:186"),
        *(api(f"Route: {path}, Methods: {methods}", "launcher.py:195") for path, methods in ROUTES),
    ]
    add(st.api_s * 0.5, "api", *api_lines)
    add(
        st.api_s * 0.5,
        "ready",
        bare(UVICORN, f"INFO:     Started server process [{API_PID}]"),
        bare(UVICORN, "INFO:     Waiting for application startup."),
        bare(UVICORN, "INFO:     Application startup complete."),
    )
    return steps


def _forced_kv_error(plan: MemoryPlan) -> str:
    """The KV-cache error as if the cache had come out 40% short of one full-length request."""
    available = plan.needed_bytes * 0.6
    estimated = int(available // plan.block_bytes) * plan.block_size
    return (
        f"ValueError: To serve at least one request with the model's max seq len ({plan.max_model_len}), "
        f"({plan.needed_bytes / GIB:.2f} GiB KV cache is needed, which is larger than the available KV cache "
        f"memory ({available / GIB:.2f} GiB). Based on the available memory, the estimated maximum model "
        f"length is {estimated}. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
        "initializing the engine."
    )


def crash_lines(error: str) -> tuple[LogLine, ...]:
    """What a dying engine core prints, then the API server as it shuts down."""
    dead = (
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. "
        "See stack trace (above) for the root cause."
    )
    return (
        *_engine_error(
            "EngineCore encountered a fatal error.", "core.py:866", 857, "engine_core.run_busy_loop()", error
        ),
        api("AsyncLLM output_handler failed.", "async_llm.py:480", "ERROR"),
        api(dead, "async_llm.py:480", "ERROR"),
    )


def shutdown_lines() -> Sequence[LogLine]:
    return (
        bare(UVICORN, "INFO:     Shutting down"),
        bare(UVICORN, "INFO:     Waiting for application shutdown."),
        bare(UVICORN, "INFO:     Application shutdown complete."),
        bare(UVICORN, f"INFO:     Finished server process [{API_PID}]"),
    )
