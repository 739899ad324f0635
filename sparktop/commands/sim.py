"""`sparktop sim`: serve a simulated vLLM on a modelled DGX Spark until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from typing import Any

import orjson

from sparktop.cli import EXIT_FAILED, CliError
from sparktop.sim.calibration import metric_label
from sparktop.sim.faults import FaultConfig
from sparktop.sim.profiles import PROFILES, Profile, UnknownProfileError, get_profile
from sparktop.sim.server import SimConfig, SimServer

_METRIC_LABEL = {"decode_per_user": "tok/s/user", "ttft_s": "s TTFT"}


def _figures_by_row(profile: Profile) -> dict[tuple[str, str, int], dict[str, float]]:
    rows: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for f in profile.figures:
        rows[(f.source, f.cell, f.users)][f.metric] = f.value
    return rows


def list_profiles(as_json: bool) -> int:
    if as_json:
        out: list[dict[str, Any]] = []
        for p in PROFILES.values():
            out.append(
                {
                    "name": p.name,
                    "model": p.hf_model,
                    "served_model_name": p.served_model_name,
                    "description": p.description,
                    "vllm_version": p.vllm_version,
                    "reasoning": p.reasoning,
                    "speculative_decoding": p.spec is not None,
                    "figures": [
                        {
                            "cell": f.cell,
                            "users": f.users,
                            "metric": f.metric,
                            "value": f.value,
                            "source": f.source,
                            "calibrated": f.calibrated,
                        }
                        for f in p.figures
                    ],
                }
            )
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print("Simulated serving profiles (figures: Django de Vreng's DGX Spark runs, CC-BY-4.0).")
    print("* marks the figures the simulator is calibrated to within 20%.\n")
    for p in PROFILES.values():
        print(f"{p.name}")
        print(f"  {p.description}")
        print(f"  model {p.hf_model}, served as {p.served_model_name}")
        for (source, cell, users), metrics in _figures_by_row(p).items():
            parts = [
                f"{metrics[m]:g} {_METRIC_LABEL[m]}" for m in ("decode_per_user", "ttft_s") if m in metrics
            ]
            parts += [f"{v:g} {metric_label(m)}" for m, v in metrics.items() if m not in _METRIC_LABEL]
            star = "*" if any(f.calibrated for f in p.figures if (f.cell, f.users) == (cell, users)) else " "
            who = f"{users:2d} users" if users else "open loop"
            print(f"   {star} {cell:6s} {who}  {', '.join(parts):34s} [{source}]")
        print()
    return 0


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        crash_after_s=args.crash_after,
        fail_startup_kv=args.fail_startup == "kv",
        metrics_status=args.metrics_status,
        metrics_delay_s=args.metrics_delay or 0.0,
        generate_status=args.generate_status,
        abort_after_tokens=args.abort_after_tokens,
    )


def run(args: argparse.Namespace) -> int:
    if args.list_profiles:
        return list_profiles(args.json)
    if not args.profile:
        raise CliError("--profile is required", hint="`sparktop sim --list-profiles` shows the profiles")
    try:
        profile = get_profile(args.profile)
    except UnknownProfileError as exc:
        raise CliError(str(exc), hint="`sparktop sim --list-profiles` shows the profiles") from None
    try:
        config = SimConfig(
            profile=profile.name,
            host=args.host,
            port=args.port,
            speed=args.speed,
            seed=args.seed,
            startup=args.startup,
            metrics_style=args.metrics_style,
            faults=_faults(args),
            max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory_utilization,
            max_num_seqs=args.max_num_seqs,
            log_file=None if args.quiet else sys.stdout,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None

    servers: list[SimServer] = []

    def announce(sim: SimServer) -> None:
        servers.append(sim)
        print(
            f"sparktop sim: SIMULATED vLLM ({profile.name}, speed x{args.speed:g}) on {sim.url}", flush=True
        )

    from sparktop.sim.runner import serve

    try:
        code = asyncio.run(serve(config, announce))
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            hint="pick another --port (0 picks a free one) or stop what holds it",
        ) from None
    if code != 0:
        error = servers[0].error if servers else None
        print(f"sparktop: error: the simulated vLLM exited: {error or 'see its log above'}", file=sys.stderr)
        if error and "KV cache" in error:
            print("hint: lower --max-model-len or raise --gpu-memory-utilization", file=sys.stderr)
        elif args.crash_after is not None or args.fail_startup:
            print("hint: this failure was asked for (--crash-after / --fail-startup)", file=sys.stderr)
        return EXIT_FAILED
    return 0
