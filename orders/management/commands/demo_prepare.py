"""Everything `make demo` (scripts/demo.sh) does before it serves, in one process.

Each `manage.py` start costs Django's start-up (1.5 s of CPU, ten times that in wall time on a loaded 2-core
machine), and the first page waits for all of them: migrating, building the demo world when it is missing,
closing a training run that a stopped demo left marked running and printing the logins used to be five
starts. The exit status tells the script whether a model version is active (0) or the first one must be
trained (EXIT_NEEDS_TRAINING).
"""

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES
from recommendations.interface import active_version, training_runs_orphaned_fail

EXIT_NEEDS_TRAINING = 3


class Command(BaseCommand):
    help = "Migrate, build the demo world if missing and print the logins; exit 3 when no model is active."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the demo will answer")

    def handle(self, *args: object, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout)
        if User.objects.filter(username__in=DEMO_USERNAMES.values()).exists():
            self.stdout.write("Demo world already built.")
        else:
            call_command("seed_demo", stdout=self.stdout)
        if not settings.REDIS_URL:
            # On the embedded default only the demo's own training process trains, and it is not started yet.
            closed = training_runs_orphaned_fail()
            if closed:
                self.stdout.write(f"Closed {closed} training run(s) left running by a demo that was stopped.")
        active = active_version() is not None
        self.stdout.write(f"\nSmartBasket is at {options['url']}  (Ctrl-C stops it)")
        for role, username in DEMO_USERNAMES.items():
            self.stdout.write(f"  {role:<9} username {username:<14} password {DEMO_PASSWORD}")
        if not active:
            sys.exit(EXIT_NEEDS_TRAINING)
