"""placeholder: filled in by the decoding work."""


def register(sub):
    """Register the `decoding` sub-commands."""
