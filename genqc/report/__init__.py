"""The HTML report: load whatever pipeline outputs exist, plot them, render one self-contained page.

``load`` reads files into plain containers (never raising on a missing or damaged
file: it records what is missing and which stage makes it), ``plots`` turns data
into PNG bytes with matplotlib's Agg canvas, ``html`` renders the containers to
one HTML string with every image inlined. The stage module ``tasks/report.py``
knows the repository paths and wires them together.
"""
