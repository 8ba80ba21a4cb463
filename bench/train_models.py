"""Training time and peak memory of every recommender on a transactions file (default: Online Retail).

    .venv/bin/python bench/train_models.py [--dataset PATH] [--format online-retail|instacart|csv]

Runs what a retrain runs: `HybridRecommender().fit(data)` fits every model on all but each retailer's last
order,
chooses the blend on those last orders, then refits every model on all orders. Prints one row per model
(time and
peak memory of its final fit) and the whole training's wall time. Target: whole training under 5 minutes on
2 cores.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orders.sources import TransactionRow, read_transactions  # noqa: E402
from recommendations.ml.data import training_data_from_rows  # noqa: E402
from recommendations.ml.hybrid import HybridRecommender  # noqa: E402
from recommendations.ml.profiling import measure  # noqa: E402

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--format", default="online-retail", dest="fmt")
    args = parser.parse_args()

    started = time.perf_counter()
    rows = [row for row in read_transactions(args.dataset, args.fmt) if isinstance(row, TransactionRow)]
    data, _ = training_data_from_rows(rows)
    read_seconds = time.perf_counter() - started
    view = data.view
    print(
        f"{args.dataset}: {len(view.lines)} order lines, {len(view.orders)} orders, "
        f"{view.n_retailers} retailers, {view.n_products} products (read in {read_seconds:.1f} s)"
    )

    hybrid, seconds, peak = measure(lambda: HybridRecommender().fit(data))
    print(f"| {'model':<14} | final fit s | peak MiB | blend weight |")
    print(f"|{'-' * 16}|-------------|----------|--------------|")
    for name, stats in hybrid.fit_stats.items():
        print(
            f"| {name:<14} | {stats['train_seconds']:>11.1f} | {stats['peak_memory_mb']:>8.0f} | "
            f"{hybrid.weights.get(name, 0):>12} |"
        )
    reranker = "kept" if hybrid.reranker is not None else "not kept"
    print(f"| {'whole training':<14} | {seconds:>11.1f} | {peak:>8.0f} | re-ranker {reranker:<8} |")
    print(
        "whole training = fit all models on the validation split, choose the blend, refit all on everything"
    )


if __name__ == "__main__":
    main()
