"""Retrain, evaluate, precompute and (champion/challenger) publish the recommendation model.

With a broker configured (REDIS_URL) the run is queued for a worker; otherwise, or with --in-process, it runs
here and draws a progress bar per stage. `--run <id>` runs a training run created elsewhere (the admin's
"Retrain now" on the embedded default starts this in a process of its own). `--resume-precompute <version>`
completes a precompute that a failing shard stopped.
"""

import json
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommendations import reporting, training, training_runs
from recommendations.models import ModelVersion, TaskOutbox, TrainingRun
from recommendations.precompute import PrecomputeIncomplete

# Stage, share done, steps and time spent; no rate (a stage's steps take very different times).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}]"


class ConsoleProgress:
    """One tqdm bar per pipeline stage on `stream`; log lines are printed above the bars."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.stage = ""
        self.bar: tqdm | None = None

    def __call__(self, stage: str, step: int, steps: int) -> None:
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=steps, desc=stage, file=self.stream, leave=True, ascii=True, bar_format=BAR_FORMAT
            )
        self.bar.total = steps
        self.bar.update(step - self.bar.n)
        # A finished stage's bar stops its clock now, not when the next stage begins.
        if step >= steps:
            self.close()

    def line(self, message: str) -> None:
        tqdm.write(message, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Command(BaseCommand):
    help = "Retrain the recommendation model and publish it if it is not worse than the active one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--in-process", action="store_true", help="run here even when a broker is set")
        parser.add_argument("--run", type=int, dest="run_id", help="run this pending training run here")
        parser.add_argument(
            "--resume-precompute",
            type=int,
            metavar="VERSION",
            help="write the missing precompute shards of this version (its run failed in precompute), then"
            " publish it as its run decided",
        )
        parser.add_argument("--cutoff", help="train on orders placed up to this ISO date-time only")
        parser.add_argument(
            "--hybrid-params",
            default="{}",
            help='JSON keyword arguments for HybridRecommender, e.g. \'{"neural": {"epochs": 2}}\'',
        )

    def handle(self, *args: object, **options: Any) -> None:
        if options["resume_precompute"] is not None:
            self._resume(options["resume_precompute"])
            return
        if options["run_id"] is not None:
            if not TrainingRun.objects.filter(pk=options["run_id"]).exists():
                raise CommandError(f"There is no training run #{options['run_id']}.")
            self._execute(options["run_id"])
            return
        try:
            hybrid = json.loads(str(options["hybrid_params"]))
        except json.JSONDecodeError as exc:
            raise CommandError(f"--hybrid-params is not valid JSON: {exc}") from None
        if not isinstance(hybrid, dict):
            raise CommandError("--hybrid-params must be a JSON object")
        parameters = {"hybrid": hybrid} | ({"cutoff": options["cutoff"]} if options["cutoff"] else {})

        if settings.REDIS_URL and not options["in_process"]:
            run = training_runs.retrain_enqueue(trigger=TrainingRun.Trigger.COMMAND, parameters=parameters)
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

        run = training_runs.training_run_create(trigger=TrainingRun.Trigger.COMMAND, parameters=parameters)
        self._execute(run.pk)

    def _resume(self, version_id: int) -> None:
        if not ModelVersion.objects.filter(pk=version_id).exists():
            raise CommandError(f"There is no model version v{version_id}.")
        try:
            version = training.model_version_precompute_complete(
                version_id=version_id, echo=self.stdout.write
            )
        except (training_runs.RetrainRefused, ValidationError, PrecomputeIncomplete) as exc:
            raise CommandError(f"v{version_id} not completed: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"v{version.pk} {version.status}"))

    def _execute(self, run_id: int) -> None:
        # The raw stream: Django's OutputWrapper ends every write with a newline, which breaks a redrawn bar.
        console = ConsoleProgress(self.stdout._out)
        try:
            run = training.training_run_execute(run_id=run_id, echo=console.line, on_progress=console)
        except training_runs.RetrainRefused as refusal:
            training_runs.training_run_refuse(run_id=run_id, reason=str(refusal))
            raise CommandError(f"Training run #{run_id} not started: {refusal}") from None
        except Exception as exc:
            raise CommandError(f"Training run #{run_id} failed: {exc}") from exc
        finally:
            console.close()
        version = run.model_version
        table = reporting.metrics_table(version.metrics, columns=reporting.LEADING_COLUMNS)
        if table.rows:
            self.stdout.write(f"Held-out metrics of v{version.pk} (each retailer's last basket):")
            self.stdout.write(table.text())
        self.stdout.write(
            self.style.SUCCESS(
                f"Training run #{run.pk} finished in {reporting.human_duration(run.duration)}: "
                f"v{version.pk} {version.status}"
            )
        )
        self.stdout.write(version.decision)
