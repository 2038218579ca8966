"""Is the domain classifier good enough to evaluate with? A verdict every classifier-space metric can read.

The classifier is the evaluation network behind ``fd_classifier``,
precision/recall/coverage in its space, the Inception-style score, mode coverage
and the class balance of samples. A weak classifier makes all of them weak, and
gates on them pass or fail by accident (one run scored 0.06 test accuracy and
the report said nothing). Two levels:

- below ``min_accuracy`` (``classifier.min_accuracy``): the stage prints a
  WARNING block and records ``evaluator_ok: false`` in data/classifier/metrics.json
  and inside the checkpoint's metrics, where evaluate, the report and
  ``genqc metrics --extractor classifier`` can read it next to the weights;
- no better than always answering the test split's most frequent class: the
  classifier has learnt nothing, every number in its space is noise, and the
  stage exits 1 (after writing its outputs for inspection) instead of letting
  the pipeline spend its evaluation on it. That floor needs no tuning: it is the
  accuracy of a constant guess on the very test split being scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVALUATOR_OK = "evaluator_ok"  # metrics key: True when test accuracy >= classifier.min_accuracy
MIN_ACCURACY = "min_accuracy"  # metrics key: the threshold the verdict used
BASELINE_ACCURACY = "baseline_accuracy"  # metrics key: accuracy of always guessing the most frequent test class


@dataclass(frozen=True)
class AccuracyVerdict:
    accuracy: float
    min_accuracy: float
    baseline: float  # accuracy of a constant guess: the most frequent test class's share

    @property
    def ok(self) -> bool:
        return self.accuracy >= self.min_accuracy

    @property
    def no_better_than_guessing(self) -> bool:
        return self.accuracy <= self.baseline

    def metrics(self) -> dict[str, float | bool]:
        return {EVALUATOR_OK: self.ok, MIN_ACCURACY: self.min_accuracy, BASELINE_ACCURACY: self.baseline}

    def warning(self) -> str:
        """The block the classifier stage prints when the verdict is not ok."""
        rule = "!" * 78
        return "\n".join(
            [
                rule,
                f"WARNING: the evaluation classifier's test accuracy {self.accuracy:.4f} is below "
                f"classifier.min_accuracy={self.min_accuracy:g}",
                "(a constant guess of the most frequent class scores "
                f"{self.baseline:.4f}). Every classifier-space metric (fd_classifier*, precision/recall/",
                "density/coverage_classifier, the Inception-style score, modes_covered_share, class_kl) and every",
                f"gate on them is unreliable; {EVALUATOR_OK}: false is recorded with them. Raise classifier.epochs",
                "or classifier.max_steps, check the labels, or lower classifier.min_accuracy for a hard dataset.",
                rule,
            ]
        )


def judge_accuracy(accuracy: float, test_labels: np.ndarray, *, min_accuracy: float) -> AccuracyVerdict:
    """The verdict on a classifier that scored ``accuracy`` on ``test_labels``."""
    labels = np.asarray(test_labels)
    if labels.size == 0:
        raise ValueError("judge_accuracy needs the test labels the accuracy was measured on")
    _, counts = np.unique(labels, return_counts=True)
    return AccuracyVerdict(float(accuracy), float(min_accuracy), float(counts.max() / labels.size))
