"""Deterministic sessions to record: fixed times, realistic pages, GPU samples and events."""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import math
import sqlite3
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from sparktop import codec, model
from sparktop.model import Event, ScrapeResult, ServerInfo, TargetInfo, WorkloadProgress
from sparktop.recording.kinds import time_of
from sparktop.recording.writer import Recorder
from sparktop.vllm.exposition import SeriesParser
from sparktop.vllm.schema import Schema
from tests.support.frames import T0, gb10_sample
from tests.support.vllm_pages import LoadedServer

TARGET = TargetInfo("http://127.0.0.1:8000", "url", profile="gemma4-26b-a4b-nvfp4")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = FIXTURES / "golden-v1.sparktop"
"""A file made by the first release of the format: ``record(path, 40)`` as it was then."""


def golden_observations() -> list[object]:
    """What ``GOLDEN`` holds: the observations its release's ``observations(40)`` made, kept encoded
    beside it and decoded by today's code (fields added since take their defaults), since the
    generator has moved on (the simulated pages carry more families now)."""
    stored = json.loads(gzip.decompress((FIXTURES / "golden-v1.observations.json.gz").read_bytes()))
    return [codec.decode(getattr(model, name), data) for name, data in stored]


def observations(seconds: int, seed: int = 3, engines: int = 1) -> Iterator[object]:
    """What a session would see over ``seconds`` seconds, one scrape and one GPU sample a second."""
    server = LoadedServer(engines=engines, seed=seed)
    parser, schema = SeriesParser(), Schema()
    yield Event(T0, "startup", "Application startup complete.", "vllm")
    yield ServerInfo(T0 + 0.2, "0.23.0", ("gemma-4-26b-a4b-nvfp4",), 131072, "nvidia/Gemma-4-26B-A4B-NVFP4")
    for i in range(seconds):
        t = T0 + 1 + i
        if i == seconds // 3:
            yield ScrapeResult(t, "unreachable", "connection refused")
            continue
        server.step()
        reading = schema.read(parser.parse(server.page()), t)
        yield ScrapeResult(t, "healthy", "ok", 0.004, reading.snapshot, reading.keys, reading.values)
        yield gb10_sample(t + 0.5, 0.5 + 0.4 * math.sin(i / 20))
        if i % 10 == 5:
            yield Event(
                t + 0.6, "workload", f"step {i}", "workload", data={"phase": f"s{i}", "boundary": "start"}
            )
            yield WorkloadProgress(f"s{i}", i, seconds, 4, 0, float(i), t + 0.7)
        if i == seconds // 2:
            yield Event(t + 0.8, "marker", "halfway", "user")


def record(path: Path, seconds: int, **kw: object) -> list[object]:
    """Record ``observations(seconds)`` to ``path``; returns what was recorded."""
    recorder = Recorder(path, target=TARGET, settings={"interval": 1.0, "window": 60.0, "rate_window": 10.0})
    recorded = list(observations(seconds, **kw))  # type: ignore[arg-type]
    for obs in recorded:
        recorder(obs)
    status = recorder.close()
    assert status.ok, status.detail
    return recorded


FLEET_TARGETS = [replace(TARGET, label=f"http://spark-{c}:8000") for c in "abc"]
SETTINGS = {"interval": 1.0, "window": 60.0, "rate_window": 10.0}


def record_fleet(path: Path, seconds: int = 90) -> list[list[object]]:
    """Three servers' observations (different seeds: different figures), interleaved by time as a
    fleet's sessions hand them over."""
    streams = [list(observations(seconds, seed=seed)) for seed in (3, 11, 29)]
    recorder = Recorder(path, target=FLEET_TARGETS[0], targets=FLEET_TARGETS, settings=SETTINGS)
    sinks = [recorder.sink(i) for i in range(3)]
    tagged = [[(time_of(obs), i, n, obs) for n, obs in enumerate(stream)] for i, stream in enumerate(streams)]
    for _, i, _, obs in heapq.merge(*tagged):
        sinks[i](obs)
    status = recorder.close()
    assert status.ok, status.detail
    return streams


def recording_texts(path: Path) -> Iterator[str]:
    """Every text a recording holds, decoded: each meta key and value (the compression dictionaries
    base64-decoded too), each series layout and each observation row decompressed with its kind's
    dictionary (binary parts, the values of a scrape or the gaps of a request, read as UTF-8 with
    replacement). Searching these, unlike the file's raw bytes, sees inside the compressed rows.

    Reads the file as any SQLite client would (not through ``Recording``), so a test of what
    reaches the file does not depend on the reader it checks."""
    db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        zdicts: dict[str, bytes] = {}
        for key, value in db.execute("SELECT key, value FROM meta"):
            yield key
            yield value
            if key.startswith("zdict_"):
                zdicts[key.removeprefix("zdict_")] = base64.b64decode(json.loads(value))
                yield zdicts[key.removeprefix("zdict_")].decode("utf-8", "replace")
        for (keys,) in db.execute("SELECT keys FROM layouts"):
            yield zlib.decompress(keys).decode("utf-8", "replace")
        for kind, data in db.execute("SELECT kind, data FROM observations ORDER BY seq"):
            zdict = zdicts.get(kind)
            unpacker = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
            yield unpacker.decompress(data).decode("utf-8", "replace")
    finally:
        db.close()


def secrets_in_recording(path: Path, *secrets: str) -> list[str]:
    """The decoded texts of the recording (``recording_texts``) that hold any of ``secrets``."""
    assert any(True for _ in recording_texts(path)), f"{path} holds nothing to search"
    return [text for text in recording_texts(path) if any(s in text for s in secrets)]


KILL_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from sparktop.recording.writer import Recorder
    from tests.support.recordings import TARGET, observations
    recorder = Recorder(Path({path!r}), target=TARGET)
    for obs in observations(100000):
        recorder(obs)
        print(obs.t, flush=True)   # the moment it was handed over
        time.sleep(0.02)
    """
)
"""A script that records observations until it is killed, printing each one's time as it hands it
over (format it with the repository's ``root`` and the recording's ``path``)."""
