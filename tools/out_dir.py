"""Where a command may write: `--out` build folders and single output files (--plot, --output, ...).

Everything here runs before any compiling, so a path that cannot be written fails in a second with one line
instead of a traceback after a full build. The checks are real attempts, not permission bits (root ignores
those): a probe directory or file is created beside the target and removed again.

`--out` rules:
- it must name a folder below the current one's ancestors: `.`, `''`, `..` and `/` are refused (a build
  replaces its output folder by a rename, which cannot move the working directory or one of its parents);
- a symbolic link is followed: the build goes to the link's target (which must exist and be a codegen build
  or empty), the link itself stays as it is;
- missing parent folders are created, and removed again if the build fails;
- one build at a time per folder: `output_lock` holds an flock on `.NAME.lock` beside it from before the
  compilation to after the final move; a second build of the same folder is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from codegen.errors import CodegenError

BUILD_MARKER = ".codegen-build"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (as anything: a file too)."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _probe_dir(folder: Path, what: str) -> None:
    """Create and remove a directory in `folder`: proves a build could be staged and renamed there."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".codegen-probe-", dir=folder))
    except OSError as exc:
        raise CodegenError(f"{what}: cannot write in {folder}: {_why(exc)}") from None


def resolve_out(out: Path) -> Path:
    """The absolute folder a build of `--out out` writes, checked as far as it can be without building."""
    text = str(out)
    if text in ("", "."):
        raise CodegenError(f"--out {text or repr(text)} is the current folder: name a sub-folder (e.g. --out build)")
    absolute = Path(os.path.abspath(out))
    if absolute.is_symlink():
        try:
            absolute = absolute.resolve(strict=True)
        except (OSError, RuntimeError):
            target = os.readlink(absolute)
            raise CodegenError(f"--out {out} is a symbolic link to {target}, which does not exist: create that "
                               "folder or name another --out") from None
    else:
        absolute = Path(os.path.realpath(absolute))  # symlinked parents: stage beside the real folder
    cwd = Path(os.path.realpath(os.getcwd()))
    if absolute == cwd or absolute in cwd.parents or absolute.parent == absolute:
        raise CodegenError(f"--out {out} is the current folder or one of its parents: name a sub-folder")
    check_out_contents(absolute, out)
    existing = _nearest_existing(absolute.parent)
    if not existing.is_dir():
        raise CodegenError(f"--out {out}: {existing} is not a folder")
    _probe_dir(existing, f"--out {out}")
    return absolute


def check_out_contents(folder: Path, shown: Path | str) -> None:
    """A folder that is not an earlier codegen build (or empty) is never overwritten."""
    if folder.exists() and (not folder.is_dir()
                            or (any(folder.iterdir()) and not (folder / BUILD_MARKER).exists())):
        raise CodegenError(f"--out {shown} exists and is not a codegen build directory; choose another path")


def check_output_file(option: str, path: Path | None) -> None:
    """A single output file (--plot, --output, --save-outputs ...) can be created: its folder exists, it is not
    a folder itself, and a probe file can be written beside it."""
    if path is None:
        return
    if str(path) in ("", ".") or path.is_dir():
        raise CodegenError(f"{option} {path} is a folder: name a file")
    folder = Path(os.path.abspath(path)).parent
    if not folder.is_dir():
        existing = _nearest_existing(folder)
        if existing.is_dir():
            raise CodegenError(f"{option} {path}: folder {folder} does not exist")
        raise CodegenError(f"{option} {path}: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CodegenError(f"{option} {path}: cannot write in {folder}: {_why(exc)}") from None


@contextlib.contextmanager
def _created_parents(folder: Path) -> Iterator[None]:
    """Create the missing parents of `folder`; remove those created (if still empty) when the body fails."""
    missing = []
    parent = folder.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodegenError(f"--out {folder}: cannot create {folder.parent}: {_why(exc)}") from None
    try:
        yield
    except BaseException:
        for made in missing:  # deepest first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder`'s lock file (`.NAME.lock` beside it) for the body; refuse, with one
    line, while another process holds it. The file is removed on release."""
    lock_path = folder.parent / f".{folder.name}.lock"
    with _created_parents(folder):
        fd = _acquire(lock_path, folder)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # while still held: a waiter that opened it sees the inode change
            os.close(fd)


def _acquire(lock_path: Path, folder: Path) -> int:
    for _ in range(10):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CodegenError(f"--out {folder}: cannot create the lock file {lock_path}: {_why(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise CodegenError(f"--out {folder}: cannot lock {lock_path}: {_why(exc)}") from None
            raise CodegenError(f"--out {folder} is being built by another codegen process{holder}; wait for it "
                               "to finish or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder unlinked after we opened it
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise CodegenError(f"--out {folder}: could not take the lock {lock_path}")


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
