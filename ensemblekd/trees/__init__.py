"""ensemblekd.trees."""

__all__: list[str] = []
