"""Registry of trained models and the rows they precompute.

Web pages and API endpoints only ever read rows of the single `active` ModelVersion; workers write the rows
of a new version beside it and flip the pointer in one transaction (see services.model_version_activate).
"""

from django.db import models
from django.db.models import Q


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


class Surface(models.TextChoices):
    FOR_YOU = "for_you", "Recommended for you"
    NEW_FOR_YOU = "new_for_you", "New for you"


class Recommendation(models.Model):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    surface = models.CharField(max_length=12, choices=Surface.choices)
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    # [{"kind", "weight", "facts"}, ...] strongest first; `explanation` is built from these only.
    reasons = models.JSONField(default=list)
    explanation = models.TextField()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "retailer", "surface", "rank"], name="recommendation_unique_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.surface} #{self.rank} for retailer {self.retailer_id}: product {self.product_id}"


class ReorderPrediction(models.Model):
    # Every lookup starts with the version, so the composite unique index below serves it.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    expected_date = models.DateField()
    confidence = models.FloatField()
    cadence_days = models.FloatField()
    last_ordered = models.DateField()
    days_since_last = models.IntegerField()
    suggested_quantity = models.PositiveIntegerField()
    times_ordered = models.PositiveIntegerField()
    explanation = models.TextField()

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


class ProductAssociation(models.Model):
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


class SimilarProduct(models.Model):
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


class ItemVector(models.Model):
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

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_version", "surface", "kind"]),
            models.Index(fields=["retailer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.surface} by retailer {self.retailer_id}"
