"""The worker process of the checker (see runner.py): imports one student file, then
runs the exercises it is sent on stdin, one JSON line out per exercise.

    python -m mediswift_np.exercises._worker TRACK FILE.py

Protocol (one JSON object per line): out ``{"ready": true}`` or ``{"error": "..."}``
once the file is imported; then for every line in ``{"number": N, "seed": K, "hidden":
false}``, out ``{"result": <ExerciseResult.to_dict()>}``. The original stdout is kept
for these lines and the orders come in on a copy of stdin: file descriptor 1 is pointed
at stderr and 0 at /dev/null, so the student's prints (even from C code) cannot corrupt
the channel, and an ``input()`` cannot swallow an order.

Does not handle: being run by hand; it is started by :class:`.runner.Subprocess`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main(argv: list[str]) -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # line-buffered result channel
    orders = os.fdopen(os.dup(0), "r")  # the parent's orders; the student's code sees an empty stdin
    os.dup2(2, 1)  # the student's prints go to stderr
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdout, sys.stdin = sys.stderr, open(os.devnull)

    def send(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    from ..errors import UserError
    from .grading import check_path, exercise_rng, load_module, run_exercise
    from .tracks import TRACKS

    track_name, path = argv
    track = TRACKS[track_name]
    try:
        source = check_path(path)
        module = load_module(source)
    except UserError as e:
        send({"error": str(e)})
        return 0
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    send({"ready": True})
    for line in orders:
        order = json.loads(line)
        ex = track.exercise(order["number"])
        try:
            rng = exercise_rng(order["seed"], ex.number, order["hidden"])
            result = run_exercise(ex, module, rng, source, order["hidden"])
        except Exception as e:  # noqa: BLE001 -- a bug of the checker: say so instead of timing out
            send({"internal_error": f"{type(e).__name__}: {e}"})
            continue
        send({"result": result.to_dict()})
    return 0


def _exit_with_parent(parent: int) -> None:
    """End this worker when the checker that started it is gone (killed, or Ctrl-C'd), even
    if the student's code is stuck in a loop: no orphan keeps a core busy."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
