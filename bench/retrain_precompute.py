"""Duration of a full retrain and of a full precompute, for Online Retail and for the default demo world.

Each dataset lives in its own PostgreSQL database (created, migrated and loaded on first use, reused after):

    .venv/bin/python bench/retrain_precompute.py [--only online-retail|demo] [--epochs N]

Prints one table row per dataset: the retrain (extract, train, evaluate, precompute, publish) and a second
full precompute of the same version from its saved artifact (what a re-publish costs). Target: the Online
Retail precompute in under 2 minutes.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
RESULT_PREFIX = "RESULT "
DATABASES = {"online-retail": "smartbasket_bench_pipeline_retail", "demo": "smartbasket_bench_pipeline_demo"}


def _ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _load(dataset: str) -> None:
    from django.conf import settings
    from django.core.management import call_command

    from orders.models import Order

    if Order.objects.exists():
        return
    print(f"Loading {dataset} (first run only)...", flush=True)
    if dataset == "online-retail":
        path = settings.DATASETS_DIR / "online_retail.csv.gz"
        call_command("import_transactions", str(path), fmt="online-retail", no_progress=True)
    else:
        call_command("seed_demo")


def _bench(dataset: str, hybrid: dict) -> dict[str, object]:
    from recommendations import artifacts, precompute, training, training_runs
    from recommendations.models import ModelVersion, TrainingRun

    run = training_runs.training_run_create(
        trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": hybrid}
    )
    started = time.perf_counter()
    run = training.training_run_execute(run_id=run.pk, echo=lambda line: print("   ", line, flush=True))
    retrain_seconds = time.perf_counter() - started
    version = ModelVersion.objects.get(pk=run.model_version_id)
    model = artifacts.model_version_load(version=version)
    started = time.perf_counter()
    counts = precompute.model_version_precompute(version=version, model=model)
    precompute_seconds = time.perf_counter() - started
    return {
        "dataset": dataset,
        "retailers": version.trained_on["retailers"],
        "orders": version.trained_on["orders"],
        "lines": version.trained_on["lines"],
        "retrain_s": retrain_seconds,
        "training_s": version.training_seconds,
        "precompute_s": precompute_seconds,
        "rows": sum(counts.values()),
        "ndcg@10": version.metrics["hybrid"].get("ndcg@10", 0.0),
    }


def _run_one(dataset: str, hybrid: dict) -> None:
    _ensure_database(DATABASES[dataset])
    os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASES[dataset]}"
    # Version ids restart in each bench database: their artifacts must not share a directory.
    os.environ["SMARTBASKET_ARTIFACTS_DIR"] = str(ROOT / "var" / "bench-artifacts" / dataset)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _load(dataset)
    print(RESULT_PREFIX + json.dumps(_bench(dataset, hybrid)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=list(DATABASES))
    parser.add_argument("--epochs", type=int, help="neural epochs (default: the model's own default)")
    args = parser.parse_args()
    hybrid = {"params": {"neural": {"epochs": args.epochs}}} if args.epochs else {}
    if args.only:
        _run_one(args.only, hybrid)
        return

    results = []
    for dataset in DATABASES:
        # One interpreter per dataset: Django reads DATABASE_URL once, at setup.
        command = [
            sys.executable,
            __file__,
            "--only",
            dataset,
            *(["--epochs", str(args.epochs)] if args.epochs else []),
        ]
        print(f"== {dataset}", flush=True)
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        for line in output.splitlines():
            if line.startswith(RESULT_PREFIX):
                results.append(json.loads(line.removeprefix(RESULT_PREFIX)))
            else:
                print(line)

    header = f"{'dataset':<14}{'retailers':>10}{'orders':>9}{'lines':>10}{'retrain s':>11}{'train s':>9}"
    header += f"{'precompute s':>14}{'rows':>10}{'ndcg@10':>9}"
    print()
    print(header)
    for row in results:
        print(
            f"{row['dataset']:<14}{row['retailers']:>10,}{row['orders']:>9,}{row['lines']:>10,}"
            f"{row['retrain_s']:>11.1f}{row['training_s']:>9.1f}{row['precompute_s']:>14.1f}{row['rows']:>10,}"
            f"{row['ndcg@10']:>9.4f}"
        )


if __name__ == "__main__":
    main()
