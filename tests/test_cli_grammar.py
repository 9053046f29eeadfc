"""The command-line grammar of CONTRIBUTING.md, checked over every sub-command's parser of
``theory.symbolic``, ``landscape``, ``engine``, ``paper`` and ``figures``."""

import argparse

import pytest

import theory
from theory import _cli
from theory.engine import cli as engine
from theory.figures import cli as figures
from theory.landscape import cli as landscape
from theory.paper import cli as paper
from theory.symbolic import cli as symbolic

PROGRAMS = {"symbolic": symbolic, "landscape": landscape, "engine": engine, "paper": paper,
            "figures": figures}
# output that is a document or files, not data (CONTRIBUTING.md, rule 4)
NOT_DATA = {("paper", "summary"), ("paper", "repro"), ("figures", None)}
# where randomness enters (rule 7); every other command draws nothing at random, and the
# paper sweep's seeds are part of its plan (--seeds)
RANDOM = {("landscape", c) for c in ("surface", "train", "curves", "sweep", "collapse",
                                     "effective", "precondition")} | \
    {("engine", c) for c in ("train", "eval", "bench", "episode")} | {("figures", None)} | \
    {("paper", "ship")}
NOT_RANDOM = {("symbolic", "derive"), ("symbolic", "report"), ("engine", "adapt")} | \
    {("paper", c) for c in ("plan", "run", "status", "summary", "repro")}


def _commands():
    """``[(program, command, parser)]`` of every sub-command (``None``: a program without
    sub-commands)."""
    out = []
    for name, module in PROGRAMS.items():
        parser = module.build_parser()
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out.append((name, None, parser))
        for sub in subs:
            out += [(name, command, p) for command, p in sub.choices.items()]
    return out


COMMANDS = _commands()
IDS = [f"{p}-{c}" for p, c, _ in COMMANDS]


def _options(parser):
    return {opt: a for a in parser._actions for opt in a.option_strings}


def test_every_command_is_classified_for_randomness():
    found = {(p, c) for p, c, _ in COMMANDS}
    assert found == RANDOM | NOT_RANDOM and not RANDOM & NOT_RANDOM


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_program_is_python_m_theory_and_prints_its_version(name, capsys):
    parser = PROGRAMS[name].build_parser()
    assert parser.prog == _cli.PROG.format(name) == f"python -m theory.{name}"
    assert PROGRAMS[name].main.prog == parser.prog
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"theory {theory.__version__}\n"


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_every_option_and_argument_has_help(program, command, parser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS and action.help.strip(), \
            f"{program} {command}: {name} has no help"


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_json_wherever_the_output_is_data(program, command, parser):
    options = _options(parser)
    if (program, command) in NOT_DATA:
        assert "--json" not in options
        return
    assert isinstance(options.get("--json"), argparse._StoreTrueAction), \
        f"{program} {command} has no --json"
    if "--format" in options:
        assert "json" in options["--format"].choices
        args = parser.parse_args(_required(parser) + ["--format", "json"])
        assert _cli.output_format(args) == "json"
        assert _cli.output_format(parser.parse_args(_required(parser) + ["--json"])) == "json"


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_out_is_always_a_folder(program, command, parser):
    out = _options(parser).get("--out")
    if out is not None:
        assert out.metavar == "DIR" and "folder" in out.help, f"{program} {command}"


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_progress_bars_are_shown_by_default_and_hidden_by_no_progress(program, command,
                                                                     parser):
    options = _options(parser)
    if not {"--progress", "--no-progress"} & set(options):
        return
    action = options["--progress"]
    assert options["--no-progress"] is action and action.dest == "progress"
    assert isinstance(action, argparse.BooleanOptionalAction) and action.default is True
    assert parser.parse_args(_required(parser) + ["--no-progress"]).progress is False


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_seed_wherever_randomness_enters(program, command, parser):
    seed = _options(parser).get("--seed")
    if (program, command) in NOT_RANDOM:
        assert seed is None, f"{program} {command} draws nothing at random"
        return
    assert seed is not None, f"{program} {command} has no --seed"
    assert parser.parse_args(_required(parser) + ["--seed", "3"]).seed == 3
    with pytest.raises(SystemExit):
        parser.parse_args(_required(parser) + ["--seed", "-1"])


@pytest.mark.parametrize("program, command, parser", COMMANDS, ids=IDS)
def test_dataset_defaults_to_synthetic_everywhere(program, command, parser):
    dataset = _options(parser).get("--dataset")
    if dataset is not None:
        assert dataset.default == "synthetic", f"{program} {command}"


def _required(parser):
    """Values for the parser's required options, so that one more option can be parsed."""
    argv = []
    for action in parser._actions:
        if action.required and action.option_strings:
            argv += [action.option_strings[0], "x"]
    return argv
