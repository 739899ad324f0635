"""How long `sparktop smoke` takes on a healthy server once it is ready, against the 60 s target.

Serves the simulated Spark at real speed (``sparktop sim``, each profile given, default the NVFP4
and BF16 Gemma: the fastest and the slowest single user), runs ``sparktop smoke URL --no-record
--json -`` as a user would, and prints the seconds after the server was ready (the smoke's own
figure), the whole command's wall time, the verdict, and the ratio to the target. The real vLLM's
figure comes from ``tests/integration/shared_real_vllm/test_real_vllm_cli.py`` (it prints it under ``-s``).

Run: .venv/bin/python benchmarks/bench_smoke.py [PROFILE ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparktop.sim.server import SimConfig, SimServer

TARGET_S = 60.0
DEFAULT = ("gemma4-26b-a4b-nvfp4", "gemma4-26b-a4b-bf16")


def main() -> int:
    profiles = sys.argv[1:] or list(DEFAULT)
    worst = 0.0
    for profile in profiles:
        handle = SimServer(SimConfig(profile=profile, startup="instant", access_log=False)).start_in_thread()
        handle.wait_ready(10)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "smoke.json"
            try:
                start = time.monotonic()
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "sparktop",
                        "smoke",
                        handle.url,
                        "--no-record",
                        "--json",
                        str(out),
                    ],
                    capture_output=True,
                    check=False,
                    timeout=300,
                )
                wall = time.monotonic() - start
            finally:
                handle.stop()
            doc = json.loads(out.read_text())
        after = float(doc["seconds_after_ready"])
        worst = max(worst, after)
        print(
            f"{profile}: {after:.1f} s after ready ({wall:.1f} s the whole command), "
            f"verdict {doc['verdict']}, / target = {after / TARGET_S:.3f}"
        )
    verdict = "ok" if worst < TARGET_S else "OVER"
    print(f"slowest: {worst:.1f} s; target {TARGET_S:.0f} s: ratio {worst / TARGET_S:.3f} ({verdict})")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
