"""Work spread over processes, results back in order: a build on two cores is one that does
two things at once, and the same input still gives the same bytes whatever `jobs` is.

Workers are forked, so they start with everything the parent already holds (the cluster, the
search scores) without pickling it; only each item's result travels back.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import multiprocessing
import os
import pickle
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

_work: Callable[[int], Any] | None = None  # what the forked workers run, set before forking


def default_jobs() -> int:
    """The cores this process may run on (a CI container often has fewer than the machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ordered_map(work: Callable[[int], T], count: int, jobs: int) -> Iterator[T]:
    """work(0), work(1) … work(count - 1), in that order, on up to `jobs` processes. One job,
    or one item, runs here in this process: nothing to gain from forking."""
    jobs = min(jobs, count)
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(work, range(count))
        return
    global _work
    _work = work
    # Everything the parent holds goes out of the garbage collector's sight before forking: a
    # collection in a worker would otherwise touch, and so copy, every object it inherited
    # (gigabytes at 100,000 pages). build() unfreezes them when it is done.
    gc.freeze()
    release_freed_memory()
    try:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_worker_start) as pool:
            # chunksize 1: items differ wildly in cost (the portal's index against a county's).
            yield from pool.imap(_run, range(count), chunksize=1)
    finally:
        _work = None
    # The results came in pieces, taken apart and let go of here: the search's counted
    # slices left 71 MB at 100,000 pages, kept by the C library for a use that never came.
    release_freed_memory()


def release_freed_memory() -> None:
    """Hand the memory freed so far back to the system: before forking, so that no worker
    counts it as its own, and after a pool's results are taken apart. The C library keeps
    what Python frees for its next allocations; after a cold build's parse and Markdown, the
    files' texts, that was 350 MB at 100,000 pages, which every worker forked later would
    count as its own. (glibc's malloc_trim; elsewhere nothing is done.)"""
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim(0)


def libc_function(name: str) -> Callable[..., Any] | None:
    """A function of the C library, or None where it has none of that name."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError):
        return None


PR_SET_PDEATHSIG = 1   # Linux's prctl() option


def _worker_start() -> None:
    """A worker ends with the process that forked it, and without a word: a lean process
    stopped because its build failed left the workers it had forked to count terms, which
    went on counting and then, their results' pipe gone, printed two tracebacks each of
    BrokenPipeError below the build's own message. (Python ignores SIGPIPE.)"""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    prctl = libc_function("prctl")
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(item: int) -> Any:
    assert _work is not None
    return _work(item)


def apart(work: Callable[[], T]) -> T:
    """work() in a process forked for it, which ends once it has returned: what it made comes
    back here, the memory it took to make it goes with that process. CPython keeps the memory
    of the objects it frees for its next ones, in blocks that one survivor holds whole: a
    process that once held a 100,000-page cluster's parsed pages stays that size (500 MB) to
    its end, and so does every worker forked from it. The result comes back pickled, streamed
    through a file, with the open files it refers to (a body's spool) passed as such, not
    copied. Without fork, work() runs here."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return work()
    ours, theirs = socket.socketpair()
    with ours, tempfile.TemporaryFile(prefix="govsite-apart-") as carried:
        gc.freeze()   # as ordered_map does: the child's collections copy nothing
        pid = os.fork()
        if pid == 0:   # (it never returns from here)
            ours.close()
            _carry(work, carried.fileno(), theirs)
        theirs.close()
        try:
            _, descriptors, _, _ = socket.recv_fds(ours, 1, MAX_CARRIED_FILES)
        finally:
            _, status = os.waitpid(pid, 0)
        files = [open(fd, "rb", buffering=0) for fd in descriptors]  # noqa: SIM115 (the value's)
        if os.waitstatus_to_exitcode(status) != 0:   # killed (out of memory, say) before the end
            raise RuntimeError("a process ended without its result")
        carried.seek(0)
        unpickler = pickle.Unpickler(carried)
        unpickler.persistent_load = files.__getitem__   # type: ignore[assignment, method-assign]
        ok, value = unpickler.load()
    if not ok:
        raise value
    return value


MAX_CARRIED_FILES = 1024


class _Carrier(pickle.Pickler):
    """Pickles a result, each open file in it as a number: its place among the files sent."""

    def __init__(self, file: Any):
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.files: list[Any] = []
        self._numbers: dict[int, int] = {}

    def persistent_id(self, obj: Any) -> int | None:
        if not isinstance(obj, io.IOBase):
            return None
        n = self._numbers.setdefault(id(obj), len(self.files))
        if n == len(self.files):
            self.files.append(obj)
        return n


def _carry(work: Callable[[], Any], fd: int, connection: socket.socket) -> None:
    code = 0
    try:
        with open(fd, "wb", closefd=False) as stream:
            carrier = _Carrier(stream)
            try:
                carrier.dump((True, work()))
            except BaseException as exc:   # raised in the parent by apart()
                stream.seek(0)
                stream.truncate()
                carrier = _Carrier(stream)
                try:
                    carrier.dump((False, exc))
                except Exception:   # an error that does not pickle
                    carrier.dump((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        socket.send_fds(connection, [b"!"], [file.fileno() for file in carrier.files])
    except BaseException:   # (the parent is gone, or stopped with it: nothing to tell)
        code = 1
    finally:
        os._exit(code)


class Background:
    """work() in a forked process while this one goes on; result() waits for what it returned
    (or raises what it raised). Without fork, work() runs here when the result is asked for.
    The process is not a pool's worker, so that it may fork workers of its own."""

    def __init__(self, work: Callable[[], T]):
        self._work: Callable[[], Any] | None = work
        self._process: Any = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        self._reader, writer = context.Pipe(duplex=False)
        gc.freeze()   # as ordered_map does: the child's collections copy nothing
        self._process = context.Process(target=_in_background, args=(work, writer))
        self._process.start()
        writer.close()
        self._work = None

    @property
    def forked(self) -> bool:
        """Whether work() runs in a process of its own (else here, when asked for its result)."""
        return self._process is not None

    def result(self) -> Any:
        if self._work is not None:
            return self._work()
        try:
            ok, value = self._reader.recv()
        except EOFError:
            raise RuntimeError("a background process ended without a result") from None
        finally:
            self._process.join()
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the process, if it is still at work (the build failed meanwhile)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _in_background(work: Callable[[], Any], writer: Any) -> None:
    try:
        message = (True, work())
    except BaseException as exc:   # raised in the parent by result()
        message = (False, exc)
    try:
        writer.send(message)
    except Exception as exc:   # a result or error that does not pickle
        writer.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class LeanProcess:
    """A process forked while this one is still small, to run one job for it later: a job run
    there starts with what the job is sent, not with everything this process has come to hold
    since (a process forked from a build holding a 100,000-page cluster starts at 900 MB, and
    counts them as its own). The job is a function by name with its arguments, pickled, and
    open files (their descriptors) it may read. Without fork, run() runs the job here."""

    def __init__(self, preload: tuple[Callable[[], Any], ...] = ()) -> None:
        """`preload`: what the job will need (modules to import, files to read), done there
        while it waits for one."""
        self._pid = 0
        # A job started and its result not yet asked for (True), or, without fork, the job
        # itself, run when its result is asked for.
        self._pending: bool | Callable[[], Any] | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        self._socket, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:   # (the lean process: it never returns from here)
            self._socket.close()
            _lean_process(theirs, preload)
        theirs.close()
        self._pid = pid

    def run(self, work: Callable[..., T], args: tuple, files: list[Any]) -> T:
        """work(*args, descriptors) there (descriptors: of `files`, in order, opened there),
        once; returns what it returned, or raises what it raised."""
        self.start(work, args, files)
        return self.result()

    def start(self, work: Callable[..., Any], args: tuple, files: list[Any]) -> None:
        """run()'s first half: the job is sent, and works there while this process goes on
        until it asks for the result()."""
        if not self._pid:
            self._pending = partial(work, *args, [file.fileno() for file in files])
            return
        with self._talking():
            socket.send_fds(self._socket, [b"!"], [file.fileno() for file in files])
            # Streamed, a frame at a time: the job's arguments (every search document of a
            # large cluster) are never a second copy in either process.
            with self._socket.makefile("wb") as stream:
                pickle.dump((work, args), stream, pickle.HIGHEST_PROTOCOL)
        self._pending = True

    def result(self) -> Any:
        """What the job started returned, once it has; or what it raised, raised here."""
        pending, self._pending = self._pending, None
        if callable(pending):   # (no fork: it runs here, now)
            return pending()
        with self._talking(), self._socket.makefile("rb") as stream:
            ok, value = pickle.load(stream)
        self.close()
        if not ok:
            raise value
        return value

    @contextlib.contextmanager
    def _talking(self) -> Iterator[None]:
        """Sending it a job or reading its result: should that fail, the process is stopped,
        and a connection that ended is said as such."""
        try:
            yield
        except BaseException as exc:
            self.close(stop=True)
            if isinstance(exc, (OSError, EOFError, pickle.UnpicklingError)):
                raise RuntimeError(f"a lean process ended without a result ({exc})") from None
            raise

    def close(self, stop: bool = False) -> None:
        """Let it go: unused, or done (it ends once its end of the connection closes), or
        stopped at whatever it does (the build failed meanwhile, or gave up on a job started
        and never asked for its result)."""
        if self._pid:
            if stop or self._pending:
                os.kill(self._pid, signal.SIGKILL)
            self._socket.close()
            os.waitpid(self._pid, 0)
            self._pid = 0
        self._pending = None


def _lean_process(connection: socket.socket, preload: tuple[Callable[[], Any], ...]) -> None:
    code = 0
    try:
        for work in preload:
            work()
        asked, descriptors, _, _ = socket.recv_fds(connection, 1, 256)
        if asked:   # (else the parent let it go unused)
            with connection.makefile("rb") as stream:
                work, args = pickle.load(stream)
            try:
                message = (True, work(*args, descriptors))
            except BaseException as exc:   # raised in the parent by run()
                message = (False, exc)
            try:
                payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:   # a result or error that does not pickle
                payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            connection.sendall(payload)
    except BaseException:   # (the parent is gone, or stopped with it: nothing to tell)
        code = 1
    finally:
        os._exit(code)


class Started:
    """A command started now, beside what this process does next; result() waits for it. Its
    output goes to an unnamed temporary file, not a pipe: a pipe holds 64 KB, and a command
    with more to say (git's list of 100,000 files, find's of 150,000) would stop there until
    read, which is to say until it is waited for. Raises OSError where it cannot start."""

    def __init__(self, args: list[str], stdin: Any = None, env: dict[str, str] | None = None):
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by result())
        try:
            self.process = subprocess.Popen(args, stdin=stdin, stdout=self._output,
                                            stderr=subprocess.DEVNULL, env=env)
        except OSError:
            self._output.close()
            raise

    def result(self) -> tuple[int, bytes]:
        """Its exit code and output."""
        code = self.process.wait()
        with self._output:
            self._output.seek(0)
            return code, self._output.read()
