"""One real vLLM for every module in this folder (its start takes 30-45 s of the CI's two cores).

The modules here only need a running, warmed-up server and read what they need relative to the
counters they find (never assuming a fresh server); tests that restart, constrain or kill a server
start their own (``start_real_vllm``, outside this folder). The server stops when the folder's last
test is done, so it holds no memory or CPU while the rest of the suite runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import shared_server
from tests.realvllm.server import Install, RealVllm


@pytest.fixture(scope="package")
def real_vllm(real_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealVllm]:
    yield from shared_server(real_install, tmp_path_factory)
