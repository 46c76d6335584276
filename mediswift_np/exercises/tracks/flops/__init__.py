"""Track ``flops``: verifying the FLOP savings of sparse pre-training (unit 05).

Exercises 1, 2, 3 and 5 (analytic FLOPs, Hoffmann et al. App. F, Table 6) are in
:mod:`.analytic`; 4 and 6 (active parameters, the overall sparsity S, counted = analytic
FLOPs of real training steps) in :mod:`.counted`. The preface with the equations is
``tutorials/exercises/flops.md``.
"""

from __future__ import annotations

from ...spec import Track
from .analytic import EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_5
from .counted import EXERCISE_4, EXERCISE_6

TRACK = Track("flops", "verifying the FLOP savings of sparse pre-training", "tutorials/05_flop_accounting.ipynb",
              (EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_4, EXERCISE_5, EXERCISE_6))
