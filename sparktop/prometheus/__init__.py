"""Prometheus as a source: vLLM's series read back through a Prometheus server's HTTP API.

``api`` is the HTTP client (errors as one-line causes with a hint), ``targets`` finds the vLLM
targets Prometheus scrapes, ``pages`` rebuilds the page a target served from what Prometheus stored,
``source`` is a live scraper of one target (duck-typed like ``sparktop.vllm.scrape.Scraper``) and
``history`` turns a past range into the scrape results a replay is fed.
"""
