import django.db.models.deletion
from django.db import migrations, models

# Each retailer's placed and cancelled orders are numbered 1, 2, ... in the order they were placed (ties by
# id), and its counter starts after the last one. The statements are spelled out here, not imported from
# orders.services, so this migration keeps doing what it did when the service changes.
BACKFILL = [
    """
    CREATE TEMPORARY TABLE order_numbering AS
    SELECT id, retailer_id,
           ROW_NUMBER() OVER (PARTITION BY retailer_id ORDER BY placed_at, id) AS number
    FROM orders_order WHERE status <> 'draft'
    """,
    """
    UPDATE orders_order SET number = numbering.number FROM order_numbering AS numbering
    WHERE orders_order.id = numbering.id
    """,
    """
    INSERT INTO orders_ordernumbercounter (retailer_id, last_number)
    SELECT retailer_id, MAX(number) FROM order_numbering GROUP BY retailer_id
    """,
    "DROP TABLE order_numbering",
]


def number_existing_orders(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for statement in BACKFILL:
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_access_log_prune_schedule'),
        ('orders', '0003_importrun_status'),
    ]

    operations = [
        migrations.CreateModel(
            name='OrderNumberCounter',
            fields=[
                ('retailer', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='order_number_counter', serialize=False, to='accounts.retailer')),
                ('last_number', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name='order',
            name='number',
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(number_existing_orders, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('number__isnull', True), models.Q(('status', 'draft'), _negated=True)), fields=['retailer'], name='order_unnumbered'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.UniqueConstraint(fields=('retailer', 'number'), name='order_unique_number_per_retailer'),
        ),
    ]
