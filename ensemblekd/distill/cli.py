"""``ensemblekd distill ...`` sub-commands (minimal group; each distill flow registers its command)."""


def register(sub):
    """Register the `distill` sub-commands."""
    p = sub.add_parser("distill", help="train one student on an ensemble's outputs")
    distill_sub = p.add_subparsers(dest="distill_command", metavar="COMMAND", required=True)
    from .mt.cli import register_mt
    from .parser.cli import register_parse, register_parser

    register_mt(distill_sub)
    register_parser(distill_sub)
    register_parse(sub)  # top-level `ensemblekd parse`
