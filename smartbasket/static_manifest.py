"""With DEBUG off, static URLs come from collectstatic's manifest; without it every page would answer 500."""

from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured

MISSING_MANIFEST = (
    "The static files manifest is missing: run `manage.py collectstatic --noinput` before serving "
    "(scripts/production.sh does)."
)


def static_manifest_missing() -> bool:
    # `read_manifest` answers None when the manifest file does not exist.
    return isinstance(staticfiles_storage, ManifestFilesMixin) and staticfiles_storage.read_manifest() is None


def require_static_manifest() -> None:
    if static_manifest_missing():
        raise ImproperlyConfigured(MISSING_MANIFEST)
