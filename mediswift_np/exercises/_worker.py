"""The worker process of the checker: imports one student file, calls its functions on orders.

    python -m mediswift_np.exercises._worker --channel FD --orders FD --dir DIR --file NAME
                                             --display PATH --track TRACK

Started by the guard (:mod:`._guard`) for :class:`.sandbox.Sandbox`, never by hand. In
order: end with the guard (``PR_SET_PDEATHSIG``); import the track (NumPy and the
library are already imported); say ``{"booted": true}``; move into the sandbox
directory and confine itself (:mod:`.confine`); import the student's file (``{"imported":
true}`` or ``{"import_error": "..."}``); then, for each order read from ``--orders``:

    {"run": N, "seed": K, "hidden": false, "id": I}  ->  {"id": I, "outcomes": [...]}   (see student.py)
    {"note": N, "id": I}                              ->  {"id": I, "note": "..."}

Replies are JSON lines on ``--channel``. The student's prints go to stdout/stderr, which
the checker keeps in a file; stdin is /dev/null. Nothing here decides PASS or FAIL.

Does not handle: being run by hand.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import sys

from .confine import confine, die_with_parent


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    for flag in ("--channel", "--orders"):
        p.add_argument(flag, type=int, required=True)
    for flag in ("--dir", "--file", "--display", "--track"):
        p.add_argument(flag, required=True)
    args = p.parse_args(argv)
    die_with_parent(int(os.environ.get("MEDISWIFT_GUARD_PID", "0")))
    for fd in (args.channel, args.orders):
        os.set_inheritable(fd, False)  # a program the student's code execs does not get them
    channel = os.fdopen(args.channel, "w", buffering=1)
    orders = os.fdopen(args.orders, "r")
    sys.stdout.reconfigure(line_buffering=True)  # prints before a hang still reach the checker's file

    libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None

    def send(obj: dict) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if libc is not None:
            libc.fflush(None)  # C-level prints too
        channel.write(json.dumps(obj, allow_nan=True) + "\n")
        channel.flush()

    try:
        from ..errors import UserError
        from .spec import exercise_rng
        from .student import call_exercise, load_module, note

        track = importlib.import_module(f"{__package__}.tracks.{args.track}").TRACK
    except Exception as e:  # noqa: BLE001 -- a broken installation: say so
        send({"boot_error": f"{type(e).__name__}: {e}"})
        return 0
    send({"booted": True})
    os.chdir(args.dir)
    confine(args.dir)
    source = os.path.join(args.dir, args.file)
    try:
        module = load_module(source, args.display)
    except UserError as e:
        send({"import_error": str(e)})
        return 0
    send({"imported": True})
    for line in orders:
        order = None
        try:
            order = json.loads(line)
            ex = track.exercise(int(order.get("run", order.get("note"))))
            if "note" in order:
                send({"id": order["id"], "note": note(ex, module)})
                continue
            rng = exercise_rng(int(order["seed"]), ex.number, bool(order["hidden"]))
            send({"id": order["id"], "outcomes": call_exercise(ex, module, rng, source)})
        except Exception as e:  # noqa: BLE001 -- a bug of the checker: say so instead of timing out
            send({"id": order.get("id") if isinstance(order, dict) else None, "internal_error": f"{type(e).__name__}: {e}"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
