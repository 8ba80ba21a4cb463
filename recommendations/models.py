"""Registry of trained models and the rows they precompute.

Web pages and API endpoints only ever read rows of the single `active` ModelVersion; workers write the rows
of a new version beside it and flip the pointer in one transaction (see publish.model_version_activate).
"""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models, router, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone


def _refuse_deleting_active(version_ids: Iterable[int]) -> None:
    """Raise ProtectedError when any of these versions is active, holding their rows locked until commit.

    Every page reads the active version's rows: deleting them, or it, would empty the portal at once. All the
    versions are locked, not only the active ones, so a concurrent activation (model_version_activate locks
    the same row) either finishes first and is seen here, or waits until this deletion has committed.
    """
    locked = ModelVersion._base_manager.select_for_update().filter(pk__in=list(version_ids)).order_by("pk")
    active = [version for version in locked if version.status == ModelVersion.Status.ACTIVE]
    if active:
        raise ProtectedError(
            f"v{active[0].pk} is the active model version: it and its rows cannot be deleted. "
            "Activate or roll back to another version first.",
            set(active),
        )


class ModelVersionQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            _refuse_deleting_active(self.values_list("pk", flat=True))
            return super().delete()


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=30, default="hybrid")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    parameters = models.JSONField(default=dict, blank=True)
    # Evaluation protocol results on the training data's own chronological holdout, per model and hybrid.
    metrics = models.JSONField(default=dict, blank=True)
    # Orders placed at or before this instant were used for training.
    data_cutoff = models.DateTimeField(null=True, blank=True)
    # Counts of what went in: retailers, products, orders, lines.
    trained_on = models.JSONField(default=dict, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    precompute_seconds = models.FloatField(null=True, blank=True)
    # Rows written per table by the precompute, so the admin can compare versions at a glance.
    row_counts = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    # Why a version was or was not promoted by the champion/challenger rule.
    decision = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Rows and artifacts of old versions are deleted after a retention count; the record and metrics stay.
    pruned_at = models.DateTimeField(null=True, blank=True)
    # The champion/challenger verdict, kept for the flip that follows the last precompute shard: a precompute
    # resumed after a failed shard publishes the version as its run had decided.
    publish_when_precomputed = models.BooleanField(default=False)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Readers resolve "the" active version with one query; two active versions would mix rows.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="modelversion_single_active"
            ),
        ]
        indexes = [models.Index(fields=["status", "-activated_at"])]

    def __str__(self) -> str:
        return f"{self.kind} v{self.pk} ({self.get_status_display()})"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self), instance=self)):
            _refuse_deleting_active([self.pk])
            return super().delete(*args, **kwargs)


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Staff (admin)"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command line"

    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    # Hyper-parameters passed to the trainers (tests use tiny ones); empty means the defaults.
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="seconds")
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    # Where a running pipeline is, written in short transactions of their own (training_runs.
    # training_run_progress_record) so the admin, on another connection, shows it while the run works.
    stage = models.CharField(max_length=80, blank=True)
    stage_step = models.PositiveIntegerField(default=0)
    stage_steps = models.PositiveIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The retrain lock: a second run cannot enter `running` while one is.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="trainingrun_single_running"
            ),
        ]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({self.get_status_display()})"

    @property
    def stage_percent(self) -> int:
        return round(100 * self.stage_step / self.stage_steps) if self.stage_steps else 0

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def last_log_line(self) -> str:
        lines = self.log.rstrip().splitlines()
        return lines[-1] if lines else ""


class PrecomputeShard(models.Model):
    """One piece of a version's precompute, recorded before its task is queued: the rows of the retailers with
    ids in [first_retailer_id, last_retailer_id], or (kind "products") the version's product rows.

    A worker claims a pending shard by locking its row (SKIP LOCKED) and writes the shard's rows, its
    documents and its "done" in that one transaction: a worker killed mid-shard leaves nothing, and its lock
    goes with its session, so the next claimer takes the shard over. The version is flipped to active only
    once every shard of it is done (precompute.py).
    """

    class Kind(models.TextChoices):
        RETAILERS = "retailers", "Retailers"
        PRODUCTS = "products", "Products"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="precompute_shards"
    )
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RETAILERS)
    first_retailer_id = models.BigIntegerField(null=True, blank=True)
    last_retailer_id = models.BigIntegerField(null=True, blank=True)
    # Retailers scored together (settings.PRECOMPUTE_RETAILER_BATCH when planned): a resumed shard or one
    # written by a worker of other settings scores the same batches.
    retailer_batch = models.PositiveIntegerField(default=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Attempts that raised; the coordinator gives up on the precompute (the run stays resumable) past a limit.
    failures = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    # The worker (host name and pid) that wrote the shard, so staff see how the work was spread.
    written_by = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model_version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "index"], name="precomputeshard_unique_index"),
        ]

    def __str__(self) -> str:
        return f"shard {self.index} of version {self.model_version_id} ({self.get_status_display()})"


class Surface(models.TextChoices):
    FOR_YOU = "for_you", "Recommended for you"
    NEW_FOR_YOU = "new_for_you", "New for you"


class VersionRowQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            _refuse_deleting_active(self.order_by().values_list("model_version_id", flat=True).distinct())
            return super().delete()


class VersionRow(models.Model):
    """A row precomputed for one ModelVersion: those of the active version cannot be deleted through the ORM.

    The guard sits on `delete()` of the instance and of the default manager's querysets, not on a pre_delete
    signal: a signal receiver would make Django load every row into memory before deleting a pruned version
    or a product. Cascades (deleting a retailer or a product drops its rows) and the pipeline's own in-place
    replacement of one retailer's rows (precompute.model_version_rows_delete, a raw delete) stay allowed.
    """

    objects = VersionRowQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self), instance=self)):
            _refuse_deleting_active([self.model_version_id])
            return super().delete(*args, **kwargs)


class Recommendation(VersionRow):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    surface = models.CharField(max_length=12, choices=Surface.choices)
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    # P(the retailer orders the product in its next order), calibrated on the validation baskets; null for
    # rows of a version trained before calibration existed.
    probability = models.FloatField(null=True, blank=True)
    # [{"kind", "weight", "facts"}, ...] strongest first. Facts hold dates and counts, never ages: the
    # sentence is made from them when it is read (recommendations/explanations.py), so it is true that day.
    reasons = models.JSONField(default=list)

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "retailer", "surface", "rank"], name="recommendation_unique_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.surface} #{self.rank} for retailer {self.retailer_id}: product {self.product_id}"


class ReorderPrediction(VersionRow):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    expected_date = models.DateField()
    confidence = models.FloatField()
    cadence_days = models.FloatField()
    # The sentence and "days since" are counted from `last_ordered` on the day they are read.
    last_ordered = models.DateField()
    suggested_quantity = models.PositiveIntegerField()
    times_ordered = models.PositiveIntegerField()

    class Meta:
        ordering = ["expected_date", "-confidence"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "retailer", "product"], name="reorderprediction_unique_product"
            ),
        ]
        indexes = [models.Index(fields=["model_version", "retailer", "expected_date"])]

    def __str__(self) -> str:
        return f"Product {self.product_id} due {self.expected_date} for retailer {self.retailer_id}"


class ProductAssociation(VersionRow):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    together = models.PositiveIntegerField(help_text="orders containing both products")
    product_orders = models.PositiveIntegerField()
    other_orders = models.PositiveIntegerField()
    n_orders = models.PositiveIntegerField(help_text="orders in the training data")
    support = models.FloatField()
    confidence = models.FloatField()
    lift = models.FloatField()
    rank = models.PositiveIntegerField()
    explanation = models.TextField()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "product", "rank"], name="productassociation_unique_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} -> {self.other_id} (lift {self.lift:.2f})"


class SimilarProduct(VersionRow):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    similarity = models.FloatField()
    rank = models.PositiveIntegerField()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "product", "rank"], name="similarproduct_unique_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} ~ {self.other_id} ({self.similarity:.2f})"


class ItemVector(VersionRow):
    """One product's embedding for live basket completion: float32 bytes, `dimensions` long."""

    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    vector = models.BinaryField()
    dimensions = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "product"], name="itemvector_unique_product"),
        ]

    def __str__(self) -> str:
        return f"Vector of product {self.product_id} ({self.dimensions} dimensions)"


class RecommendationEvent(models.Model):
    class EventSurface(models.TextChoices):
        FOR_YOU = "for_you", "Recommended for you"
        DUE = "due", "Due for reorder"
        NEW_FOR_YOU = "new_for_you", "New for you"
        BASKET = "basket", "Basket completion"
        BOUGHT_TOGETHER = "bought_together", "Often bought together"
        SIMILAR = "similar", "Similar products"

    class Kind(models.TextChoices):
        IMPRESSION = "impression", "Impression"
        CLICK = "click", "Click"
        ADD = "add", "Added to basket"

    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    # Kept when a version is pruned so the click-through history survives.
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    surface = models.CharField(max_length=16, choices=EventSurface.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # The day of `created_at` in TIME_ZONE, stored so the database itself can allow one click and one add
    # per product, surface, version and day (see the constraint below).
    day = models.DateField(default=timezone.localdate)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_version", "surface", "kind"]),
            models.Index(fields=["retailer", "-created_at"]),
            # A click or an add is checked against this retailer's impressions of this product.
            models.Index(fields=["retailer", "product", "-created_at"], name="recevent_shown_lookup"),
        ]
        constraints = [
            # Reloading a link or re-posting a form must not inflate the rates; concurrent requests insert
            # with ON CONFLICT DO NOTHING against this index, so two at once still count once.
            models.UniqueConstraint(
                fields=["retailer", "product", "surface", "model_version", "kind", "day"],
                condition=Q(kind__in=["click", "add"], model_version__isnull=False),
                name="recevent_one_feedback_a_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.surface} by retailer {self.retailer_id}"


class TaskOutbox(models.Model):
    """A task to run on a Celery worker, written in the same transaction as the work that asks for it.

    The request that writes it tries to publish it once after commit; whatever that could not publish (Redis
    down or hung) is published by the periodic `deliver_outbox` task. A row is done only when a worker has
    RUN the task (`completed_at`, recorded by the worker's task signals, smartbasket/celery.py): a message
    that a restarted Redis forgot, or that a killed worker held unacknowledged, is published again with the
    same task id after a redelivery delay. Tasks queued this way are idempotent, so a duplicate is harmless.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending (not published yet)"
        PUBLISHED = "published", "Published, not run yet"
        SUCCEEDED = "succeeded", "Completed"
        FAILED = "failed", "Failed (after its retries)"
        GIVEN_UP = "given_up", "Given up (published too often, never run)"

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # The id of the request that queued it, sent as a task header so the worker's log lines carry it.
    request_id = models.CharField(max_length=64, blank=True)
    # Chosen when the row is written, so callers can record it (TrainingRun) before anything is published;
    # every (re)publish reuses it, so the worker's completion matches whichever copy ran.
    celery_task_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A deliverer leases a row by a conditional update of this column; the lease outlives a hung publish.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Publish attempts, failed ones included; `publishes` counts the ones the broker accepted.
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # Why the last publish failed, or why the row was given up.
    last_error = models.TextField(blank=True)
    # When it was last published to the broker.
    delivered_at = models.DateTimeField(null=True, blank=True)
    publishes = models.PositiveIntegerField(default=0)
    # A published row that no worker has completed by then is published again (recommendations/outbox.py).
    redeliver_at = models.DateTimeField(null=True, blank=True)
    # When a worker finished the task: succeeded, or failed for good (its retries spent) with `task_error`.
    completed_at = models.DateTimeField(null=True, blank=True)
    task_error = models.TextField(blank=True)
    # Published the maximum number of times without ever completing: no longer published, shown to staff.
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "task outbox entry"
        verbose_name_plural = "task outbox"
        indexes = [
            # The deliverer scans only the (few) open rows; the pruner scans completed ones by age.
            models.Index(
                fields=["created_at"],
                condition=Q(completed_at__isnull=True, gave_up_at__isnull=True),
                name="taskoutbox_open",
            ),
            models.Index(fields=["completed_at"], name="taskoutbox_completed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)} ({self.state.value})"

    @property
    def state(self) -> "TaskOutbox.State":
        if self.completed_at is not None:
            return self.State.FAILED if self.task_error else self.State.SUCCEEDED
        if self.gave_up_at is not None:
            return self.State.GIVEN_UP
        return self.State.PUBLISHED if self.delivered_at is not None else self.State.PENDING


class RecommendationDocument(VersionRow):
    """A retailer's lists of one version (for you, due, new for you) as one JSON document for the API.

    Built from the version's rows (recommendations/documents.py) and cached in Redis keyed by version, so a
    read costs one cache lookup, or one indexed query when Redis is down; a retailer's refresh rebuilds it.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="documents")
    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    body = models.JSONField()
    built_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "retailer"], name="recdocument_one_per_retailer"
            ),
        ]

    def __str__(self) -> str:
        return f"lists of retailer {self.retailer_id} in version {self.model_version_id}"


class Prediction(models.Model):
    """One answer of the next-item endpoint, kept as the retailer's prediction history.

    The input and the ranked answer are stored as they were given, so the history says what the app was told
    even after the version that produced it is pruned.
    """

    class Kind(models.TextChoices):
        NEXT_ITEM = "next_item", "Next item"

    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEXT_ITEM)
    # The product ids asked about, in the order given.
    input_product_ids = models.JSONField(default=list)
    # [{"rank", "product_id", "score", "sentence"}, ...] as returned.
    results = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["retailer", "-created_at"], name="prediction_history")]

    def __str__(self) -> str:
        return f"{self.kind} for retailer {self.retailer_id} at {self.created_at:%Y-%m-%d %H:%M}"
