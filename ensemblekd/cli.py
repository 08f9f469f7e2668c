"""Command line: ``ensemblekd <group> <command> ...`` (also ``python -m ensemblekd``).

The CLI is thin: each concept registers its own sub-commands (``register(subparsers)`` in the
modules below) and every handler parses arguments into a config and makes one library call.
Handlers import torch/transformers lazily, so ``ensemblekd --help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# modules that define ``register(subparsers)``; their order is the order in ``--help``
COMMAND_MODULES = (
    "ensemblekd.trees.cli",
    "ensemblekd.deps.cli",
    "ensemblekd.decoding.cli",
    "ensemblekd.decoding.vocab",
    "ensemblekd.distill.cli",
    "ensemblekd.demo",
)


class UsageError(Exception):
    """Bad input the user can fix; printed as ``ensemblekd: error: ...`` with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from ensemblekd import __version__

    parser = argparse.ArgumentParser(prog="ensemblekd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ensemblekd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        # library errors name the file/line/argument; show them without a traceback
        print(f"ensemblekd: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `ensemblekd trees average ... | head`
        return 0
    except KeyboardInterrupt:
        print("ensemblekd: interrupted (finished work is kept; rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
