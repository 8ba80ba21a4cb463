"""The OpenAPI 3 schema generated from the serializers, with Swagger UI and ReDoc served from our own static
files (drf-spectacular-sidecar): nothing is fetched from a CDN, so the documentation works offline.

The pages are public, as the schema describes no data. Swagger UI's configuration is served as a separate
script (the split view) so the page runs under our CSP without inline scripts; ReDoc injects its styles at run
time, so its page alone may use inline styles. Both draw their icons as data: images, which only these two
pages allow.
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

schema = SpectacularAPIView.as_view(permission_classes=[AllowAny])
swagger_ui = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-v1-schema", permission_classes=[AllowAny])
)
redoc = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"], "img-src": ["data:"]})(
    SpectacularRedocView.as_view(url_name="api-v1-schema", permission_classes=[AllowAny])
)
