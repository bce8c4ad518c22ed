"""An independent re-statement of the authors' APEX code, for tests and the benchmark only.

Nothing here imports `apex_demo`: the classes keep the authors' module names
(AMAAI-Lab/apex train.py / inference.py), the scoring loop follows their
inference.py step by step, and MERT model folders are written from the published
file layout in mert_v1_95m_files.json. Expected values in the tests come from
here, so a naming or numerics mistake in apex_demo cannot hide in its own fixtures.
"""
