from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import User


class LoginForm(AuthenticationForm):
    """Django's login form with the attributes password managers and mobile keyboards expect."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(help_text="Order confirmations and reminders go to this address.")

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        # The email must stay unique among people, or password resets could reach the wrong person.
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exclude(pk=self.user.pk).exists():
            raise forms.ValidationError("Another account already uses this email address.")
        return email


class SettingsForm(forms.Form):
    items_per_page = forms.TypedChoiceField(
        choices=User.ItemsPerPage.choices,
        coerce=int,
        label="Rows per page",
        help_text="How many products or orders long lists show at once.",
    )
    email_opt_in = forms.BooleanField(
        required=False,
        label="Email me when regular products are due for reorder",
        help_text="A weekly digest of what is due, sent on Mondays.",
    )
    email_order_confirmations = forms.BooleanField(
        required=False,
        label="Email me a confirmation of each order placed for my shop",
    )
