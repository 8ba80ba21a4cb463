"""The mobile JSON API's shared plumbing: URLs, errors, parsing limits, throttles, pagination and schema.

The endpoints themselves live in each app's `api.py` and call the same services and selectors as the HTML
views; this package only holds what every endpoint shares.
"""
