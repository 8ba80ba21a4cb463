"""Duration of a full retrain and of a full precompute, for Online Retail and for the default demo world.

Each dataset lives in its own PostgreSQL database (created, migrated and loaded on first use, reused after):

    .venv/bin/python bench/retrain_precompute.py [--only online-retail|demo] [--epochs N]

Prints one table row per dataset: the retrain (extract, train, evaluate, precompute, publish) and a second
full precompute of the same version from its saved artifact (what a re-publish costs), here in this process;
then the same precompute by 1 and by 2 real `celery worker` processes (solo pool, the shards spread over
them): wall time from queueing to the last shard, of which the precompute itself (after the model's load).
`--precompute-only` reuses the newest trained version instead of retraining. Target (issue 14): the Online
Retail precompute in under 30 s on an idle machine; the load average is printed with each figure.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
# The workers' broker: a Redis database of the benchmark's own, so no other worker takes its shards.
BROKER = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
WORKER_COUNTS = (1, 2)
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


def _load_average() -> float:
    return os.getloadavg()[0]


def _bench(dataset: str, hybrid: dict, precompute_only: bool) -> dict[str, object]:
    from recommendations import artifacts, precompute, training, training_runs
    from recommendations.models import ModelVersion, TrainingRun

    retrain_seconds = None
    if precompute_only:
        version = ModelVersion.objects.exclude(artifact_path="").filter(pruned_at__isnull=True).first()
        if version is None:
            raise SystemExit("--precompute-only needs a trained version: run once without it")
    else:
        run = training_runs.training_run_create(
            trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": hybrid}
        )
        started = time.perf_counter()
        run = training.training_run_execute(run_id=run.pk, echo=lambda line: print("   ", line, flush=True))
        retrain_seconds = time.perf_counter() - started
        version = ModelVersion.objects.get(pk=run.model_version_id)
    model = artifacts.model_version_load(version=version)
    copy = _candidate_copy(version)
    load = _load_average()
    started = time.perf_counter()
    counts = precompute.model_version_precompute(version=copy, model=model)
    precompute_seconds = time.perf_counter() - started
    _discard(copy)
    return {
        "dataset": dataset,
        "retailers": version.trained_on["retailers"],
        "orders": version.trained_on["orders"],
        "lines": version.trained_on["lines"],
        "retrain_s": retrain_seconds,
        "training_s": version.training_seconds,
        "precompute_s": precompute_seconds,
        "load": load,
        "rows": sum(counts.values()),
        "ndcg@10": version.metrics["hybrid"].get("ndcg@10", 0.0),
        "workers": [_bench_workers(version, n) for n in WORKER_COUNTS],
    }


def _candidate_copy(version):
    """A candidate with a copy of `version`'s artifact and no rows: precomputing it never touches the rows
    the active version serves."""
    from recommendations.models import ModelVersion

    copy = ModelVersion.objects.create(
        status=ModelVersion.Status.CANDIDATE,
        data_cutoff=version.data_cutoff,
        trained_on=version.trained_on,
        artifact_sha256=version.artifact_sha256,
    )
    copy.artifact_path = str(Path(version.artifact_path).parent / f"bench-{copy.pk}")
    shutil.copytree(version.artifact_path, copy.artifact_path)
    copy.save(update_fields=["artifact_path"])
    return copy


def _discard(copy) -> None:
    from recommendations.publish import model_versions_delete

    model_versions_delete(version_ids=[copy.pk])


def _bench_workers(version, count: int) -> dict[str, object]:
    """The precompute of a copy of `version` queued to `count` fresh worker processes: the task that
    completes it runs on one of them, and every worker takes shards."""
    import redis
    from django.db import transaction

    from recommendations.models import ModelVersion, PrecomputeShard
    from recommendations.outbox import task_outbox_add
    from smartbasket.celery import app

    redis.Redis.from_url(BROKER).flushdb()
    app.conf.broker_url = BROKER
    app.conf.task_always_eager = False
    app._pool = None
    env = os.environ | {"REDIS_URL": BROKER, "SMARTBASKET_ENV_FILE": os.devnull}
    workers = []
    logs = []
    try:
        for _ in range(count):
            name = f"bench-{uuid.uuid4().hex[:8]}@localhost"
            log = open(ROOT / "var" / f"{name.split('@')[0]}.log", "wb")  # noqa: SIM115 closed below
            logs.append(log)
            command = [
                sys.executable, "-m", "celery", "-A", "smartbasket", "worker", "-Q", "recommendations",
                "--pool=solo", "-n", name, "--without-gossip", "--without-mingle", "-l", "warning",
            ]  # fmt: skip
            workers.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
            while not app.control.ping(destination=[name], timeout=0.5):
                if workers[-1].poll() is not None:
                    raise SystemExit(f"worker {name} exited at start-up")
        copy = _candidate_copy(version)
        load = _load_average()
        started = time.perf_counter()
        with transaction.atomic():
            task_outbox_add(task_name="recommendations.tasks.precompute_complete", args=[copy.pk])
        while not ModelVersion.objects.filter(pk=copy.pk, precompute_seconds__isnull=False).exists():
            if any(worker.poll() is not None for worker in workers):
                raise SystemExit("a worker exited during the precompute")
            time.sleep(0.2)
        wall = time.perf_counter() - started
        copy.refresh_from_db()
        spread = sorted(
            PrecomputeShard.objects.filter(model_version=copy).values_list("written_by", flat=True)
        )
        per_process = sorted((spread.count(who) for who in set(spread)), reverse=True)
        _discard(copy)
        return {
            "count": count,
            "wall_s": wall,
            "precompute_s": copy.precompute_seconds,
            "load": load,
            "shards": per_process,
        }
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        for log in logs:
            log.close()


def _run_one(dataset: str, hybrid: dict, precompute_only: bool) -> dict[str, object]:
    _ensure_database(DATABASES[dataset])
    os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASES[dataset]}"
    # Version ids restart in each bench database: their artifacts must not share a directory.
    os.environ["SMARTBASKET_ARTIFACTS_DIR"] = str(ROOT / "var" / "bench-artifacts" / dataset)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _load(dataset)
    result = _bench(dataset, hybrid, precompute_only)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=list(DATABASES))
    parser.add_argument("--epochs", type=int, help="neural epochs (default: the model's own default)")
    parser.add_argument("--precompute-only", action="store_true", help="reuse the newest trained version")
    args = parser.parse_args()
    hybrid = {"params": {"neural": {"epochs": args.epochs}}} if args.epochs else {}
    if args.only:
        _print_table([_run_one(args.only, hybrid, args.precompute_only)])
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
            *(["--precompute-only"] if args.precompute_only else []),
        ]
        print(f"== {dataset}", flush=True)
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        for line in output.splitlines():
            if line.startswith(RESULT_PREFIX):
                results.append(json.loads(line.removeprefix(RESULT_PREFIX)))
            else:
                print(line)

    _print_table(results)


def _print_table(results: list[dict]) -> None:
    header = f"{'dataset':<14}{'retailers':>10}{'orders':>9}{'lines':>10}{'retrain s':>11}{'train s':>9}"
    header += f"{'precompute s':>14}{'load':>6}{'rows':>10}{'ndcg@10':>9}"
    print()
    print(header)
    for row in results:
        retrain = "-" if row["retrain_s"] is None else f"{row['retrain_s']:.1f}"
        print(
            f"{row['dataset']:<14}{row['retailers']:>10,}{row['orders']:>9,}{row['lines']:>10,}"
            f"{retrain:>11}{row['training_s']:>9.1f}{row['precompute_s']:>14.1f}{row['load']:>6.1f}"
            f"{row['rows']:>10,}{row['ndcg@10']:>9.4f}"
        )
    print()
    print("precompute by Celery worker processes (wall: queued to done; precompute: after the model's load)")
    print(f"{'dataset':<14}{'workers':>8}{'wall s':>9}{'precompute s':>14}{'load':>6}  shards per process")
    for row in results:
        print(f"{row['dataset']:<14}{'in-proc':>8}{row['precompute_s']:>9.1f}{'':>14}{row['load']:>6.1f}")
        for run in row["workers"]:
            print(
                f"{row['dataset']:<14}{run['count']:>8}{run['wall_s']:>9.1f}{run['precompute_s']:>14.1f}"
                f"{run['load']:>6.1f}  {run['shards']}"
            )


if __name__ == "__main__":
    main()
