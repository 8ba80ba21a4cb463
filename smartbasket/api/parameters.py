"""Serializers of request parameters, with their fields copied once per class instead of once per request.

DRF deep-copies every declared field for each serializer instance, which runs each field's `__init__` again
(and its validators'): for the two query parameters of a cached recommendation read, a tenth of the request's
time. A parameters serializer deep-copies its declared fields once, then gives each instance shallow copies
of them, which DRF binds to that instance as usual. The shallow copies share what a field never changes
after `__init__` (its choices, validators, a list field's child); what binding sets (name, parent) is each
copy's own, so a field's `parent`, `root` and `context` are the instance's.
"""

import copy
from typing import Any, ClassVar

from rest_framework import serializers


class ParametersSerializer(serializers.Serializer):
    _fields_template: ClassVar[dict[str, serializers.Field] | None] = None

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        template = cls.__dict__.get("_fields_template")
        if template is None:
            template = copy.deepcopy(self._declared_fields)
            cls._fields_template = template
        return {name: copy.copy(field) for name, field in template.items()}
