"""argparse options from the job schema (`diffpaint_shared.jobschema`): every command that takes a job
setting (`reconstruct`, `refine`, `stylize`, `batch`, `sequence`) takes it as the same option, with the
schema's type, default, bounds, choices and help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from diffpaint_shared.jobschema import SETTING, SETTINGS, JobSettings, Setting


def add_setting(parser: argparse.ArgumentParser, name: str, **overrides: Any) -> None:
    """The job setting ``name`` as option ``--name`` (``time_budget`` as ``--time-budget``); ``overrides``
    replaces any of its argparse arguments (a command's own help, say)."""
    setting = SETTING[name]
    flag = "--" + name.replace("_", "-")
    help_text = overrides.pop("help", setting.help)
    default = overrides.pop("default", setting.default)
    if setting.type is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                            help=f"{help_text} (default {'on' if default else 'off'})", **overrides)
        return
    shown = default if default or not setting.path else "none"
    options: dict[str, Any] = {"type": setting_value(setting), "default": default,
                               "help": help_text if overrides.get("required") else f"{help_text} (default {shown})"}
    if setting.path:
        options["metavar"] = "PATH"
    if setting.choices:
        options["choices"] = setting.choices
    parser.add_argument(flag, dest=name, **{**options, **overrides})


def setting_value(setting: Setting) -> Callable[[str], Any]:
    """An argparse type: the text as the setting's type, refused with the schema's own words when out of bounds."""
    def parse(text: str) -> Any:
        try:
            value = setting.type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{setting.name} must be {setting.type.__name__}, not {text!r}") from None
        problem = setting.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def job_settings(args: argparse.Namespace) -> JobSettings:
    """The job settings parsed into ``args``, those its command does not offer at their defaults;
    ValueError naming what is wrong with them together (a budget too small for the levels)."""
    job = JobSettings(**{s.name: getattr(args, s.name) for s in SETTINGS if hasattr(args, s.name)})
    problems = job.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return job


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):  # `not >=` also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, not {text}")
    return value
