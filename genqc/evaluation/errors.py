"""Why an evaluation could not give its numbers: the settings (exit 2) or the data (exit 1).

Both subclass ValueError, so a library caller can catch either as before; the
stage and ``genqc metrics`` tell them apart. Sizes that are too small for the
settings (k neighbours, FD∞'s subsets) and knobs out of range are fixed in the settings,
so the stage names the params keys. A metric that cannot give a finite number for these images, or
features that are not real finite numbers, is the data's fault: exit 1, naming
the metric.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from genqc.errors import DataError, GenqcError


class EvaluationSettingsError(ValueError):
    """The settings do not fit the image sets (k neighbours above a set's size, too few rows for FD∞) or are
    out of range: change the sizes or the knobs."""


class MetricFailure(DataError, ValueError):
    """A metric gave no finite number for these inputs (non-finite, complex or degenerate data): exit 1."""


@contextmanager
def metric_failures() -> Iterator[None]:
    """Re-raise any ValueError from the metric code inside as :class:`MetricFailure`.

    Settings and sizes are checked before any metric runs (:func:`genqc.evaluation.policy.check_settings`),
    so a ValueError raised while computing is about the data: NaN or complex features, a
    result that is not finite.
    """
    try:
        yield
    except (EvaluationSettingsError, GenqcError):
        raise
    except ValueError as exc:
        raise MetricFailure(str(exc)) from exc
