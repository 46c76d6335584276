"""The checker's verdicts: per function, per exercise, per file -- as text and as JSON.

Every report has the same keys, whatever happened (the JSON schema an instructor's
script can rely on):

    report     source, track, seed, hidden, error, warnings, passed, counts, points,
               max_points, exercises
    exercise   number, title, status, reading, note, output, points, earned, functions
    function   function, status, message, hint, mistake, cases

``error`` is None, or one line saying why the file could not be checked at all (it does
not import, its TRACK line names another track, ...); every exercise is then FAIL with
that reason. ``output`` is what the student's code printed while the exercise ran,
truncated to a few lines (empty with hidden inputs, where it could reveal them).

Does not handle: deciding anything; :mod:`.judge` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, TODO, SKIP = "PASS", "FAIL", "TODO", "SKIP"
STATUSES = (PASS, FAIL, TODO, SKIP)
OUTPUT_LINES = 8  # lines of a student's printed output shown with an exercise
OUTPUT_LINE_CHARS = 160


@dataclass
class FunctionResult:
    function: str
    status: str
    message: str  # one line: the case count, or what went wrong where
    hint: str = ""
    mistake: str | None = None  # the key of the recognised mistake, if any
    cases: int = 0

    def to_dict(self) -> dict:
        return {"function": self.function, "status": self.status, "message": self.message,
                "hint": self.hint, "mistake": self.mistake, "cases": self.cases}  # fmt: skip


@dataclass
class ExerciseResult:
    number: int
    title: str
    reading: str
    status: str
    functions: list[FunctionResult]
    note: str = ""
    points: int = 1  # what the exercise is worth; earned only when it passes
    output: str = ""  # what the student's code printed (truncated)

    @property
    def earned(self) -> int:
        return self.points if self.status == PASS else 0

    @property
    def reason(self) -> str:
        """The first failing function's message (what a table of grades shows)."""
        bad = next((f for f in self.functions if f.status in (FAIL, SKIP)), None)
        if bad is None:
            return ""
        return f"{bad.function}: {bad.message}" if bad.function else bad.message

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "status": self.status, "reading": self.reading,
                "note": self.note, "output": self.output, "points": self.points, "earned": self.earned,
                "functions": [f.to_dict() for f in self.functions]}  # fmt: skip


@dataclass
class Report:
    source: str  # the checked file (or module name)
    seed: int
    exercises: list[ExerciseResult]
    track: str
    hidden: bool = False
    error: str | None = None  # why the file could not be checked at all
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and all(e.status == PASS for e in self.exercises)

    def counts(self) -> dict[str, int]:
        return {s: sum(e.status == s for e in self.exercises) for s in STATUSES}

    @property
    def points(self) -> tuple[int, int]:
        """(earned, possible)."""
        return sum(e.earned for e in self.exercises), sum(e.points for e in self.exercises)

    def to_dict(self) -> dict:
        earned, possible = self.points
        return {"source": self.source, "track": self.track, "seed": self.seed, "hidden": self.hidden,
                "error": self.error, "warnings": list(self.warnings), "passed": self.passed, "counts": self.counts(),
                "points": earned, "max_points": possible, "exercises": [e.to_dict() for e in self.exercises]}  # fmt: skip

    def format(self) -> str:
        mode = ", hidden inputs" if self.hidden else ""
        lines = [f"checking {self.source} (track {self.track}, seed {self.seed}{mode})", ""]
        if self.error:
            lines += [f"error: {self.error}", ""]
        for e in self.exercises:
            head = f"Exercise {e.number} · {e.title} "
            lines.append(f"{head:.<66} {e.status}")
            for f in e.functions:
                lines.append(f"   [{f.status}] {f.function}: {f.message}" if f.function else f"   {f.message}")
                if f.hint:
                    lines.append(f"          hint: {f.hint}")
            if e.status == TODO:
                lines.append(f"          read first: {e.reading}")
            if e.note:
                lines.append(f"   {e.note}")
            if e.output:
                lines.append("   your code printed:")
                lines += [f"   | {line}" for line in e.output.splitlines()]
        lines += [f"warning: {w}" for w in self.warnings]
        c = self.counts()
        earned, possible = self.points
        skipped = f", {c[SKIP]} skipped" if c[SKIP] else ""
        lines += ["", f"{c[PASS]} of {len(self.exercises)} exercises pass, {c[FAIL]} fail, {c[TODO]} to do{skipped}"
                      f" ({earned} of {possible} points)."]  # fmt: skip
        return "\n".join(lines)


def shorten_output(text: str) -> str:
    """At most OUTPUT_LINES lines of OUTPUT_LINE_CHARS characters, saying how much was left out."""
    lines = text.splitlines()
    shown = [line if len(line) <= OUTPUT_LINE_CHARS else line[:OUTPUT_LINE_CHARS] + " …" for line in lines[:OUTPUT_LINES]]
    if len(lines) > OUTPUT_LINES:
        shown.append(f"… ({len(lines) - OUTPUT_LINES} more lines)")
    return "\n".join(shown)


def failed_everywhere(track, error: str, source: str, seed: int, hidden: bool, numbers=None) -> Report:
    """The report of a file that could not be checked: every chosen exercise FAIL with ``error``."""
    message = f"not run: {error}"
    exercises = [ExerciseResult(e.number, e.title, e.reading, FAIL, [FunctionResult("", FAIL, message)], "", e.points)
                 for e in track.select(numbers)]  # fmt: skip
    return Report(source, int(seed), exercises, track.name, hidden, error)
