"""Retrain, evaluate, precompute and (champion/challenger) publish the recommendation model.

With a broker configured (REDIS_URL) the run is queued for a worker; otherwise, or with --in-process, it runs
here and prints its progress.
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations import services
from recommendations.models import TaskOutbox, TrainingRun


class Command(BaseCommand):
    help = "Retrain the recommendation model and publish it if it is not worse than the active one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--in-process", action="store_true", help="run here even when a broker is set")
        parser.add_argument("--cutoff", help="train on orders placed up to this ISO date-time only")
        parser.add_argument(
            "--hybrid-params",
            default="{}",
            help='JSON keyword arguments for HybridRecommender, e.g. \'{"neural": {"epochs": 2}}\'',
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            hybrid = json.loads(str(options["hybrid_params"]))
        except json.JSONDecodeError as exc:
            raise CommandError(f"--hybrid-params is not valid JSON: {exc}") from None
        if not isinstance(hybrid, dict):
            raise CommandError("--hybrid-params must be a JSON object")
        parameters = {"hybrid": hybrid} | ({"cutoff": options["cutoff"]} if options["cutoff"] else {})

        if settings.REDIS_URL and not options["in_process"]:
            run = services.retrain_enqueue(trigger=TrainingRun.Trigger.COMMAND, parameters=parameters)
            if TaskOutbox.objects.filter(
                celery_task_id=run.celery_task_id, delivered_at__isnull=True
            ).exists():
                # Recorded in the outbox with the run; the periodic delivery sends it once Redis answers.
                self.stdout.write(
                    f"Training run #{run.pk} is recorded but Redis did not answer: it goes to a worker as"
                    " soon as Redis is back (queued tasks are delivered every 30 s)."
                )
                return
            self.stdout.write(f"Queued training run #{run.pk}; follow it in the admin (Training runs).")
            return

        run = services.training_run_create(trigger=TrainingRun.Trigger.COMMAND, parameters=parameters)
        try:
            run = services.training_run_execute(run_id=run.pk, echo=self.stdout.write)
        except services.RetrainRefused as refusal:
            services.training_run_refuse(run_id=run.pk, reason=str(refusal))
            raise CommandError(f"Training run #{run.pk} not started: {refusal}") from None
        except Exception as exc:
            raise CommandError(f"Training run #{run.pk} failed: {exc}") from exc
        version = run.model_version
        self.stdout.write(
            self.style.SUCCESS(
                f"Training run #{run.pk} finished in {run.duration:.1f}s: v{version.pk} {version.status}"
            )
        )
        self.stdout.write(version.decision)
