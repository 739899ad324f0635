"""The per-target session layer: what turns a target into frames.

- ``core``: ``Session``, raw observations in, frames out (recording and replay feed the same one);
- ``sources``: the loops that observe a target (scrapes, GPU readings, logs, a container);
- ``live``: wiring a target's sources into a session and a feed (``watch``, ``demo``, benchmarks);
- ``feeds``: where views get their frames (a live session, fixed frames, a recording).
"""
