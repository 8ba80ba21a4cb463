from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.mail import services
from accounts.mail.unsubscribe import subscription_from_token


# No sign-in: the signed token is the authority. CSRF-exempt because a mail client's one-click unsubscribe
# (RFC 8058) POSTs to this URL with no token of ours; a forged POST could only unsubscribe the link's owner.
# GET never changes anything, so a mail scanner that follows links unsubscribes nobody.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscription = subscription_from_token(token=token)
    if subscription is None:
        return render(request, "accounts/mail/unsubscribe_invalid.html", status=400)
    if request.method == "POST":
        services.email_unsubscribe(subscription=subscription)
        return render(request, "accounts/mail/unsubscribed.html", {"subscription": subscription})
    return render(request, "accounts/mail/unsubscribe.html", {"subscription": subscription})
