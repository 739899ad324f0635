"""The simulated Spark as a plain vLLM server: a reverse proxy that forwards every request to it
except its own ``/sim/*`` API, which answers 404 as vLLM does, and without the simulator's name for
itself in ``/version``.

``bench_dashboard.py --as-vllm`` watches the simulator through it, so the dashboard's cost is that
of watching a vLLM server (its scrapes), without the simulator's modelled GPU and log, which a
watch of the simulator by URL also reads.

Run: python benchmarks/vllm_front.py LISTEN_PORT UPSTREAM_URL
"""

from __future__ import annotations

import json
import sys

from aiohttp import ClientSession, web

from sparktop.model import SIMULATED_KEY


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def startup(app: web.Application) -> None:
        app["client"] = ClientSession()

    async def cleanup(app: web.Application) -> None:
        await app["client"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            raise web.HTTPNotFound()
        client: ClientSession = app["client"]
        async with client.request(
            request.method, upstream + request.path_qs, data=await request.read(), headers=request.headers
        ) as answer:
            body = await answer.read()
            if request.path == "/version" and answer.status == 200:
                # the simulator names itself in /version (`sparktop_simulated`); vLLM does not
                data = json.loads(body)
                data.pop(SIMULATED_KEY, None)
                body = json.dumps(data).encode()
            headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
            return web.Response(status=answer.status, body=body, headers=headers)

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    web.run_app(make_app(upstream), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
