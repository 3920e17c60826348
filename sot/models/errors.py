"""Errors raised while building a model from parts."""


class IncompatiblePartsError(ValueError):
    """Two parts of a composition cannot work together. The message names them and says why."""
