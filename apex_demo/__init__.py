"""APEX demo: score AI-generated songs with MERT-v1-95M + the APEX head.

Nothing heavy happens at import: models load through `apex_demo.scoring.get_scorer`.
"""

__version__ = "0.1.0"
