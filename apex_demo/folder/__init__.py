"""Folder scoring: many songs into a results file that grows row by row and resumes, with decoding
ahead in worker processes and segments of several songs per encoder forward, or as a Ray Data job
on a cluster (ray_job; Ray is imported only there, on first use).

Its face is lazy (the names are listed in __init__.pyi and imported on first use).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
