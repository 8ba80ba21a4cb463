"""The API shapes of the signed-in user and their retailer."""

from django.contrib.auth import password_validation
from rest_framework import serializers

from accounts.forms import ProfileForm
from accounts.models import Retailer, User


class RetailerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Retailer
        fields = ["id", "name", "city", "region", "country", "segment", "size"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    retailer = RetailerSerializer(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "items_per_page",
            "email_opt_in",
            "email_order_confirmations",
            "retailer",
        ]
        read_only_fields = ["id", "username", "role", "retailer"]


class MeUpdateSerializer(serializers.ModelSerializer):
    """The fields the portal's profile and settings pages edit, with the same rules (accounts.forms)."""

    class Meta:
        model = User
        fields = [
            "first_name",
            "last_name",
            "email",
            "items_per_page",
            "email_opt_in",
            "email_order_confirmations",
        ]
        extra_kwargs = {"email": {"required": True, "allow_blank": False}}

    def validate_email(self, value: str) -> str:
        # The profile form's rule: unique among people, or a password reset could reach the wrong person.
        form = ProfileForm(data={"email": value}, user=self.instance)
        form.is_valid()
        if "email" in form.errors:
            raise serializers.ValidationError(form.errors["email"])
        return form.cleaned_data["email"]


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate_old_password(self, value: str) -> str:
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("The current password is not correct.")
        return value

    def validate_new_password(self, value: str) -> str:
        password_validation.validate_password(value, self.context["user"])
        return value


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()
