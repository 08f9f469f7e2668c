"""ensemblekd.distill."""

__all__: list[str] = []
