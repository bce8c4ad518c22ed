"""One resolver for model sources: a file, a local folder, or a Hugging Face Hub repo id.

Hub downloads go to the standard Hugging Face cache (HF_HOME / HF_HUB_CACHE),
which is what Spaces' `preload_from_hub` fills, so a Space starts warm.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import huggingface_hub
from huggingface_hub import errors as hub_errors

from apex_demo.errors import ErrorCode, ModelError

REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LIBRARY_NAME = "apex_demo"


def is_repo_id(source: str) -> bool:
    """True for 'owner/name' strings that are not an existing local path."""
    return bool(REPO_ID_PATTERN.match(source)) and not Path(source).expanduser().exists()


def resolve_file(source: str, candidates: Sequence[str], revision: str | None, what: str,
                 env_var: str, token: str | None = None) -> Path:
    """Local path of the first of `candidates` found in a folder or Hub repo.

    `source` may also be a file, which is returned as it is. `what` and
    `env_var` make the error messages say which model failed and how to fix it.
    """
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for name in candidates:
            if (path / name).is_file():
                return path / name
        present = sorted(p.name for p in path.iterdir())
        raise ModelError(f"{what} folder {path} holds none of {list(candidates)}; it holds {present}. "
                         f"Point {env_var} at a folder with the model files.", ErrorCode.MODEL_NOT_FOUND)
    if not is_repo_id(source):
        raise ModelError(f"{what} {source!r} is neither an existing file or folder nor a Hugging Face Hub "
                         f"repo id (owner/name). Fix {env_var} (or the matching CLI flag).",
                         ErrorCode.MODEL_NOT_FOUND)
    return _download_first(source, candidates, revision, what, env_var, token)


def _cached_first(repo_id: str, candidates: Sequence[str], revision: str | None) -> Path | None:
    """A candidate already in the local HF cache (e.g. preloaded on Spaces) wins over a download."""
    for name in candidates:
        found = huggingface_hub.try_to_load_from_cache(repo_id, name, revision=revision)
        if isinstance(found, str):
            return Path(found)
    return None


def _download_first(repo_id: str, candidates: Sequence[str], revision: str | None, what: str,
                    env_var: str, token: str | None) -> Path:
    cached = _cached_first(repo_id, candidates, revision)
    if cached is not None:
        return cached
    at = f"{repo_id}@{revision}" if revision else repo_id
    for name in candidates:
        try:
            local = huggingface_hub.hf_hub_download(repo_id, name, revision=revision, token=token,
                                                    library_name=LIBRARY_NAME)
            return Path(local)
        except hub_errors.RemoteEntryNotFoundError:
            continue
        except hub_errors.LocalEntryNotFoundError:
            raise ModelError(
                f"Cannot reach the Hugging Face Hub to download {what} {at} ({name}), and it is not in "
                f"the local cache. Check the connection (and HF_HUB_OFFLINE), or copy the model "
                f"elsewhere with `hf download {repo_id} --local-dir DIR` and set {env_var}=DIR.",
                ErrorCode.HUB_UNREACHABLE) from None
        except hub_errors.RevisionNotFoundError:
            raise ModelError(f"{what} repo {repo_id} has no revision {revision!r}. Use an existing "
                             f"branch, tag or commit.", ErrorCode.MODEL_NOT_FOUND) from None
        except (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError):
            raise ModelError(
                f"{what} {repo_id!r} was not found on the Hugging Face Hub (or it is private/gated: set "
                f"HF_TOKEN). Check the id, or set {env_var} to a local folder.",
                ErrorCode.MODEL_NOT_FOUND) from None
        except (hub_errors.HfHubHTTPError, OSError) as exc:
            raise ModelError(
                f"Cannot download {what} {at} ({name}) from the Hugging Face Hub: {exc}. Retry later, "
                f"or set {env_var} to a local copy.", ErrorCode.HUB_UNREACHABLE) from None
    raise ModelError(f"{what} repo {at} has none of the files {list(candidates)}. Check the repo id.",
                     ErrorCode.MODEL_NOT_FOUND)
