"""``vllm serve`` look-alike, so a container image can run the simulator in place of vLLM.

    python -m sparktop.sim.vllm_entry serve MODEL [--served-model-name N] [--port P] [--host H]
        [--max-model-len L] [--gpu-memory-utilization F] [--kv-cache-dtype fp8|auto]
        [--max-num-seqs N] [--max-num-batched-tokens N] [--speculative-config JSON]
        [--[no-]enable-prefix-caching] [other vLLM flags]

The profile is picked from the model id (and ``--speculative-config``); flags default as in vLLM
(``--gpu-memory-utilization 0.9``, ``--kv-cache-dtype auto``, prefix caching on), other vLLM flags
are accepted and ignored. vLLM-format logs go to stdout as ``docker logs`` shows them, and failures
end as vLLM's do (exit 1): an architecture the posed vLLM version does not know, a KV cache too small for
``--max-model-len``, a memory budget above what is free. Simulator-only knobs come from the
environment: ``SPARKTOP_SIM_SPEED``, ``_SEED``, ``_STARTUP`` (realistic|fast|instant),
``_METRICS_STYLE``, ``_HOST_USED_GIB``, ``_VLLM_VERSION``, ``_LOG_STATS_EVERY`` (print the periodic
stats line every S model seconds, idle or not) and the faults of ``faults.from_env``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from sparktop.sim.faults import FaultConfigError, from_env
from sparktop.sim.profiles import PROFILES, profile_for_model
from sparktop.sim.runner import serve
from sparktop.sim.server import SimConfig
from sparktop.sim.startup import LogFormat, unsupported_architecture

VLLM_DEFAULT_UTILIZATION = 0.9
VLLM_DEFAULT_KV_DTYPE = "auto"


class EntryError(Exception):
    """Bad arguments or environment; printed as ``error: ...`` with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vllm serve", description="Simulated vLLM (sparktop).", allow_abbrev=False
    )
    p.add_argument("--model")
    p.add_argument("--served-model-name", nargs="+")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--gpu-memory-utilization", type=float, default=VLLM_DEFAULT_UTILIZATION)
    p.add_argument("--kv-cache-dtype", default=VLLM_DEFAULT_KV_DTYPE)
    p.add_argument("--max-num-seqs", type=int)
    p.add_argument("--max-num-batched-tokens", type=int)
    p.add_argument("--speculative-config")
    p.add_argument("--enable-prefix-caching", action=argparse.BooleanOptionalAction, default=True)
    return p


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise EntryError(f"{name}={text!r} is not a number") from None


def guess_architecture(model: str) -> str:
    """A plausible architecture name for a model id the simulator does not know."""
    base = model.rstrip("/").rsplit("/", 1)[-1]
    match = re.match(r"[A-Za-z]+[0-9]*", base)
    stem = match.group(0) if match else "Unknown"
    return f"{stem[:1].upper()}{stem[1:]}ForCausalLM"


def build_config(argv: Sequence[str], env: Mapping[str, str]) -> tuple[SimConfig | None, str]:
    """The simulated server for ``vllm serve`` arguments; (None, model) when the model is unknown."""
    args = list(argv)
    if args and args[0] == "serve":
        args = args[1:]
    model_tag = args.pop(0) if args and not args[0].startswith("-") else None
    ns, _ignored = _parser().parse_known_args(args)
    model = ns.model or model_tag
    if not model:
        raise EntryError("the following arguments are required: model_tag (or --model)")
    speculative = False
    if ns.speculative_config:
        try:
            spec: Any = json.loads(ns.speculative_config)
        except json.JSONDecodeError as exc:
            raise EntryError(f"argument --speculative-config: invalid JSON: {exc.msg}") from None
        speculative = isinstance(spec, dict) and bool(
            spec.get("method") or spec.get("num_speculative_tokens")
        )
    profile = profile_for_model(model, speculative=speculative)
    if profile is None:
        return None, model
    startup = env.get("SPARKTOP_SIM_STARTUP", "realistic").strip() or "realistic"
    style = env.get("SPARKTOP_SIM_METRICS_STYLE", "current").strip() or "current"
    try:
        faults = from_env(env)
        host_used = env.get("SPARKTOP_SIM_HOST_USED_GIB", "").strip()
        stats_every = _env_float(env, "SPARKTOP_SIM_LOG_STATS_EVERY", 0.0)
        if stats_every < 0:
            raise EntryError(f"SPARKTOP_SIM_LOG_STATS_EVERY={stats_every:g} must not be negative")
        config = SimConfig(
            profile=profile.name,
            host=ns.host,
            port=ns.port,
            speed=_env_float(env, "SPARKTOP_SIM_SPEED", 1.0),
            seed=int(_env_float(env, "SPARKTOP_SIM_SEED", 0)),
            startup=startup,  # type: ignore[arg-type]  # checked by SimConfig
            metrics_style=style,  # type: ignore[arg-type]
            faults=faults,
            served_model_name=ns.served_model_name[0] if ns.served_model_name else model,
            max_model_len=ns.max_model_len,
            gpu_memory_utilization=ns.gpu_memory_utilization,
            kv_cache_dtype=ns.kv_cache_dtype,
            max_num_seqs=ns.max_num_seqs,
            max_num_batched_tokens=ns.max_num_batched_tokens,
            enable_prefix_caching=ns.enable_prefix_caching,
            host_used_gib=float(host_used) if host_used else None,
            vllm_version=env.get("SPARKTOP_SIM_VLLM_VERSION", "").strip() or None,
            log_file=sys.stdout,
            stats_interval_s=stats_every or 10.0,
            stats_when_idle=stats_every > 0,
        )
    except (FaultConfigError, ValueError) as exc:
        raise EntryError(str(exc)) from None
    return config, model


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    try:
        config, model = build_config(
            sys.argv[1:] if argv is None else argv, os.environ if env is None else env
        )
    except EntryError as exc:
        print(f"vllm serve: error: {exc}", file=sys.stderr)
        return 2
    if config is None:
        for line in unsupported_architecture(guess_architecture(model)):
            print(LogFormat.render(line, 0.0), flush=True)
        known = ", ".join(sorted({p.hf_model for p in PROFILES.values()}))
        print(f"sparktop sim: no simulated profile serves {model!r}; known models: {known}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        print(
            f"ERROR: [Errno {exc.errno}] could not bind on {config.host}:{config.port}: {exc.strerror}",
            flush=True,
        )
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
