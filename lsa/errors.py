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


class ReadError(LsaError, OSError):
    """A data file cannot be read: missing, a folder, empty, truncated, not in the format its
    extension says, or of a type lsa does not read. The message names the file and what is wrong."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class NotEnoughMemoryError(LsaError, MemoryError):
    """A requested step needs more memory than is available; the message gives the estimate of the
    bytes needed, checked before the step starts (:mod:`lsa.io_memory`)."""


class LsaWarning(UserWarning):
    """Base class of lsa warnings."""


class ConvergenceWarning(LsaWarning):
    """An iterative fit stopped before its convergence criterion was met."""


class MissingDataWarning(LsaWarning):
    """Rows were excluded for missing values, or a statistic is undefined in a group."""


class SeparationWarning(ConvergenceWarning):
    """A logistic or Poisson fit shows (quasi-)complete separation: fitted probabilities or means at
    their bounds and coefficients diverging; the estimates of the named terms are not finite in
    the limit and their standard errors are meaningless."""


class PseudoLikelihoodWarning(LsaWarning):
    """A likelihood-based test was asked of a weighted (pseudo-likelihood) fit, where its reference
    distribution does not hold."""


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside lsa (the user's
    call), as pandas' ``find_stack_level`` does; counted from the caller of :func:`warn`."""
    import inspect
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 0
    try:
        frame = frame.f_back.f_back           # the caller of warn()
        level = 1
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
            frame, level = frame.f_back, level + 1
        return level
    finally:
        del frame


def warn(message: str, category: type[Warning] = LsaWarning) -> None:
    """Issue ``message`` as a warning attributed to the user's line, not to lsa's internals."""
    import warnings

    warnings.warn(message, category, stacklevel=user_stacklevel() + 1)
