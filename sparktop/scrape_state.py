"""Whether the last scrape read the server's figures: a fact apart from the server's health.

A server can answer ``/health`` with 200 while its ``/metrics`` answers 500, stalls or holds no
``vllm:`` series: it is healthy, yet nothing it shows is current. ``ServerStatus.state`` is the
health; ``scrape_state`` names what became of the ``/metrics`` read, in one word (no spaces: it is a
``key=value`` field of the plain lines):

- ``ok``: figures read;
- ``http-500`` (any status): ``/metrics`` answered with an error;
- ``timeout``: no answer in time (or the server accepts connections but HTTP does not answer);
- ``truncated``, ``reset``, ``too-large``: the answer was cut short, dropped, or too big to read;
- ``no-samples``: vLLM's page, with nothing counted yet;
- ``no-vllm-series``: a page with no ``vllm:`` series (stats disabled, or not vLLM's page at all);
- ``no-connection``: nothing to read from (the server is unreachable);
- ``none``: no scrape yet; ``failed``: any other failure (the detail says which).
"""

from __future__ import annotations

import re

from sparktop.model import ServerStatus

_HTTP = re.compile(r"/metrics: HTTP (\d{3})\b")


def scrape_state(server: ServerStatus) -> str:
    """The last scrape's outcome in one word (see the module docstring)."""
    if server.state == "metrics-disabled":  # a page was read (an empty one), or a 404
        m = _HTTP.search(server.detail)
        return f"http-{m.group(1)}" if m else "no-vllm-series"
    if server.scrape_ok:
        return "ok"
    if server.state == "unknown":
        return "none"
    if server.state == "unreachable" and "cut short" not in server.detail:
        return "no-connection"
    detail = server.detail
    if m := _HTTP.search(detail):
        return f"http-{m.group(1)}"
    if "no answer within" in detail or "does not answer" in detail or "timed out" in detail:
        return "timeout"
    if "holds no samples" in detail:
        return "no-samples"
    if "no vllm: series" in detail:
        return "no-vllm-series"
    if "cut short" in detail:
        return "truncated"
    if "larger than" in detail:
        return "too-large"
    if "reset" in detail or "closed" in detail:
        return "reset"
    return "failed"


def figures_unread(server: ServerStatus) -> bool:
    """The server answers (its health is known) but its figures could not be read: what is shown
    of them is stale or missing."""
    return not server.scrape_ok and server.state not in ("unknown", "unreachable", "starting")
