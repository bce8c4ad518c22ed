"""Plotly figures: pure functions from numbers to figures, no I/O, each with a plain-text twin for
screen readers where it shows scores.

Its face is lazy (the names are listed in __init__.pyi and imported on first use).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
