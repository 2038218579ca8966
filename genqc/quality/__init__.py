"""Data quality and bias checks of image tables: row checks, duplicate search, balance statistics, the GX suite.

``validation.validate`` (exported as ``genqc.validate``) is the entry point. checks,
duplicates, balance, quarantine, suite and result are plain NumPy/pandas; project,
expectations and datadocs import Great Expectations at their top (seconds), so only
``validation`` imports them, inside the call that runs the suite.
"""
