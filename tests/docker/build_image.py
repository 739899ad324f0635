"""Build (or find) the image the container tests run: the simulated Spark posing as ``vllm serve``.

    python tests/docker/build_image.py          # prints the tag; builds only when it is missing

Nothing comes from an image registry:

1. a Debian root made with ``debootstrap --variant=minbase --include=python3,python3-venv bookworm``
   is imported as ``sparktop-test/debian-base:bookworm`` (once per engine);
2. sparktop is built into a wheel here (``pip wheel --no-deps``) and its dependencies are fetched as
   wheels for the image's Python (3.11) and this machine's architecture;
3. a container of the base image installs them with ``pip install --no-index --find-links`` into
   ``/opt/sparktop`` (no network) and adds the ``vllm`` script, and is committed as
   ``sparktop-test/vllm-sim:<hash of the inputs>`` with the entrypoint ``vllm serve``.

The tag is a hash of everything that goes in (sparktop's files, pyproject.toml, this script, the
``vllm`` script), so a tag that exists is reused and a change to sparktop makes a new one.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REPOSITORY = "sparktop-test/vllm-sim"
BASE = "sparktop-test/debian-base:bookworm"
MIRROR = os.environ.get("SPARKTOP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IMAGE_PYTHON = "3.11"
"""Debian bookworm's python3."""
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
)


class BuildError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""


def _inputs() -> list[Path]:
    files = [ROOT / "pyproject.toml", ROOT / "README.md", HERE / "build_image.py", HERE / "vllm"]
    for path in sorted((ROOT / "sparktop").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            files.append(path)
    return files


def input_hash() -> str:
    digest = hashlib.sha256()
    for path in _inputs():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def image_tag() -> str:
    return f"{REPOSITORY}:{input_hash()}"


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{tail}")


def build_base(client: docker.DockerClient, log: list[str]) -> None:
    """debootstrap a minimal bookworm with python3 and import it as the base image."""
    if _exists(client, BASE):
        return
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed (apt-get install -y debootstrap)")
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root to build the base image")
    with tempfile.TemporaryDirectory(prefix="sparktop-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        started = time.monotonic()
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv",
                "bookworm",
                str(rootfs),
                MIRROR,
            ],
            "debootstrap",
        )
        for part in TRIM:
            shutil.rmtree(rootfs / part, ignore_errors=True)
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], "tar of the root")
        repository, tag = BASE.split(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
        log.append(f"base image {BASE} built in {time.monotonic() - started:.0f} s")
    if not _exists(client, BASE):
        raise BuildError(f"docker import did not produce {BASE}")


def build_wheels(target: Path) -> None:
    """sparktop's wheel, and its dependencies as wheels for the image's Python and architecture."""
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", str(ROOT), "-w", str(target)], "pip wheel")
    wheel = next(target.glob("sparktop-*.whl"))
    machine = platform.machine()
    platforms = [f"manylinux_2_{n}_{machine}" for n in (36, 34, 31, 28, 27, 24, 17)] + [
        f"manylinux2014_{machine}"
    ]
    _run(
        [
            *pip,
            "download",
            str(wheel),
            "-d",
            str(target),
            "--only-binary=:all:",
            "--python-version",
            IMAGE_PYTHON,
            "--implementation",
            "cp",
            *(arg for p in platforms for arg in ("--platform", p)),
        ],
        "pip download of the dependencies",
    )


def build(client: docker.DockerClient | None = None, log: list[str] | None = None) -> str:
    """The test image's tag, building what is missing."""
    client = client or docker.from_env()
    log = log if log is not None else []
    tag = image_tag()
    if _exists(client, tag):
        return tag
    build_base(client, log)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sparktop-image-") as tmp:
        context = Path(tmp)
        build_wheels(context / "wheels")
        shutil.copy2(HERE / "vllm", context / "vllm")
        os.chmod(context, 0o755)  # noqa: PTH101 - the container's user reads it
        script = (
            "set -e; python3 -m venv /opt/sparktop; "
            "/opt/sparktop/bin/pip install -q --no-index --find-links /build/wheels sparktop; "
            "install -m 755 /build/vllm /usr/local/bin/vllm; rm -rf /root/.cache"
        )
        container = client.containers.create(
            BASE,
            ["/bin/sh", "-c", script],
            volumes=[f"{context}:/build:ro"],
            network_mode="none",
        )
        try:
            container.start()
            result = container.wait(timeout=600)
            if result.get("StatusCode") != 0:
                logs = container.logs().decode("utf-8", "replace")[-3000:]
                raise BuildError(f"installing sparktop in the image failed:\n{logs}")
            repository, version = tag.split(":")
            container.commit(
                repository=repository,
                tag=version,
                conf={
                    "Entrypoint": ["vllm", "serve"],
                    "Cmd": [],
                    "Env": [
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "PYTHONUNBUFFERED=1",
                    ],
                    "ExposedPorts": {"8000/tcp": {}},
                    "Labels": {"org.sparktop.test-image": "1"},
                },
            )
        finally:
            container.remove(force=True)
    log.append(f"image {tag} built in {time.monotonic() - started:.0f} s")
    _remove_stale(client, tag)
    return tag


def _remove_stale(client: docker.DockerClient, keep: str) -> None:
    """Older builds of the test image (other input hashes) are removed when unused."""
    for image in client.images.list(name=REPOSITORY):
        if keep in image.tags:
            continue
        for tag in image.tags:
            try:
                client.images.remove(tag)
            except docker.errors.APIError:
                pass  # still used by a container


def main() -> int:
    log: list[str] = []
    try:
        tag = build(log=log)
    except (BuildError, docker.errors.DockerException) as exc:
        print(f"build_image: {exc}", file=sys.stderr)
        return 1
    for line in log:
        print(line, file=sys.stderr)
    print(tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
