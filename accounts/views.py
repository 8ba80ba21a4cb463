from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import selectors, services
from accounts.forms import ProfileForm, SettingsForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect(selectors.user_landing_url(user=request.user))


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = selectors.user_for_profile(user_id=request.user.pk)
    if request.method == "POST":
        form = ProfileForm(request.POST, user=user)
        if form.is_valid():
            services.user_update_profile(user=user, **form.cleaned_data)
            messages.success(request, "Your profile has been saved.")
            return redirect("accounts:profile")
    else:
        form = ProfileForm(
            user=user,
            initial={"first_name": user.first_name, "last_name": user.last_name, "email": user.email},
        )
    context = {
        "form": form,
        "profile_user": user,
        "organisation": selectors.user_organisation(user=user),
    }
    return render(request, "accounts/profile.html", context)


@login_required
def settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            services.user_update_settings(user=user, **form.cleaned_data)
            messages.success(request, "Your settings have been saved.")
            return redirect("accounts:settings")
    else:
        form = SettingsForm(
            initial={
                "items_per_page": user.items_per_page,
                "email_opt_in": user.email_opt_in,
                "email_order_confirmations": user.email_order_confirmations,
            }
        )
    return render(request, "accounts/settings.html", {"form": form})
