"""mediswift_np.cli: options built from config dataclasses, one-line usage mistakes."""

import argparse
import dataclasses

import pytest

from mediswift_np.accelerator.__main__ import build_parser as accelerator_parser
from mediswift_np.accelerator.machine import Machine, SIMDMachine
from mediswift_np.cli import (
    ArgumentParser,
    add_config_flags,
    add_output_flags,
    comma_separated,
    given_config_values,
    parse_bool,
)
from mediswift_np.errors import UserError
from mediswift_np.finetune import FinetuneConfig
from mediswift_np.finetune.__main__ import build_parser as finetune_parser
from mediswift_np.pretrain import PretrainConfig
from mediswift_np.pretrain.__main__ import build_parser as pretrain_parser


@dataclasses.dataclass(frozen=True)
class Demo:
    steps: int = 10
    lr: float = 1e-3
    name: str = "tiny"
    verbose: bool = False
    files: tuple[str, ...] = ()


def demo_parser(**kwargs):
    p = ArgumentParser(prog="demo")
    add_config_flags(p, Demo, special={"files": dict(action="append", metavar="PATH")}, **kwargs)
    return p


def test_one_option_per_field_typed_by_its_default():
    args = demo_parser().parse_args(["--steps", "7", "--lr", "0.5", "--name", "med", "--verbose", "yes",
                                     "--files", "a", "--files", "b"])
    assert given_config_values(args, Demo) == {"steps": 7, "lr": 0.5, "name": "med", "verbose": True, "files": ("a", "b")}
    assert Demo(**given_config_values(args, Demo)) == Demo(7, 0.5, "med", True, ("a", "b"))


def test_options_not_given_are_left_to_the_defaults():
    args = demo_parser().parse_args(["--lr", "0.01"])
    assert given_config_values(args, Demo) == {"lr": 0.01}
    assert given_config_values(demo_parser().parse_args([]), Demo) == {}


def test_help_metavars_and_groups():
    p = demo_parser(helps={"lr": "peak learning rate"}, title="Demo parameters")
    text = p.format_help()
    assert "--steps N" in text and "--lr X" in text and "--name NAME" in text and "--verbose BOOL" in text
    assert "peak learning rate" in text and "default 10" in text and "default 'tiny'" in text
    assert "Demo parameters:" in text


def test_prefixed_options_fill_their_own_dataclass():
    p = ArgumentParser(prog="demo")
    add_config_flags(p, Machine)
    add_config_flags(p, SIMDMachine, prefix="simd-")
    args = p.parse_args(["--clock-hz", "2e9", "--simd-clock-hz", "1e9", "--simd-skip-zero-tiles", "false"])
    assert Machine(**given_config_values(args, Machine)) == dataclasses.replace(Machine(), clock_hz=2e9)
    assert SIMDMachine(**given_config_values(args, SIMDMachine, prefix="simd-")) == dataclasses.replace(
        SIMDMachine(), clock_hz=1e9, skip_zero_tiles=False)


def test_a_field_without_a_plain_type_must_be_described():
    p = ArgumentParser(prog="demo")
    with pytest.raises(TypeError, match="Demo.files"):
        add_config_flags(p, Demo)


@pytest.mark.parametrize("text, value", [("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)])
def test_parse_bool(text, value):
    assert parse_bool(text) is value


@pytest.mark.parametrize("argv, message", [
    (["--verbose", "maybe"], "argument --verbose: expected true or false, got 'maybe'"),
    (["--steps", "1.5"], "argument --steps: invalid int value: '1.5'"),
    (["--stpes", "3"], "unrecognized arguments: --stpes 3"),
])
def test_usage_mistakes_are_one_line_user_errors(argv, message):
    with pytest.raises(UserError) as err:
        demo_parser().parse_args(argv)
    assert str(err.value) == f"{message} (see demo --help)"


def test_comma_separated():
    assert comma_separated(int)("8,16,32") == (8, 16, 32)
    assert comma_separated(float)("2e-4, 1e-4,") == (2e-4, 1e-4)
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated int"):
        comma_separated(int)("8,x")
    for empty in (",", "", " , ,"):  # no item at all: a mistake, never a silent "not given"
        with pytest.raises(argparse.ArgumentTypeError, match=f"^expected at least one comma-separated float value, got {empty!r}$"):
            comma_separated(float)(empty)


@pytest.mark.parametrize("flag, kind", [("--grid-lrs", "float"), ("--grid-batch-sizes", "int")])
def test_an_empty_grid_list_is_a_usage_mistake(flag, kind):
    with pytest.raises(UserError) as err:
        finetune_parser().parse_args(["--task", "pubmedqa", flag, ","])
    assert str(err.value) == (f"argument {flag}: expected at least one comma-separated {kind} value, got ',' "
                              "(see python -m mediswift_np.finetune --help)")


def test_subcommand_parsers_inherit_the_rule():
    p = ArgumentParser(prog="demo")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("run")
    s.add_argument("--n", type=int)
    with pytest.raises(UserError, match=r"^argument --n: invalid int value: 'x' \(see demo run --help\)$"):
        p.parse_args(["run", "--n", "x"])
    with pytest.raises(UserError, match="required: command"):
        p.parse_args([])


def test_output_flags():
    p = ArgumentParser(prog="demo")
    add_output_flags(p)
    assert vars(p.parse_args(["--json"])) == {"json": True}
    q = ArgumentParser(prog="demo")
    add_output_flags(q, quiet=True)
    assert vars(q.parse_args([])) == {"json": False, "quiet": False}
    assert vars(q.parse_args(["--quiet", "--json"])) == {"json": True, "quiet": True}


def option_words(flag: str, field: dataclasses.Field):
    """Command-line words setting ``field`` through ``flag``, and the value they must give."""
    if field.name == "grid":  # a switch
        return [flag], True
    if field.name in ("grid_batch_sizes", "grid_lrs"):  # comma-separated lists
        return [flag, "8,16"], (8, 16) if field.name == "grid_batch_sizes" else (8.0, 16.0)
    if field.name in ("data", "corpus"):  # repeatable paths
        return [flag, "a.json", flag, "b.json"], ("a.json", "b.json")
    if isinstance(field.default, bool):
        return [flag, str(not field.default).lower()], not field.default
    return [flag, str(field.default)], field.default  # plain ints, floats, strings


@pytest.mark.parametrize("cls, parser, prefix", [
    (PretrainConfig, pretrain_parser, ""),
    (FinetuneConfig, finetune_parser, ""),
    (Machine, accelerator_parser, ""),
    (SIMDMachine, accelerator_parser, "simd-"),
])
def test_every_config_field_of_the_entry_points_is_an_option(cls, parser, prefix):
    """Each field round-trips through its option, so a new field can never be forgotten."""
    p = parser()
    for field in dataclasses.fields(cls):
        argv, expected = option_words("--" + prefix + field.name.replace("_", "-"), field)
        if cls is FinetuneConfig and field.name != "task":
            argv += ["--task", "hoc"]  # required
        assert given_config_values(p.parse_args(argv), cls, prefix=prefix)[field.name] == expected, field.name
