"""The command-line mechanism every entry point shares.

    parser = ArgumentParser(prog="python -m mediswift_np.pretrain", description=...)
    add_output_flags(parser, quiet=True)            # --json, --quiet
    add_overwrite_flag(parser)                      # --overwrite
    add_config_flags(parser, PretrainConfig)        # one --option per dataclass field
    args = parser.parse_args(argv)
    cfg = PretrainConfig(**given_config_values(args, PretrainConfig))

A config dataclass is the single source of truth for its options (STYLE: "the CLI is
built from the dataclass fields"): every field becomes ``--field-name`` with default
``None``, meaning *not given*, so a caller can layer what the user typed over the
dataclass defaults or over a checkpoint's stored config. Fields whose type needs more
than ``type(default)`` (tuples, choices, flags) are described by the caller.

Usage mistakes (an unknown option, a missing required one, a value of the wrong type)
raise :class:`~mediswift_np.errors.UserError`, so ``run_cli`` prints one line and exits
with status 2, as for every other bad input.

Does not handle: nested dataclasses, or fields without a default.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the house rule for usage mistakes: they raise :class:`UserError`
    (argparse itself would print the whole usage block and exit). Subcommand parsers
    made with ``add_subparsers`` inherit this class."""

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def add_output_flags(parser: argparse.ArgumentParser, quiet: bool = False) -> None:
    """``--json`` (one JSON object as the last line of stdout; see ``errors.print_json``)
    and, for long jobs, ``--quiet`` (no progress bars)."""
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_overwrite_flag(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: let ``--out`` replace what it holds (see ``fileio.check_output_dir``);
    without it, an output directory that holds anything is refused before any work."""
    parser.add_argument("--overwrite", action="store_true", help="replace what --out holds (default: refuse an --out that is not empty)")


def parse_bool(text: str) -> bool:
    """``true/yes/1`` or ``false/no/0`` (any case); anything else is a usage mistake.

    Example:
        >>> parse_bool("Yes"), parse_bool("0")
        (True, False)
    """
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def comma_separated(kind):
    """An argparse ``type`` for lists written ``8,16,32``: returns a tuple of ``kind``.

    Empty items are skipped (``8,16,`` is ``8,16``), but a list with no item at all
    (``,`` or ``""``) is a usage mistake, not a silent "option not given".

    Example:
        >>> comma_separated(float)("2e-4,1e-4")
        (0.0002, 0.0001)
    """

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one comma-separated {kind.__name__} value, got {text!r}")
        return values

    return parse


METAVARS = {int: "N", float: "X", str: None, bool: "BOOL"}  # None: the field name, e.g. INIT


def add_config_flags(parser: argparse.ArgumentParser, cls, *, prefix: str = "", title: str | None = None,
                     special: dict[str, dict[str, Any]] | None = None, helps: dict[str, str] | None = None) -> None:
    """Add ``--{prefix}{field-name}`` for every field of the dataclass ``cls``.

    ``special[name]`` gives the ``add_argument`` keywords of a field outright (choices,
    ``action="append"``, a list parser...); other fields parse with the type of their
    default (bool via :func:`parse_bool`). ``helps[name]`` replaces the default help
    text ``default <value>``. With ``title`` the options form their own --help group.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Demo:
        ...     steps: int = 10
        ...     lr: float = 1e-3
        >>> p = ArgumentParser(prog="demo"); add_config_flags(p, Demo)
        >>> given_config_values(p.parse_args(["--lr", "0.01"]), Demo)
        {'lr': 0.01}
    """
    target = parser.add_argument_group(title) if title else parser
    special, helps = special or {}, helps or {}
    for f in dataclasses.fields(cls):
        flag = "--" + prefix + f.name.replace("_", "-")
        if f.name in special:
            target.add_argument(flag, **{"help": helps.get(f.name), **special[f.name]})
            continue
        kind = type(f.default)
        if kind not in METAVARS:
            raise TypeError(f"{cls.__name__}.{f.name}: give its options in `special` ({kind.__name__} default)")
        target.add_argument(flag, type=parse_bool if kind is bool else kind, default=None,
                            metavar=METAVARS[kind] or f.name.upper(), help=helps.get(f.name, f"default {f.default!r}"))


def given_config_values(args: argparse.Namespace, cls, prefix: str = "") -> dict[str, Any]:
    """The fields of ``cls`` the user gave on the command line (those not ``None``);
    repeated options (``action="append"`` lists) become tuples, as frozen configs hold them."""
    dest = prefix.replace("-", "_")
    values = {f.name: getattr(args, dest + f.name, None) for f in dataclasses.fields(cls)}
    return {name: tuple(v) if isinstance(v, list) else v for name, v in values.items() if v is not None}
