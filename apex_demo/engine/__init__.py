"""The scoring engine: one song in, scores out (decode, MERT, the APEX head, cache, results, the report).

No gradio, no votes. Its face is lazy (the names are listed in __init__.pyi and imported on first
use), so reading a result or ranking takes never loads torch; scoring does.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
