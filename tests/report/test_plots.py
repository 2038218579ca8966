"""genqc/report/plots.py: figures are PNG bytes, None when there is nothing to draw, robust to bad values."""

from __future__ import annotations

import io

from PIL import Image

from genqc.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_training_curves_panel_per_group_wrapping_after_four() -> None:
    curves = {
        name: [(0.0, 1.0), (1.0, float("nan")), (2.0, 0.5)]
        for name in ("g/loss", "d/loss", "g/grad_norm", "lr/g", "images_per_s", "d/d_real")
    }
    png = plots.training_curves(curves, title="dcgan")
    assert png is not None and png.startswith(PNG)
    width, height = _size(png)
    assert width == int(4 * 3.2 * plots.DPI) and height > 2 * 2.6 * plots.DPI  # 5 groups: 4 columns, 2 rows
    assert plots.training_curves({}, title="x") is None


def test_evaluation_plots_draw_and_skip_empty_input() -> None:
    histogram = [{"class": c, "real": 0.5, "generated": 0.5} for c in range(2)]
    spectrum = [{"frequency": f, "real": 1.0 / (f + 1), "generated": None} for f in range(5)]  # a null: skipped
    prdc = [{"metric": "precision_classifier", "value": 0.7, "floor": 0.8}, {"metric": "recall", "value": "bad"}]
    for png in (
        plots.class_histogram([("dcgan", histogram)], {0: "zero"}),
        plots.power_spectra([("dcgan", spectrum)]),
        plots.prdc_bars([("dcgan", prdc)]),
    ):
        assert png is not None and png.startswith(PNG)
    assert plots.class_histogram([("dcgan", [])], {}) is None
    assert plots.power_spectra([]) is None
    assert plots.prdc_bars([("dcgan", [{"metric": "x", "value": None}])]) is None
