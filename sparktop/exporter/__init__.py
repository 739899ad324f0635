"""`sparktop exporter`: what Prometheus cannot get from vLLM itself, served on ``/metrics``.

``exposition`` writes Prometheus' text format (escaping, numbers), ``page`` turns frozen readings
(``GpuSample``, ``HostMemory``, ``ContainerStats``, ``StartupProgress``) into metric families (pure),
``container`` follows a container's log and stats, ``collect`` gathers the readings on demand behind
a short cache, and ``server`` serves the page over HTTP (aiohttp).
"""
