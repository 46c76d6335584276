"""The tracks: one build-it-yourself assignment per unit of the course, in the course's order.

A track's name is also its module here (``tracks/<name>.py``, or a package
``tracks/<name>/`` when it is too long for one file), its template
(``tutorials/exercises/<name>.py``), its preface when it has one
(``tutorials/exercises/<name>.md``) and its worked solution
(``instructors/solutions/<name>.py``). Each module defines ``TRACK``.

Does not handle: tracks defined outside this package.
"""

from __future__ import annotations

from ..spec import Track
from . import accelerator, attention, autograd, bpe, flops, interop, masked_linear, optim, prompting

TRACKS: dict[str, Track] = {m.TRACK.name: m.TRACK for m in (
    autograd,  # unit 01
    bpe,  # 02
    attention,  # 03
    masked_linear,  # 04
    flops,  # 05
    optim,  # 06
    prompting,  # 07
    accelerator,  # 08
    interop,  # 09
)}  # fmt: skip
