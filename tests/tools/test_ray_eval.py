"""`codegen eval --ray` on a real local Ray instance (2 CPUs): the same results as --jobs 2 bit for bit, every
sample exactly once when an actor is killed mid-run, no QEMU left behind, and one-line refusals."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from tests.tools.test_eval import needs_toolchain
from tools import cli
from tools.build import build
from tools.datasets import load_dataset
from tools.evaluate import Progress, emulated_firmware, open_build, stream_dataset

ray = pytest.importorskip("ray", reason="Ray is the `cluster` extra that scripts/setup.sh installs")

from tools.ray_eval import ray_links  # noqa: E402 -- after the skip: it needs nothing of Ray to import, tests do

REPO = Path(__file__).resolve().parents[2]
MODEL = "tflm_micro_speech_quantized"  # int8 in and out, 1.8M instructions per inference: quick to build and run
SAMPLES = 40


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def speech_build(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "tests").is_dir():
        pytest.skip("not in the repository")
    out = tmp_path_factory.mktemp("ray") / MODEL
    build(shared_models / f"{MODEL}.tflite", load_board("nucleo-f746"), out, measure_run=False)
    return out


@pytest.fixture(scope="module")
def speech_data(speech_build: Path) -> Path:
    build_info = open_build(speech_build)
    shape = build_info.graph.tensor(build_info.graph.inputs[0]).shape
    data = np.random.default_rng(17).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)
    path = speech_build.parent / "data.npz"
    np.savez(path, x=data, y=np.arange(SAMPLES) % 4)
    return path


def qemu_processes_of_actors() -> list[int]:
    """QEMUs started by emulator actors (their firmware sits in a codegen-ray-* temporary folder)."""
    found = subprocess.run(["pgrep", "-f", "qemu-system-arm.*codegen-ray-"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def gone(pid: int, seconds: float = 10.0) -> bool:
    """The process has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.emulator
@needs_toolchain
def test_eval_over_ray_equals_jobs_2_bit_for_bit(local_ray: None, speech_build: Path, speech_data: Path,
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = {}
    for how, extra in (("jobs", ["--jobs", "2"]), ("ray", ["--ray", "--jobs", "2"])):
        code = cli.main(["eval", str(speech_build), "--emulate", "--data", str(speech_data), *extra,
                         "--save-outputs", str(tmp_path / f"{how}.npy"), "--report", str(tmp_path / f"{how}.json")])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        report = json.loads((tmp_path / f"{how}.json").read_text())
        results[how] = (tmp_path / f"{how}.npy").read_bytes(), report, captured
    jobs_out, jobs_report, _ = results["jobs"]
    ray_out, ray_report, ray_captured = results["ray"]
    assert ray_out == jobs_out  # the saved outputs, byte for byte, in input order
    assert "Ray local instance: 2 actors" in ray_report["target"]
    for key in ("wall_seconds", "target", "retransmissions"):
        del jobs_report[key], ray_report[key]
    assert ray_report == jobs_report  # accuracy, agreement, every latency figure, stack
    assert ray_report["agreement"]["bit_exact"] == SAMPLES
    assert f"eval: {SAMPLES}/{SAMPLES} samples" in ray_captured.err  # the same progress lines
    assert f"{SAMPLES}/{SAMPLES} bit-exact with the host reference" in ray_captured.out
    assert qemu_processes_of_actors() == []


class CountingLink:
    """A RayLink that counts which samples came back (by their bytes)."""

    def __init__(self, link: object, index_of: dict[bytes, int], returned: Counter[int]):
        self.link = link
        self.index_of = index_of
        self.returned = returned
        self.counters = link.counters  # type: ignore[attr-defined]

    def expect_model(self, *args: object) -> object:
        return self.link.expect_model(*args)  # type: ignore[attr-defined]

    def infer(self, inputs: list[np.ndarray]) -> object:
        result = self.link.infer(inputs)  # type: ignore[attr-defined]
        self.returned[self.index_of[inputs[0].tobytes()]] += 1
        return result


class KillAt(Progress):
    """Progress that SIGKILLs an actor's worker process when `at` samples are done."""

    def __init__(self, total: int, at: int, pid: int):
        super().__init__(total, stream=open(os.devnull, "w"))  # noqa: SIM115 -- closed by the test
        self.at, self.pid, self.killed_at = at, pid, None

    def update(self, done: int) -> None:
        super().update(done)
        if done >= self.at and self.killed_at is None:
            os.kill(self.pid, signal.SIGKILL)
            self.killed_at = done


@pytest.mark.emulator
@needs_toolchain
def test_killed_actor_has_its_samples_run_elsewhere_once(local_ray: None, speech_build: Path,
                                                         speech_data: Path) -> None:
    build_info = open_build(speech_build)
    data = load_dataset(speech_data, build_info.graph, None)
    elf, machine = emulated_firmware(build_info.path, build_info.report)
    index_of = {data.sample(i)[0].tobytes(): i for i in range(SAMPLES)}
    assert len(index_of) == SAMPLES
    returned: Counter[int] = Counter()
    notices: list[str] = []
    with ray_links(elf, machine, build_info.board, None, 2, SAMPLES, 2.0, notices.append) as (links, _, pool):
        procs = [ray.get(actor.processes.remote()) for actor in pool.actors]
        victim = procs[0]
        assert victim["qemu_pid"] in qemu_processes_of_actors()
        progress = KillAt(SAMPLES, SAMPLES // 4, victim["pid"])
        counting = [CountingLink(link, index_of, returned) for link in links]
        run = stream_dataset(counting, data, build_info, progress)  # type: ignore[arg-type]
        progress.stream.close()
        assert progress.killed_at is not None and progress.killed_at < SAMPLES
        assert gone(victim["pid"]) and gone(victim["qemu_pid"])  # QEMU died with its actor
        assert pool.dead == {0} and pool.retried >= 1  # what actor 0 held ran again on actor 1
        assert len(notices) == 1 and "actor 0 died" in notices[0], notices
    assert returned == Counter(range(SAMPLES))  # every sample came back exactly once
    for i in range(SAMPLES):
        want = run_reference(build_info.graph, data.sample(i), build_info.calls)
        np.testing.assert_array_equal(run.outputs[0][i], want[0], err_msg=f"sample {i}")
    assert gone(procs[1]["qemu_pid"])  # the run's end stopped the live actor's QEMU too
    assert qemu_processes_of_actors() == []


@pytest.mark.emulator
@needs_toolchain
def test_ray_refusals_are_one_line(local_ray: None, speech_build: Path, speech_data: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    def refused(*args: str) -> str:
        code = cli.main(["eval", str(speech_build), "--data", str(speech_data), "--limit", "4", *args])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1, err
        return err

    assert "the Ray cluster has 2 CPUs" in refused("--emulate", "--ray", "--jobs", "3")
    assert "--ray works with --emulate only" in refused("--port", "socket://127.0.0.1:1", "--ray")


@needs_toolchain
def test_without_ray_the_option_says_how_to_add_it(speech_build: Path, speech_data: Path, tmp_path: Path) -> None:
    """A real process in which `import ray` fails, as where the cluster extra is not installed."""
    fake = tmp_path / "no_ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(REPO)])}
    run = subprocess.run([sys.executable, "-m", "tools.cli", "eval", str(speech_build), "--emulate", "--ray",
                          "--data", str(speech_data), "--limit", "2"], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
    assert run.returncode == 4, run.stderr
    assert run.stderr.strip().splitlines() == [
        "codegen: --ray needs the Ray package, which is not installed: install it with `pip install "
        "'.[cluster]'` (ray==2.60.0), or run without --ray"]
    assert run.stdout == ""


@needs_toolchain
def test_unreachable_cluster_is_one_line(speech_build: Path, speech_data: Path) -> None:
    """ray.init would retry an address nobody listens on for minutes; eval refuses it at once."""
    run = subprocess.run([sys.executable, "-m", "tools.cli", "eval", str(speech_build), "--emulate", "--data",
                          str(speech_data), "--limit", "2", "--ray", "127.0.0.1:1"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        "codegen: --ray: nothing answers at 127.0.0.1:1 (Connection refused): start the cluster with "
        "`ray start --head` and pass the address it prints"]


def test_actor_link_waits_as_long_as_the_model_needs(speech_build: Path) -> None:
    """An actor's INVOKE waits the model-dependent time eval computes (tools.evaluate.invoke_wait), not the
    link's 60 s default: a long model would otherwise be cut off, a short one wait needlessly on a dead QEMU."""
    from tools.ray_eval import EmulatorActor

    elf, machine = emulated_firmware(speech_build, open_build(speech_build).report)
    actor = EmulatorActor(elf.read_bytes(), machine, 2.0, invoke_timeout=7.25)
    try:
        link = actor._emulator_running().link
        assert (link.timeout, link.invoke_timeout) == (2.0, 7.25)
        assert actor.hello().model_name
    finally:
        actor.close()
    default = EmulatorActor(elf.read_bytes(), machine, 2.0)
    try:
        assert default._emulator_running().link.invoke_timeout == 60.0
    finally:
        default.close()


@pytest.mark.emulator
@needs_toolchain
def test_compare_over_ray_runs_both_builds_on_actors(local_ray: None, speech_build: Path, speech_data: Path,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --compare with --ray: each build's samples go to the Ray actors; a build against its own copy agrees fully
    other = tmp_path / "copy"
    shutil.copytree(speech_build, other)
    report = tmp_path / "compare.json"
    code = cli.main(["eval", str(speech_build), "--emulate", "--ray", "--jobs", "2", "--data", str(speech_data),
                     "--limit", "8", "--compare", str(other), "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    info = json.loads(report.read_text())
    for r in (info, info["compare"]["other"]):
        assert "Ray local instance: 2 actors" in r["target"] and r["agreement"]["bit_exact"] == 8
    assert info["compare"]["top1_agreement"]["same"] == info["compare"]["bit_identical"]["same"] == 8
    assert "top-1 agreement  8/8 = 100.00%" in captured.out
    assert qemu_processes_of_actors() == []
