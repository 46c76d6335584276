"""Confining the worker process before it imports a student's file (Linux).

The worker (see :mod:`._worker`) calls :func:`confine` after it has imported NumPy and the
library and before it runs one line of the student's code:

- **Writes only in its own directory.** Landlock (Linux 5.13+, an unprivileged kernel
  sandbox a process applies to itself and its future children) is told to refuse every
  write, create, delete, rename and truncate outside the submission's temporary
  directory (``/dev/null`` excepted). Reading stays allowed: the student's code needs
  Python and NumPy. Where the kernel offers it (Landlock ABI 6), signals to processes
  outside the sandbox (the checker, the guard) and abstract UNIX sockets are refused
  too; where it offers ABI 4, TCP connect and bind.
- **No surviving worker**: ``PR_SET_PDEATHSIG`` ends the worker when its parent, the
  guard (:mod:`._guard`), ends.
- **Bounded output**: ``RLIMIT_FSIZE`` caps what it can write (its printed output goes
  to a file), ``RLIMIT_CORE`` 0 writes no core dumps.

:func:`landlock_abi` says which Landlock version the kernel offers (0: none). Without
Landlock the worker still runs in its own directory, but a student's code could write
elsewhere with an absolute path; :mod:`.grade` then compares the submissions folder
before and after each run and reports what changed.

Does not handle: other operating systems (every function here is a no-op off Linux),
reading (a student's code can read what the grading user can -- including the library,
whose code is the answer key).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

try:
    import resource
except ImportError:  # not a POSIX system: no limits to set
    resource = None

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
# LANDLOCK_ACCESS_FS_*: WRITE_FILE, REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK,
# MAKE_FIFO, MAKE_BLOCK, MAKE_SYM (ABI 1); REFER (ABI 2); TRUNCATE (ABI 3)
WRITE_FILE, TRUNCATE, REFER = 1 << 1, 1 << 14, 1 << 13
WRITES_ABI1 = WRITE_FILE | sum(1 << bit for bit in range(4, 13))
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
OUTPUT_LIMIT = 64 << 20  # bytes a worker may write to any one file


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers; 0 when it has none (or this is not Linux)."""
    libc = _libc()
    if libc is None:
        return 0
    version = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent ends; end now if the parent is already gone."""
    libc = _libc()
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != expected_parent:
        os._exit(3)


def limit_output() -> None:
    if resource is None:
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    cap = OUTPUT_LIMIT if hard == resource.RLIM_INFINITY else min(OUTPUT_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (cap, hard))


def restrict_writes(directory: str) -> bool:
    """Allow writes only beneath ``directory`` (and to /dev/null), for good; False without Landlock."""
    abi = landlock_abi()
    if abi < 1:
        return False
    libc = _libc()
    writes = WRITES_ABI1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(writes, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                        (SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET) if abi >= 6 else 0)  # fmt: skip
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8  # the struct as this ABI knows it
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for path, access in ((directory, writes), (os.devnull, WRITE_FILE | (TRUNCATE if abi >= 3 else 0))):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(access, fd)
                if libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return True


def confine(directory: str) -> bool:
    """Everything above, in order; True when writes are confined by the kernel."""
    limit_output()
    return restrict_writes(directory)
