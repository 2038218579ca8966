"""Data quality and bias checks of image tables: row checks, duplicate search, balance statistics, the GX suite.

Everything here except ``suite`` is plain NumPy/pandas; ``suite`` imports Great
Expectations inside its functions, because importing it costs seconds.
"""
