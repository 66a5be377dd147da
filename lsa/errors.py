"""One exception hierarchy for lsa.

Every error raised for bad user input is an :class:`LsaError`; messages name the argument
or column, the value received and what is allowed.
"""


class LsaError(Exception):
    """Base class of all lsa errors."""


class DesignError(LsaError, ValueError):
    """A survey design is inconsistent: weights, ids, plausible values or replicates."""


class StudyError(DesignError, KeyError):
    """An unknown study or cycle, or data that lack the columns a study needs."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FormulaError(LsaError, ValueError):
    """A model formula cannot be parsed or evaluated against the data."""


class EstimationError(LsaError, RuntimeError):
    """An estimate cannot be computed (for example a singular design matrix)."""


class LsaWarning(UserWarning):
    """Base class of lsa warnings."""


class ConvergenceWarning(LsaWarning):
    """An iterative fit stopped before its convergence criterion was met."""


class MissingDataWarning(LsaWarning):
    """Rows were excluded for missing values, or a statistic is undefined in a group."""
