"""The arena: votes in, knowledge out (records, the vote store and its Hub log, the pool, loudness-matched
blind copies, pairing, the rules, voter trust, the battle service, statistics, the model learned from votes,
the data release, the authors' table). No gradio.

Its face is lazy (the names are listed in __init__.pyi and imported on first use).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
