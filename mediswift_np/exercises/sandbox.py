"""One submission's sandbox: a private directory, the guard and worker processes, bounded waits.

    checker (this process)
      └─ guard   (_guard.py: a child subreaper; new session; SIGTERM when the checker ends)
          └─ worker  (_worker.py: imports the library, then confines itself, then the student's file)
              └─ whatever the student's code starts (double forks and setsid included)

Why a guard process rather than a process-group kill or a cgroup: ``os.setsid()`` in a
student's grandchild leaves any process group, and cgroups need privileges or systemd.
A subreaper is unprivileged and keeps every orphan of the tree under the guard, which
kills the whole tree whenever the worker ends or the checker stops it (see
:mod:`._guard`). As a second net, every process of the tree carries a random token in
its environment and :meth:`Sandbox.close` kills whatever still carries it.

Files: the submission is copied, from bytes read once by the checker, into
``<tmp>/run/submission.py``; ``run/`` is the worker's working directory and ``TMPDIR``,
and with Landlock the only place it can write (:mod:`.confine`). What the student's code
prints goes to ``<tmp>/checker/output.txt``. Everything is deleted by :meth:`close`.

Channels: the worker writes JSON lines to a pipe (``--channel``) and reads its orders
from another (``--orders``); its stdin is /dev/null. Every read here has a deadline and
polls the guard, so a pipe kept open by a surviving grandchild never blocks the checker.

Does not handle: resource limits other than time and output size (memory, processes),
systems other than Linux (there only the worker's process group is killed).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GUARD = Path(__file__).resolve().with_name("_guard.py")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # so the worker imports this very library
TOKEN_VARIABLE = "MEDISWIFT_SANDBOX_TOKEN"
MAX_MESSAGE = 64 << 20  # bytes of one JSON line from the worker
OUTPUT_READ = 64 << 10  # bytes of printed output read per exercise
SUBMISSION = "submission.py"


class WorkerGone(Exception):
    """The worker ended (or was ended) without the answer waited for."""

    def __init__(self, why: str, hint: str):
        super().__init__(why)
        self.why, self.hint = why, hint


class Sandbox:
    def __init__(self, source: bytes, display: str, track: str):
        self.display, self.track = display, track
        self.root = Path(tempfile.mkdtemp(prefix="mediswift-check-"))
        self.home, private = self.root / "run", self.root / "checker"
        self.home.mkdir()
        private.mkdir()
        (self.home / SUBMISSION).write_bytes(source)
        self.output = private / "output.txt"
        self.output.touch()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.channel = self.orders = None
        self.buffer = b""

    # ------------------------------------------------------------------ processes

    def start(self) -> None:
        chan_r, chan_w = os.pipe()
        ord_r, ord_w = os.pipe()
        out = os.open(self.output, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        path = os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path, TMPDIR=str(self.home), PYTHONDONTWRITEBYTECODE="1",
                   MEDISWIFT_PASS_FDS=f"{chan_w},{ord_r}", **{TOKEN_VARIABLE: self.token})  # fmt: skip
        worker = [sys.executable, "-m", "mediswift_np.exercises._worker", "--channel", str(chan_w), "--orders",
                  str(ord_r), "--dir", str(self.home), "--file", SUBMISSION, "--display", self.display,
                  "--track", self.track]  # fmt: skip
        try:
            self.proc = subprocess.Popen([sys.executable, str(GUARD), str(os.getpid()), "--", *worker],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.output.parent,
                                         env=env, pass_fds=(chan_w, ord_r), start_new_session=True)  # fmt: skip
        finally:
            for fd in (chan_w, ord_r, out):
                os.close(fd)
        os.set_blocking(chan_r, False)
        self.channel, self.orders = chan_r, ord_w

    def send(self, order: dict) -> None:
        try:
            os.write(self.orders, (json.dumps(order) + "\n").encode())
        except OSError:  # BrokenPipe: the worker is gone; the next receive says how
            pass

    def receive(self, timeout: float, accept) -> dict:
        """The first JSON line from the worker for which ``accept(message)`` is true, within
        ``timeout`` seconds; lines that are not (junk, or written by the student's code) are
        skipped. Raises TimeoutError, or WorkerGone when the worker ended first."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):  # not ours: junk, or nested too deeply to be an answer
                    continue
                if isinstance(message, dict) and accept(message):
                    return message
            finished = self.proc.poll() is not None
            left = deadline - time.monotonic()
            if left <= 0 and not finished:
                raise TimeoutError
            ready, _, _ = select.select([self.channel], [], [], 0 if finished else min(left, 0.1))
            data = b""
            if ready:
                try:
                    data = os.read(self.channel, 1 << 20)
                except BlockingIOError:
                    pass
                if len(self.buffer) + len(data) > MAX_MESSAGE:
                    raise WorkerGone(f"your code sent more than {MAX_MESSAGE >> 20} MB back to the checker",
                                     "return arrays of the shapes the docstring states.")
                self.buffer += data
            if finished and not data:
                raise self.gone()
            if ready and data == b"" and not finished:  # every writer closed the channel
                try:
                    self.proc.wait(2.0)  # the tree is ending on its own...
                except subprocess.TimeoutExpired:  # ...or the student's code closed the channel
                    self.terminate()
                    raise WorkerGone("your code closed the checker's channel", "do not close file descriptors you did "
                                     "not open.") from None
                raise self.gone()

    def terminate(self) -> None:
        """SIGTERM to the guard (which kills the whole tree), bounded; SIGKILL if it does not end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10.0)
        except (OSError, subprocess.TimeoutExpired):
            self.kill_guard()

    def gone(self) -> WorkerGone:
        code = self.proc.poll()
        if code is None or code == 125:
            return WorkerGone("the process running your code could not start", "please report this to your instructor.")
        if code < 0:
            return WorkerGone(f"the checker's guard process was killed by signal {signal_name(-code)}",
                              "your code must not signal other processes.")
        if code > 128:
            return WorkerGone(f"the process running your code was killed by signal {signal_name(code - 128)}",
                              "a crash in native code, running out of memory, or writing more than 64 MB of output?")
        return WorkerGone(f"the process running your code ended with status {code} without an answer",
                          "os._exit() (or a crash) ends the checker's worker; return a value instead.")

    def kill_guard(self) -> None:
        for kill in (lambda: self.proc.kill(), lambda: os.killpg(self.proc.pid, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        """End the guard and with it the whole tree (bounded), then sweep by token."""
        self.terminate()
        sweep(self.token)
        for fd in (self.channel, self.orders):
            if fd is not None:
                os.close(fd)
        self.proc = self.channel = self.orders = None
        self.buffer = b""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, onerror=_make_writable_and_retry)

    # ------------------------------------------------------------------ output

    def output_size(self) -> int:
        try:
            return self.output.stat().st_size
        except OSError:
            return 0

    def output_since(self, offset: int) -> str:
        """What the student's code printed after byte ``offset`` (at most OUTPUT_READ bytes of it)."""
        try:
            with open(self.output, "rb") as f:
                f.seek(offset if offset <= self.output_size() else 0)
                return f.read(OUTPUT_READ).decode("utf-8", errors="replace")
        except OSError:
            return ""


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def sweep(token: str) -> None:
    """SIGKILL every process whose environment carries ``token`` (Linux; a few rounds)."""
    if not sys.platform.startswith("linux"):
        return
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    for _ in range(3):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle not in f.read().split(b"\0"):
                        continue
                os.kill(int(entry), signal.SIGKILL)
                found = True
            except OSError:
                continue
        if not found:
            return
        time.sleep(0.01)


def _make_writable_and_retry(function, path, _):
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        function(path)
    except OSError:
        pass
