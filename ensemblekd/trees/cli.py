"""placeholder: filled in by the trees work."""


def register(sub):
    """Register the `trees` sub-commands."""
