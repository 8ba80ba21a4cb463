from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Connects the receivers that revoke refresh tokens on a password change or a deactivation, and the
        # ones that replace a changed user's cached API row by a tombstone.
        from accounts import signals, user_cache  # noqa: F401

        # Registers the deploy check that warns when production would write its mail to the log.
        from accounts.mail import checks  # noqa: F401
