import os

from django.core.wsgi import get_wsgi_application

from smartbasket.env import load_env_file
from smartbasket.static_manifest import require_static_manifest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
# Before Django reads the settings: `.env` fills in what the environment leaves unset (smartbasket/env.py).
load_env_file()
application = get_wsgi_application()
# Refuse to serve rather than answer 500 on every page that links a static file.
require_static_manifest()
