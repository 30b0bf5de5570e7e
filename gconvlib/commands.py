"""The ``gconv`` command's table: the modules that register sub-commands, and shared groups.

:func:`gconvlib.cli.make_parser` asks every module of :data:`EXTENSIONS`, in this order, to add its
sub-commands (``add_subcommands(subparsers)``). A group of sub-commands that several modules fill
(``gconv bench train`` from the training package, ``gconv bench gc2l`` from the measuring one) is
made or found by :func:`subcommand_group`, so no package imports another package's command line.
This module imports nothing of gconvlib.
"""
from __future__ import annotations

import argparse

#: modules with ``add_subcommands(subparsers)``, in the order their commands are listed
EXTENSIONS = ("gconvlib.measure.cli", "gconvlib.train.cli", "gconvlib.parallel.cli", "gconvlib.plan",
              "gconvlib.chapters._claims")


def subcommand_group(subparsers, name: str, help: str):
    """The sub-command group under ``gconv <name>``: made on first use (with ``help``), found after."""
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help)
        return parser.add_subparsers(dest=f"{name}_command", required=True)
    for action in parser._actions:  # argparse keeps a parser's sub-command group among its actions
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", required=True)


__all__ = ["EXTENSIONS", "subcommand_group"]
