"""`codegen eval BUILD_DIR --emulate --data D --ray [ADDRESS]`: the samples spread over emulators running as
Ray actors, on this machine or on a cluster.

Each actor takes one CPU and runs one QEMU on a TCP port of its own node, with the firmware image the driver put
in Ray's object store once: a worker needs QEMU and this Python package, neither the Arm toolchain nor the
build directory. The driver runs tools.evaluate.stream_dataset unchanged over RayLinks, proxies that answer
like DeviceLinks, so samples are handed out, kept in input order, shown and reported exactly as with --jobs N.
When an actor dies (its process or its node is lost), the sample it was running, and every later sample of its
links, runs on a live actor instead; the run fails only when no actor is left. QEMU dies with its actor
(every Emulator's QEMU has the kernel's parent-death signal), and every actor is stopped when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from codegen.errors import CodegenError, DeviceError, ToolchainError
from tools.link.device_link import InferenceStats, LinkCounters, check_model
from tools.link.emulator import Emulator
from tools.link.protocol import DeviceInfo

RAY_VERSION = "2.60.0"  # the `cluster` extra of pyproject.toml
INSTALL_HINT = f"install it with `pip install '.[cluster]'` (ray=={RAY_VERSION}), or run without --ray"
LINKS_PER_ACTOR = 2  # a second request queued on each actor keeps its QEMU busy over Ray's round trip (~1 ms)
CONNECT_TIMEOUT = 5.0  # seconds a cluster address gets to accept a TCP connection
CLOSE_TIMEOUT = 10.0  # seconds the actors get to stop their QEMU before they are killed


def import_ray() -> ModuleType:
    """The ray module, or a ToolchainError that says how to add it."""
    try:
        import ray
    except ImportError:
        raise ToolchainError(f"--ray needs the Ray package, which is not installed: {INSTALL_HINT}") from None
    return ray


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[ModuleType]:
    """Ray, connected to the cluster at `address` (`ray start --head` prints it, e.g. 10.0.0.5:6379) or, without
    one, to a local instance started here (one worker per CPU) and shut down on exit. A connection this process
    already has (ray.init called before) is used as it is and left open."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        _check_reachable(address)
    # Ray's own progress lines and the workers' output would interleave with eval's; its warnings still show.
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if not address:
        options["include_dashboard"] = False
    try:
        ray.init(address=address or "local", **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise CodegenError(f"--ray: cannot connect to {where}: {_first_line(exc)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse a HOST:PORT (or ray://HOST:PORT) nobody listens on: ray.init would retry it for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise CodegenError(f"--ray: nothing answers at {address} ({exc.strerror or exc}): start the cluster with "
                           "`ray start --head` and pass the address it prints") from None


# ---- the actor -------------------------------------------------------------------------------------------------


class EmulatorActor:
    """One QEMU running the firmware image it was handed (bytes, from Ray's object store), behind a DeviceLink.
    Used as a Ray actor: ray.remote(num_cpus=1)(EmulatorActor)."""

    def __init__(self, firmware: bytes, machine: str, timeout: float, invoke_timeout: float | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="codegen-ray-")
        self._emulator: Emulator | None = None
        self._error: CodegenError | None = None
        elf = Path(self._folder.name) / "firmware.elf"
        elf.write_bytes(firmware)
        options: dict[str, float] = {"timeout": timeout}
        if invoke_timeout is not None:
            options["invoke_timeout"] = invoke_timeout
        emulator = Emulator(elf, machine=machine, wall_limit=None, link_options=options)
        try:
            emulator.start()
        except CodegenError as exc:  # kept for hello(): Ray reports a failed __init__ only as a dead actor
            emulator.stop()
            self._error = exc
            return
        self._emulator = emulator

    def _emulator_running(self) -> Emulator:
        if self._error is not None:
            raise self._error
        if self._emulator is None:
            raise DeviceError("the emulator actor was closed")
        return self._emulator

    def hello(self) -> DeviceInfo:
        return self._emulator_running().link.hello()

    def infer(self, inputs: list[np.ndarray]) -> tuple[list[bytes], InferenceStats]:
        return self._emulator_running().link.infer(inputs)

    def reset_state(self) -> None:
        self._emulator_running().link.reset_state()

    def processes(self) -> dict[str, Any]:
        """This actor's process id, its QEMU's, and its Ray node."""
        import ray

        emulator = self._emulator
        qemu = emulator.process.pid if emulator is not None and emulator.process is not None else None
        return {"pid": os.getpid(), "qemu_pid": qemu, "node": ray.get_runtime_context().get_node_id()}

    def close(self) -> None:
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        self._folder.cleanup()


# ---- the driver side -------------------------------------------------------------------------------------------


class ActorPool:
    """The emulator actors of one run. call() runs a method on a given actor, or, once that one has died, on the
    live actor with the fewest requests in flight."""

    def __init__(self, ray: ModuleType, actors: Sequence[Any], notice: Callable[[str], None] | None = None):
        self.ray = ray
        self.actors = list(actors)
        self.dead: set[int] = set()
        self.retried = 0  # requests that ran again on another actor after theirs died
        self._busy = [0] * len(self.actors)
        self._lock = threading.Lock()
        self._closed = False
        self._notice = notice if notice is not None else _to_stderr

    def live(self) -> list[int]:
        with self._lock:
            return [i for i in range(len(self.actors)) if i not in self.dead]

    def _claim(self, preferred: int) -> int:
        with self._lock:
            if self._closed:
                raise DeviceError("the Ray emulator actors were stopped")
            index = preferred
            if index in self.dead:
                live = [i for i in range(len(self.actors)) if i not in self.dead]
                if not live:
                    raise DeviceError(f"all {len(self.actors)} Ray emulator actors died; see the messages above")
                index = min(live, key=lambda i: self._busy[i])
            self._busy[index] += 1
            return index

    def call(self, preferred: int, method: str, *args: Any) -> Any:
        index = self._claim(preferred)
        while True:
            try:
                return self.ray.get(getattr(self.actors[index], method).remote(*args))
            except self.ray.exceptions.RayActorError as exc:
                self._bury(index, exc)
            except self.ray.exceptions.RayTaskError as exc:  # raised by the method itself: a device error
                cause = getattr(exc, "cause", None)
                if isinstance(cause, CodegenError):
                    raise cause from None
                raise DeviceError(f"Ray emulator actor {index}: {_first_line(exc)}") from None
            finally:
                with self._lock:
                    self._busy[index] -= 1
            index = self._claim(index)
            with self._lock:
                self.retried += 1

    def _bury(self, index: int, exc: BaseException) -> None:
        with self._lock:
            if index in self.dead or self._closed:
                return
            self.dead.add(index)
            left = len(self.actors) - len(self.dead)
        self._notice(f"Ray emulator actor {index} died ({_first_line(exc)[:160]}); its samples run on the "
                     f"{left} live one{'s' if left != 1 else ''}")

    def close(self) -> None:
        """Stop every live actor's QEMU, then end the actors."""
        with self._lock:
            self._closed = True
            live = [a for i, a in enumerate(self.actors) if i not in self.dead]
        refs = [actor.close.remote() for actor in live]
        with contextlib.suppress(Exception):
            self.ray.wait(refs, num_returns=len(refs), timeout=CLOSE_TIMEOUT)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)


def _to_stderr(message: str) -> None:
    print(f"codegen: {message}", file=sys.stderr, flush=True)


class RayLink:
    """What tools.evaluate.stream_dataset needs of a DeviceLink, served by an actor of the pool."""

    def __init__(self, pool: ActorPool, home: int):
        self.pool = pool
        self.home = home
        self.counters = LinkCounters()
        self.info: DeviceInfo | None = None

    def expect_model(self, expected_hash: bytes, expected_name: str = "", input_bytes: Sequence[int] | None = None,
                     output_bytes: Sequence[int] | None = None) -> DeviceInfo:
        """As DeviceLink.expect_model: the firmware's model and its tensor sizes are checked."""
        info = self.pool.call(self.home, "hello")
        check_model(info, expected_hash, expected_name, input_bytes, output_bytes)
        self.info = info
        return info

    def infer(self, inputs: Sequence[np.ndarray]) -> tuple[list[bytes], InferenceStats]:
        raw, stats = self.pool.call(self.home, "infer", [np.asarray(x) for x in inputs])
        self.counters.requests += 1
        self.counters.retransmissions += stats.retransmissions
        return raw, stats

    def reset_state(self) -> None:
        self.pool.call(self.home, "reset_state")

    def close(self) -> None:
        """The pool's close() ends the actors."""


def actor_count(ray: ModuleType, requested: int | None, samples: int) -> int:
    """`requested` actors (--jobs), or one per CPU of the cluster; never more than the samples."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise CodegenError("--ray: the Ray cluster has no CPUs yet (start workers with `ray start --address ...`)")
    if requested is not None and requested > cpus:
        raise CodegenError(f"--jobs {requested}: the Ray cluster has {cpus} CPUs, and each emulator actor takes one")
    return max(1, min(requested or cpus, samples))


@contextlib.contextmanager
def ray_links(elf: Path, machine: str, board: str, address: str | None, actors: int | None, samples: int,
              timeout: float, notice: Callable[[str], None] | None = None, invoke_timeout: float | None = None
              ) -> Iterator[tuple[list[RayLink], str, ActorPool]]:
    """RayLinks to `actors` emulator actors (None: one per CPU) running `elf` on QEMU `machine`, a description
    of them, and their pool (for tests: the actors' processes). Every actor is stopped on exit. `invoke_timeout`:
    how long an INVOKE waits for its RESULT (tools.evaluate.invoke_wait: the model's expected time; None: the
    link's default)."""
    with ray_session(address) as ray:
        count = actor_count(ray, actors, samples)
        firmware = ray.put(elf.read_bytes())
        remote = ray.remote(num_cpus=1, max_restarts=0)(EmulatorActor)
        pool = ActorPool(ray, [remote.remote(firmware, machine, timeout, invoke_timeout) for _ in range(count)], notice)
        try:
            links = [RayLink(pool, k % count) for k in range(count * LINKS_PER_ACTOR)]
            where = f"cluster at {address}" if address else "local instance"
            noun = "actor" if count == 1 else "actors"
            yield links, f"Ray {where}: {count} {noun}, each QEMU {machine} (emulated {board})", pool
        finally:
            pool.close()
