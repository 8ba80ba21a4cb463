"""Publish, roll back, prune and delete model versions.

A version goes live by flipping the active pointer in one transaction; versions that no longer serve keep
their rows for an instant rollback until they are pruned.
"""

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from recommendations.artifacts import model_version_artifacts_remove
from recommendations.models import ModelVersion
from recommendations.precompute import model_version_rows_delete

# Non-active versions whose rows are kept for an instant rollback; older ones are pruned.
RETAINED_VERSIONS = 2


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Flip the active pointer in one transaction; readers see the old version or the new, never a mix."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelVersion.Status.ACTIVE:
        return version
    if (
        version.status not in (ModelVersion.Status.CANDIDATE, ModelVersion.Status.RETIRED)
        or version.pruned_at
    ):
        raise ValidationError(
            f"v{version.pk} is {version.get_status_display().lower()} and cannot be activated."
        )
    # Retire first: the partial unique index allows only one active row at any instant.
    ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.ACTIVE
    version.activated_at = timezone.now()
    version.save(update_fields=["status", "activated_at"])
    return version


@transaction.atomic
def model_version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
    previous = (
        ModelVersion.objects.filter(
            status=ModelVersion.Status.RETIRED, activated_at__isnull=False, pruned_at__isnull=True
        )
        .exclude(pk=current.pk if current else None)
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise ValidationError("There is no previous version with its rows still available to roll back to.")
    return model_version_activate(version=previous)


def failed_version_discard(*, version: ModelVersion) -> None:
    """A failed version never serves: its rows and artifact files go at once, its record and error stay."""
    if version.pruned_at is None:
        # Its shards go too: a failed version is never completed.
        version.precompute_shards.all().delete()
        model_version_rows_delete(version=version)
        ModelVersion.objects.filter(pk=version.pk, pruned_at__isnull=True).update(pruned_at=timezone.now())
    model_version_artifacts_remove(version=version)


def model_versions_prune(*, keep: int = RETAINED_VERSIONS) -> list[int]:
    """Delete rows and artifacts of all but the `keep` newest non-active versions, and of every failed version
    (one that failed before its files were cleared, or whose clean-up was interrupted); their records stay."""
    stale = ModelVersion.objects.filter(
        status__in=[ModelVersion.Status.RETIRED, ModelVersion.Status.CANDIDATE], pruned_at__isnull=True
    ).order_by("-created_at", "-id")[keep:]
    pruned = []
    for version in stale:
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if locked.status == ModelVersion.Status.ACTIVE:
                continue
            model_version_rows_delete(version=locked)
            locked.pruned_at = timezone.now()
            locked.save(update_fields=["pruned_at"])
        model_version_artifacts_remove(version=version)
        pruned.append(version.pk)
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.FAILED):
        failed_version_discard(version=version)
    return pruned


# Versions that no longer serve and are not being built; staff may delete them from the admin.
DELETABLE_STATUSES = (ModelVersion.Status.FAILED, ModelVersion.Status.RETIRED, ModelVersion.Status.CANDIDATE)


def model_versions_deletion_refusal(*, versions: Iterable[ModelVersion]) -> str | None:
    """Why these versions may not be deleted, in words for staff; None when they all may."""
    refused = [version for version in versions if version.status not in DELETABLE_STATUSES]
    if not refused:
        return None
    names = ", ".join(f"v{version.pk} ({version.get_status_display().lower()})" for version in refused)
    return (
        f"{names} cannot be deleted: only failed, retired and candidate versions can. "
        "To delete the active version, activate or roll back to another one first."
    )


@transaction.atomic
def model_versions_delete(*, version_ids: Sequence[int]) -> list[int]:
    """Delete failed, retired or candidate versions with their rows and artifact files; returns their ids.

    Refuses (ValidationError, nothing deleted) when any of them is active or still being trained. Their
    training runs and feedback events stay, without the version. The files go only once the deletion has
    committed, so a rolled-back deletion keeps a version that can still be loaded.
    """
    versions = list(ModelVersion.objects.select_for_update().filter(pk__in=version_ids).order_by("pk"))
    refusal = model_versions_deletion_refusal(versions=versions)
    if refusal:
        raise ValidationError(refusal)
    # The cascade deletes each table's rows in one statement (nothing listens to their deletion) and nulls the
    # runs' and events' references in one UPDATE each, without loading them.
    ModelVersion.objects.filter(pk__in=[version.pk for version in versions]).delete()
    for version in versions:
        transaction.on_commit(lambda version=version: model_version_artifacts_remove(version=version))
    return [version.pk for version in versions]
