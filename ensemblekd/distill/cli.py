"""placeholder: filled in by the distill work."""


def register(sub):
    """Register the `distill` sub-commands."""
