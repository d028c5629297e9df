"""The command line's shared parsing pieces: argument types, exit codes, errors.

Every sub-command module (:mod:`.train`, :mod:`.predict`, :mod:`.plugins`,
:mod:`.export`, :mod:`.spec`) adds its own sub-parser with ``add_parser(subparsers)``;
:func:`deltarule.cli.build_parser` puts them together.
"""

from __future__ import annotations

import argparse

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C; the work is saved


class Parser(argparse.ArgumentParser):
    """argparse, with errors in deltarule's one format and status 2."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"deltarule: error: {message}\n"
                              f"(run '{self.prog} --help' to see the options)\n")


def parse_widths(option: str, example: str):
    """An argparse type for comma-separated layer widths."""

    def parse(text: str) -> list[int]:
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} takes comma-separated widths such as {example}, got {text!r}"
            ) from None

    return parse


def parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"--seed takes a whole number ≥ 0, got {text!r}")
    return seed


def parse_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def parse_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` for ``--option``: VALUE read as JSON (``3``, ``0.5``,
    ``true``, ``null``, ``"text"``), else kept as text."""
    import json

    name, eq, raw = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"--option takes NAME=VALUE such as min_delta=0.001, got {text!r}"
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def data_selection(parser) -> None:
    parser.add_argument("--target", type=parse_names, metavar="COL[,COL...]",
                        help="target column(s) to leave out of the inputs")
    parser.add_argument("--columns", type=parse_names, metavar="COL[,COL...]",
                        help="the input columns (default: all but the targets)")
