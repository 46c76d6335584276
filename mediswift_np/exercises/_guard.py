"""The guard: starts the worker, and makes sure no process of a student's code outlives it.

    python _guard.py CHECKER_PID -- WORKER_ARGV...

Started by :class:`.sandbox.Sandbox` (never by hand), it runs from its path with the
standard library only (it imports nothing from the package, so it starts fast and has
no student code near it). It

1. becomes a **child subreaper** (``PR_SET_CHILD_SUBREAPER``): a process whose parent
   dies is re-parented to the nearest subreaper ancestor instead of to init. So every
   process the student's code starts -- also a double fork with ``os.setsid()``, which
   escapes a process-group kill -- stays a descendant of this guard;
2. asks for SIGTERM when the checker ends (``PR_SET_PDEATHSIG``), whether it exits,
   is interrupted or is killed with SIGKILL;
3. starts the worker and waits. When the worker ends, or on SIGTERM / SIGINT / SIGHUP,
   it freezes every descendant (SIGSTOP, so none can fork again), kills them all
   (SIGKILL), reaps them, repeats until none is left, and exits: with the worker's exit
   status, or 128 + N if a signal N ended the worker (125 if the worker never started).

Does not handle: a student's process that kills the guard itself (the worker's Landlock
domain refuses signals to processes outside it on kernels with Landlock ABI 6; the
checker also sweeps by an environment token, see sandbox.py), systems other than Linux
(there the guard kills the worker's process group only).
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
LINUX = sys.platform.startswith("linux")


class Stop(Exception):
    pass


def stop(signum, frame):
    raise Stop


def children_map() -> dict:
    """{parent pid: [child pids]} of every process in /proc."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])  # after "pid (comm) state"
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(root: int) -> list:
    kids, found, todo = children_map(), [], [root]
    while todo:
        for pid in kids.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(worker) -> None:
    """Freeze, then kill, every descendant; repeat until none is left (bounded: 5 s)."""
    if not LINUX:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except OSError:
            pass
        return
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        tree = descendants(os.getpid())
        if not tree:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in tree:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        reap()
        time.sleep(0.005)


def main(argv) -> int:
    checker, worker_argv = int(argv[0]), argv[2:]
    if LINUX:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    worker, status = None, 125
    fds = [int(fd) for fd in os.environ.get("MEDISWIFT_PASS_FDS", "").split(",") if fd]
    try:
        if os.getppid() != checker:
            return 125
        env = dict(os.environ, MEDISWIFT_GUARD_PID=str(os.getpid()))
        worker = subprocess.Popen(worker_argv, pass_fds=fds, env=env, start_new_session=not LINUX)
        for fd in fds:
            os.close(fd)  # the worker holds them now
        code = worker.wait()
        status = code if code >= 0 else 128 - code
    except Stop:
        status = 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if worker is not None:
            kill_tree(worker)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
