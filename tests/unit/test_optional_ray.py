"""Ray is optional: one module imports it (apex_demo/folder/ray_job.py), and nothing imports that module
but the `--engine ray` path of `score`, through the folder package's lazy face."""

from __future__ import annotations

import tomllib

from tests.support import REPO
from tests.unit.test_layers import MODULES, PACKAGE, imports_of


def test_only_the_ray_job_imports_ray_and_only_the_ray_engine_reaches_it() -> None:
    importers = {str(path.relative_to(PACKAGE)) for path in MODULES
                 for module, _ in imports_of(path) if module.split(".")[0] == "ray"}
    assert importers == {"folder/ray_job.py"}
    reachers = {str(path.relative_to(PACKAGE)) for path in MODULES for module, names in imports_of(path)
                if module.endswith("ray_job") or (module == "apex_demo.folder" and "score_on_ray" in names)}
    assert reachers == {"cli/score.py"}


def test_the_ray_extra_and_requirements_ray_pin_the_same_release() -> None:
    """`pip install "apex-demo[ray]"` and `pip install -r requirements-ray.txt` install the same Ray."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ray"]
    pins = [line.strip() for line in (REPO / "requirements-ray.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert extra == pins and all("==" in pin for pin in pins)
