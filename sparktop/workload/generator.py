"""The load generator: runs a workload's stages against an OpenAI-compatible server.

``WorkloadRunner`` is the one entry point (the ``load`` verb, the dashboard and the recorder use
it). It asks ``/v1/models`` for the model when none is given, then runs each stage:

- closed loop: ``users`` requests sent together, the next round when all have finished (lockstep,
  as llama-benchy); multi-turn conversations resend their growing history each turn;
- open loop: requests sent at the arrival process's times, at most ``max_concurrency`` in flight
  (a request waiting for a slot keeps its scheduled time apart from its start, as
  ``vllm bench serve`` keeps its client queue time).

Every request becomes a ``RequestRecord`` (``on_record``), successful or not; phase boundaries
(warm-up, each step, each open-loop stage) and warnings become ``Event``s (``on_event``). Times
come from ``time.perf_counter()`` mapped onto the injected clock, so records line up with
everything else the session observes. Nothing a server does ends the run: connection refused,
resets, HTTP errors and timeouts end single requests, with their reasons; so does a server that
streams past a request's ``max_tokens`` or never finishes its response (the request's deadline).
``cancel()`` stops it; the requests still in flight are recorded as failed (``cancelled``), not
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sparktop.clock import Clock
from sparktop.fmt import clean
from sparktop.model import Event, Level, RequestRecord, WorkloadProgress
from sparktop.workload import arrivals
from sparktop.workload.client import Exchange, OpenAIClient, Timeouts, chunk_cap, request_deadline
from sparktop.workload.prompts import ChatPrompts, token_ids
from sparktop.workload.spec import ClosedLoop, Endpoint, OpenLoop, Stage, Workload
from sparktop.workload.summary import Summary, itl_summary, summarize

RecordSink = Callable[[RequestRecord], None]
EventSink = Callable[[Event], None]

COMPLETIONS_PATH = "/v1/completions"
CHAT_PATH = "/v1/chat/completions"
CANCELLED = "cancelled (the run was stopped)"
PREPARE_CONCURRENCY = 32


@dataclass(slots=True)
class _Prompt:
    """One request's prompt, ready to send."""

    payload: dict[str, Any]
    prompt_tokens: int
    output_tokens: int
    messages: list[dict[str, str]] | None = None
    ids: list[int] | None = None
    exact: bool = True
    """``prompt_tokens`` is exact (token ids, or text counted by the server's ``/tokenize``), not
    an estimate: a server that counts otherwise contradicts itself."""


@dataclass(slots=True)
class _Conversation:
    """A closed-loop user's growing context."""

    ids: list[int]
    messages: list[dict[str, str]]
    tokens: int = 0


class WorkloadRunner:
    """Runs ``workload`` against the server at ``url`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        workload: Workload,
        *,
        clock: Clock,
        endpoint: Endpoint = "completions",
        api_key: str | None = None,
        model: str | None = None,
        on_record: RecordSink | None = None,
        on_event: EventSink | None = None,
        timeouts: Timeouts | None = None,
        seed: int | None = None,
        keep_records: bool = True,
    ) -> None:
        self.url = url
        self.workload = workload
        self.clock = clock
        self.endpoint: Endpoint = endpoint
        self.model = model
        self.seed = workload.seed if seed is None else seed
        self._client = OpenAIClient(url, api_key=api_key, timeouts=timeouts)
        self._on_record = on_record
        self._on_event = on_event
        self.records: list[RequestRecord] = []
        self.keep_records = keep_records
        """Keep every record for ``summary()``; a looping demo passes False so memory stays flat."""
        self.events: list[Event] = []
        self._next_id = 0
        self._offset = 0.0
        self._started: float | None = None
        self._finished: float | None = None
        self._phase = "starting"
        self._done: dict[str, int] = {}
        """Measured requests finished, per phase."""
        self._stage_total: int | None = None
        self._stage_phase = ""
        self._in_flight = 0
        self._live: dict[int, Exchange] = {}
        """Requests in flight, by id, as their responses come in."""
        self._failed = 0
        self._stop = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._main: asyncio.Task[Any] | None = None
        self._force_output = True
        self._chat: ChatPrompts | None = None

    # public -------------------------------------------------------------------------------------

    def _unanswered_since(self) -> float | None:
        """When the oldest request in flight without a first token was sent (None: none is)."""
        waiting = [ex.start for ex in self._live.values() if ex.first_token is None]
        return self._offset + min(waiting) if waiting else None

    def progress(self) -> WorkloadProgress:
        now = time.perf_counter()
        elapsed = 0.0 if self._started is None else (self._finished or now) - self._started
        return WorkloadProgress(
            t=self._now() if self._started is not None else self.clock.now(),
            phase=self._phase,
            done=self._done.get(self._stage_phase, 0),
            total=self._stage_total,
            in_flight=self._in_flight,
            unanswered_since=self._unanswered_since(),
            failed=self._failed,
            elapsed_s=elapsed,
        )

    def cancel(self) -> None:
        """Stop: no new requests; those in flight end as failed (``cancelled``)."""
        self._stop = True
        for task in list(self._tasks):
            task.cancel()
        if self._main is not None and not self._main.done():
            self._main.cancel()

    @property
    def clock_offset(self) -> float:
        """Add to a ``time.perf_counter()`` reading to get the records' clock time."""
        return self._offset

    @property
    def cancelled(self) -> bool:
        return self._stop

    def _stopped(self) -> bool:
        return self._stop

    async def run(self) -> Summary:
        """Run every stage (again and again for a repeating workload, until cancelled)."""
        self._started = time.perf_counter()
        self._offset = self.clock.now() - time.perf_counter()
        try:
            self._main = asyncio.current_task()
            try:
                await self._discover_model()
                if self.endpoint == "chat":
                    await self._prepare_chat()
                passes = 0
                while not self._stopped():
                    for index, stage in enumerate(self.workload.stages):
                        if self._stopped():
                            break
                        await self._run_stage(index + passes * len(self.workload.stages), stage)
                    passes += 1
                    if not self.workload.repeat:
                        break
                # requests of stages that did not wait for them
                await self._gather(list(self._tasks))
            except asyncio.CancelledError:
                if not self._stopped():
                    raise
                # cancel() interrupts whatever the runner was waiting on; the requests in flight
                # record themselves as cancelled before the run returns
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._main = None
            self._finished = time.perf_counter()
            self._phase = "cancelled" if self._stopped() else "done"
            await self._client.close()
        return summarize(self.records)

    # set-up -------------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._offset + time.perf_counter()

    def _event(self, text: str, *, level: Level = "info", **data: str | float | int | bool | None) -> None:
        event = Event(t=self._now(), kind="workload", text=text, level=level, data=data)
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

    def _boundary(self, phase: str, boundary: str, **data: str | float | int | bool | None) -> None:
        event = Event(
            t=self._now(),
            kind="workload",
            text=f"{phase}: {boundary}",
            data={"phase": phase, "boundary": boundary, **data},
        )
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

    async def _discover_model(self) -> None:
        if self.model is not None:
            return
        ex, data = await self._client.get_json("/v1/models")
        models = data.get("data") if isinstance(data, dict) else None
        if isinstance(models, list) and models and isinstance(models[0], dict):
            name = models[0].get("id")
            if isinstance(name, str) and name:
                self.model = name[:200]
                return
        reason = ex.error or (f"HTTP {ex.status}" if ex.status != 200 else "no model listed")
        self._event(
            f"could not read the model name from /v1/models ({clean(reason)}); requests name no model",
            level="warning",
        )

    async def _prepare_chat(self) -> None:
        self._chat = ChatPrompts(self._client, self.model)
        cal = await self._chat.calibrate()
        if not cal.exact:
            self._event(
                "the server has no usable /tokenize: chat prompt lengths are estimates", level="warning"
            )

    # prompts ------------------------------------------------------------------------------------

    def _payload(
        self, prompt: list[int] | list[dict[str, str]], output_tokens: int, force: bool
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": output_tokens,
        }
        if self.model is not None:
            payload["model"] = self.model
        if self.endpoint == "chat":
            payload["messages"] = prompt
        else:
            payload["prompt"] = prompt
        if force and self._force_output:
            payload["min_tokens"] = output_tokens
            payload["ignore_eos"] = True
        return payload

    def _counted(self) -> bool:
        """Chat prompts are counted by the server's ``/tokenize`` (else estimated)."""
        return self._chat is not None and self._chat.calibration is not None and self._chat.calibration.exact

    async def _single_prompt(self, tokens: int, output: int, rng: random.Random, force: bool) -> _Prompt:
        if self.endpoint == "chat":
            assert self._chat is not None
            messages, count = await self._chat.fit([], tokens, rng)
            payload = self._payload(messages, output, force)
            return _Prompt(payload, count, output, messages=messages, exact=self._counted())
        ids = token_ids(tokens, rng)
        return _Prompt(self._payload(ids, output, force), tokens, output, ids=ids)

    async def _turn_prompt(self, conv: _Conversation, stage: ClosedLoop, rng: random.Random) -> _Prompt:
        """The next turn of ``conv``: its history plus ``input_len`` new tokens."""
        total = conv.tokens + stage.input_len
        if self.endpoint == "chat":
            assert self._chat is not None
            messages, count = await self._chat.fit(conv.messages, total, rng)
            return _Prompt(
                self._payload(messages, stage.output_len, stage.force_output),
                count,
                stage.output_len,
                messages=messages,
                exact=self._counted(),
            )
        ids = conv.ids + token_ids(stage.input_len, rng)
        return _Prompt(
            self._payload(ids, stage.output_len, stage.force_output), total, stage.output_len, ids=ids
        )

    def _grow(self, conv: _Conversation, prompt: _Prompt, record: RequestRecord, rng: random.Random) -> None:
        """Add a finished turn (its prompt and a reply of the tokens it got) to the history."""
        trusted = record.ok and record.usage_problem is None
        reply = record.output_tokens if trusted and record.output_tokens > 0 else prompt.output_tokens
        sent = prompt.prompt_tokens
        if trusted and not prompt.exact and record.prompt_tokens > 0:
            sent = record.prompt_tokens  # the server's count beats an estimate
        conv.tokens = sent + reply
        if prompt.ids is not None:
            conv.ids = prompt.ids + token_ids(reply, rng)
        if prompt.messages is not None:
            assert self._chat is not None
            conv.messages = [
                *prompt.messages,
                {"role": "assistant", "content": self._chat.filler(reply, rng)},
            ]

    # requests -----------------------------------------------------------------------------------

    async def _send(
        self,
        prompt: _Prompt,
        *,
        phase: str,
        warmup: bool = False,
        scheduled: float | None = None,
        user: int = 0,
        turn: int = 0,
        batch: int = 0,
        semaphore: asyncio.Semaphore | None = None,
    ) -> RequestRecord | None:
        """Send one request and record it; None when the run was stopped before it was sent (an
        open-loop request still waiting for a concurrency slot never reached the server)."""
        rid = self._next_id
        self._next_id += 1
        path = CHAT_PATH if self.endpoint == "chat" else COMPLETIONS_PATH
        payload = prompt.payload
        if not self._force_output and "ignore_eos" in payload:
            payload = {k: v for k, v in payload.items() if k not in ("ignore_eos", "min_tokens")}
        start = time.perf_counter()
        sent = False
        try:
            async with semaphore if semaphore is not None else contextlib.nullcontext():
                start = time.perf_counter()  # a request waiting for a slot is not yet started
                sent = True
                self._in_flight += 1
                live = Exchange(start=start)
                self._live[rid] = live  # watched by progress(): has it a first token yet?
                try:
                    ex = await self._client.post_stream(
                        path,
                        payload,
                        exchange=live,
                        deadline=request_deadline(self._client.timeouts, prompt.output_tokens),
                        max_chunks=chunk_cap(prompt.output_tokens),
                    )
                finally:
                    self._in_flight -= 1
                    self._live.pop(rid, None)
        except asyncio.CancelledError:
            if not sent:
                if not self._stopped():
                    raise
                return None
            ex = Exchange(start=start, error=CANCELLED, end=time.perf_counter())
            record = self._record(rid, ex, prompt, phase, warmup, scheduled, user, turn, batch)
            self._keep(record)
            if not self._stopped():
                raise
            return record
        record = self._record(rid, ex, prompt, phase, warmup, scheduled, user, turn, batch)
        self._keep(record)
        return record

    def _record(
        self,
        rid: int,
        ex: Exchange,
        prompt: _Prompt,
        phase: str,
        warmup: bool,
        scheduled: float | None,
        user: int,
        turn: int,
        batch: int,
    ) -> RequestRecord:
        off = self._offset
        error = ex.error
        if error is None and ex.status == 200 and ex.first_token is None:
            error = "the server did not stream a response"
        ok = error is None and ex.status == 200 and ex.first_token is not None
        end = ex.last_token if ok else ex.end
        gaps = tuple(ex.gaps)
        usage_problem = ex.usage_problem
        asked = prompt.output_tokens
        if usage_problem is None and prompt.exact and ex.prompt_tokens not in (None, prompt.prompt_tokens):
            usage_problem = f"prompt_tokens {ex.prompt_tokens} for a prompt of {prompt.prompt_tokens} tokens"
        if usage_problem is None and ex.completion_tokens is not None and ex.completion_tokens > asked:
            usage_problem = f"completion_tokens {ex.completion_tokens}, more than the {asked} asked for"
        return RequestRecord(
            id=rid,
            phase=phase,
            start=off + ex.start,
            first_token=None if ex.first_token is None else off + ex.first_token,
            end=None if end is None else off + end,
            prompt_tokens=ex.prompt_tokens if ex.prompt_tokens is not None else prompt.prompt_tokens,
            output_tokens=ex.completion_tokens if ex.completion_tokens is not None else ex.chunks,
            itl=itl_summary(gaps),
            ok=ok,
            status=ex.status,
            error=error,
            finish_reason=ex.finish_reason,
            gaps=gaps,
            sent=None if ex.sent is None else off + ex.sent,
            first_response=None if ex.first_response is None else off + ex.first_response,
            scheduled=scheduled,
            user=user,
            turn=turn,
            batch=batch,
            warmup=warmup,
            response_id=ex.response_id,
            usage_problem=usage_problem,
        )

    def _keep(self, record: RequestRecord) -> None:
        if self.keep_records:
            self.records.append(record)
        if not record.warmup:
            self._done[record.phase] = self._done.get(record.phase, 0) + 1
        if not record.ok:
            self._failed += 1
            if (
                self._force_output
                and record.status == 400
                and record.error is not None
                and ("ignore_eos" in record.error or "min_tokens" in record.error)
            ):
                self._force_output = False
                self._event(
                    "the server refuses min_tokens/ignore_eos: output lengths are no longer forced",
                    level="warning",
                )
        if self._on_record is not None:
            self._on_record(record)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _gather(self, tasks: Sequence[asyncio.Task[Any]]) -> list[Any]:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r
        return [r for r in results if not isinstance(r, BaseException)]

    # stages -------------------------------------------------------------------------------------

    async def _run_stage(self, index: int, stage: Stage) -> None:
        self._stage_total = stage.requests
        self._stage_phase = stage.name
        if isinstance(stage, ClosedLoop):
            await self._closed(index, stage)
        else:
            await self._open(index, stage)

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    async def _closed(self, index: int, stage: ClosedLoop) -> None:
        if stage.warmup:
            phase = f"warm-up: {stage.name}"
            self._phase = self._stage_phase = phase
            self._stage_total = stage.users  # one unmeasured round
            self._boundary(phase, "start", warmup=True, users=stage.users)
            prompts = await self._prepare(
                [
                    (stage.input_len, stage.output_len, self._rng(index, "warmup", u))
                    for u in range(stage.users)
                ],
                stage.force_output,
            )
            await self._gather(
                [self._spawn(self._send(p, phase=phase, warmup=True, user=u)) for u, p in enumerate(prompts)]
            )
            self._boundary(phase, "end", warmup=True)
            if self._stopped():
                return
        phase = stage.name
        self._phase = self._stage_phase = phase
        self._stage_total = stage.requests
        self._boundary(phase, "start", users=stage.users, requests=stage.requests)
        batch = 0
        for run in range(stage.runs):
            convs = [_Conversation(ids=[], messages=[]) for _ in range(stage.users)]
            for turn in range(stage.depth + 1):
                if self._stopped():
                    break
                rngs = [self._rng(index, run, turn, u) for u in range(stage.users)]
                prompts = []
                for u in range(stage.users):
                    prompts.append(await self._turn_prompt(convs[u], stage, rngs[u]))
                tasks = [
                    self._spawn(self._send(p, phase=phase, user=u, turn=turn, batch=batch))
                    for u, p in enumerate(prompts)
                ]
                records = [r for r in await self._gather(tasks) if r is not None]
                batch += 1
                if turn < stage.depth:
                    by_user = {r.user: r for r in records}
                    for u in range(stage.users):
                        if u in by_user:
                            self._grow(convs[u], prompts[u], by_user[u], rngs[u])
        self._boundary(phase, "end")

    async def _prepare(self, wanted: Sequence[tuple[int, int, random.Random]], force: bool) -> list[_Prompt]:
        """Prompts for (tokens, output, rng) requests (chat ones fitted a few at a time)."""
        if self.endpoint != "chat":
            return [await self._single_prompt(n, out, rng, force) for n, out, rng in wanted]
        sem = asyncio.Semaphore(PREPARE_CONCURRENCY)

        async def one(n: int, out: int, rng: random.Random) -> _Prompt:
            async with sem:
                return await self._single_prompt(n, out, rng, force)

        return list(await asyncio.gather(*(one(n, out, rng) for n, out, rng in wanted)))

    def _lengths(self, stage: OpenLoop, rng: random.Random) -> tuple[int, int]:
        if stage.lengths == "conversation":
            prompt, output = arrivals.conversation_lengths(rng)
            scale = stage.length_scale
            return max(1, round(prompt * scale)), max(1, round(output * scale))
        return (
            arrivals.random_length(stage.input_len, stage.range_ratio, rng),
            arrivals.random_length(stage.output_len, stage.range_ratio, rng),
        )

    async def _open(self, index: int, stage: OpenLoop) -> None:
        phase = stage.name
        arrival_rng = self._rng(index, "arrivals")
        length_rng = self._rng(index, "lengths")
        sem = asyncio.Semaphore(stage.max_concurrency) if stage.max_concurrency else None
        if stage.num_prompts is not None:
            offsets: list[float] | None = arrivals.arrival_offsets(
                stage.num_prompts, stage.rate, stage.burstiness, arrival_rng
            )
            self._phase = f"{phase} (preparing)"
            wanted = [
                (*self._lengths(stage, length_rng), self._rng(index, "prompt", i))
                for i in range(stage.num_prompts)
            ]
            prompts: list[_Prompt] | None = await self._prepare(wanted, stage.force_output)
        else:
            offsets = None
            prompts = None
        self._phase = phase
        self._boundary(
            phase,
            "start",
            rate=stage.rate if not math.isinf(stage.rate) else "inf",
            burstiness=stage.burstiness,
            max_concurrency=stage.max_concurrency,
        )
        tasks: list[asyncio.Task[Any]] = []
        t0 = self.clock.now()
        stream = (
            arrivals.arrival_stream(stage.rate, stage.burstiness, arrival_rng) if offsets is None else None
        )
        i = 0
        while not self._stopped():
            if offsets is not None:
                if i >= len(offsets):
                    break
                offset = offsets[i]
            else:
                assert stream is not None and stage.duration_s is not None
                offset = next(stream)
                if offset > stage.duration_s:
                    break
            delay = t0 + offset - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            if self._stopped():
                break
            scheduled = t0 + offset
            if prompts is not None:
                prompt = prompts[i]
            else:
                n, out = self._lengths(stage, length_rng)
                prompt = await self._single_prompt(n, out, self._rng(index, "prompt", i), stage.force_output)
            tasks.append(self._spawn(self._send(prompt, phase=phase, scheduled=scheduled, semaphore=sem)))
            i += 1
        if stage.duration_s is not None:
            self._stage_total = i
        if stage.drain:
            await self._gather(tasks)
        self._boundary(phase, "end", sent=i, drained=stage.drain)
