"""ensemblekd.decoding."""

__all__: list[str] = []
