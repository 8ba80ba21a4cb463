"""Parameters serializers share one deep copy of their declared fields per class
(smartbasket/api/parameters.py): each instance still validates, fails and binds on its own."""

from rest_framework import serializers

from smartbasket.api.parameters import ParametersSerializer


class Parameters(ParametersSerializer):
    kind = serializers.ChoiceField(choices=["a", "b"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=20)
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=3)


def test_instances_validate_independently_with_fields_bound_to_themselves() -> None:
    good = Parameters(data={"kind": "a", "limit": "5", "ids": ["1", "2"]})
    bad = Parameters(data={"kind": "z", "limit": "0", "ids": ["1", "-4", "5", "6"]})
    defaults = Parameters(data={})

    assert good.is_valid() and defaults.is_valid()
    assert not bad.is_valid()
    assert good.validated_data == {"kind": "a", "limit": 5, "ids": [1, 2]}
    assert defaults.validated_data == {"limit": 20}
    assert set(bad.errors) == {"kind", "limit", "ids"}
    assert good.fields["limit"].parent is good and bad.fields["limit"].parent is bad
    assert good.fields["limit"] is not bad.fields["limit"]


def test_a_field_is_deep_copied_once_per_class_not_per_instance() -> None:
    first, second = Parameters(data={}), Parameters(data={})

    assert first.fields["kind"].choices is second.fields["kind"].choices
    assert first.fields["kind"] is not Parameters._declared_fields["kind"]
