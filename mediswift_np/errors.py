"""User-facing errors and the command-line wrapper that reports them.

Every entry point (``python -m mediswift_np.<name>``) builds its options with
:mod:`mediswift_np.cli` and runs its ``main`` through :func:`run_cli`. Problems with
the user's input raise :class:`UserError` (or one of the standard file errors);
``run_cli`` prints them as one line on stderr, ``error: <message>``, and exits with
status 2 -- never a traceback. So do the machine's refusals: an ``OSError`` (disk full,
read-only file system) and a ``MemoryError``. Bugs (any other exception) still show a
traceback, because hiding them would not help anyone.

Does not handle: cleaning up partial output. Writers avoid leaving any by writing
to a temporary file and renaming it (see :mod:`mediswift_np.fileio`).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Sequence

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user: a one-line message naming the problem."""


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run ``main(argv)`` and turn user errors into ``error: ...`` + exit status 2.

    Example:
        >>> def main(argv): raise UserError("sparsity must be in [0, 1), got 1.5")
        >>> run_cli(main, [])            # prints the message and exits with status 2
        Traceback (most recent call last):
        SystemExit: 2
    """
    try:
        status = main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except FileNotFoundError as e:
        print(f"error: no such file: {e.filename or e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except IsADirectoryError as e:
        print(f"error: expected a file, got a directory: {e.filename or e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except PermissionError as e:
        print(f"error: permission denied: {e.filename or e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except BrokenPipeError:  # e.g. `... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the final flush
        raise SystemExit(0) from None
    except OSError as e:  # the machine's, not the code's: a full disk, a read-only file system, an I/O error
        print(f"error: {str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except MemoryError as e:
        print(f"error: out of memory ({e or 'no details'}); choose a smaller model or batch", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(status or 0)


def print_json(obj: dict) -> None:
    """Print ``obj`` as exactly one JSON line on stdout (the ``--json`` contract)."""
    print(json.dumps(obj, sort_keys=False, allow_nan=False), flush=True)
