"""A model version's artifact files: checked and loaded (workers only), removed with the version.

The ML core is imported inside functions only: web processes import this module (through the refresh that
follows an order) and must never load TensorFlow.
"""

import hashlib
import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from recommendations.models import ModelVersion


def artifact_digest(path: str | Path) -> str:
    """The sha256 HybridRecommender.save returns: over the checksums of each member and of the blend."""
    from recommendations.ml.artifacts import CHECKSUM_FILE

    path = Path(path)
    members = json.loads((path / "hybrid" / "params.json").read_text())["values"]["member_names"]
    parts = [(path / "members" / name / CHECKSUM_FILE).read_text().strip() for name in members]
    parts.append((path / "hybrid" / CHECKSUM_FILE).read_text().strip())
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@lru_cache(maxsize=2)
def _load_checked(path: str, sha256: str) -> Any:
    recorded = artifact_digest(path)
    if recorded != sha256:
        raise ValidationError(f"Artifact {path} has checksum {recorded}, the registry expects {sha256}.")
    from recommendations.ml.hybrid import HybridRecommender

    # load() recomputes each part's digest from its files and refuses modified or truncated bundles.
    return HybridRecommender.load(path)


def model_version_load(*, version: ModelVersion) -> Any:
    if not version.artifact_path or version.pruned_at:
        raise ValidationError(f"v{version.pk} has no artifact to load.")
    return _load_checked(version.artifact_path, version.artifact_sha256)


def model_version_artifacts_remove(*, version: ModelVersion) -> None:
    """The version's artifact directory: the recorded one, and the default one that a save failing midway
    (before the path was recorded) may have left."""
    for path in {version.artifact_path, str(Path(settings.ARTIFACTS_DIR) / str(version.pk))} - {""}:
        shutil.rmtree(path, ignore_errors=True)
