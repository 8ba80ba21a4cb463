"""How similar the "similar products" rows are: shares of the content model's top-k pairs agreeing on labels.

    .venv/bin/python bench/similar_pairs.py                    # the database (placed orders), after seed_demo
    .venv/bin/python bench/similar_pairs.py --hide-categories  # fitted without categories, judged with them
    .venv/bin/python bench/similar_pairs.py --dataset ../shared/datasets/online_retail.csv.gz \
        --format online-retail

Fits the content model on every order (what a retrain publishes) and prints, for k = 5 and 10, the share of
(product, k most similar) pairs in the same category, with the same head noun, and bought together more often
than chance, each next to k random others per product. The definitions are in
`recommendations/ml/similarity_eval.py`.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommendations.ml.content import ContentModel  # noqa: E402
from recommendations.ml.data import TrainingData, training_data_from_rows  # noqa: E402
from recommendations.ml.similarity_eval import pair_shares_table, similar_pair_shares  # noqa: E402


def _from_database() -> TrainingData:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    django.setup()
    from recommendations.training_data import training_data_from_db

    return training_data_from_db()


def _from_file(path: str, fmt: str) -> TrainingData:
    from orders.sources import TransactionRow, read_transactions

    rows = [row for row in read_transactions(path, fmt) if isinstance(row, TransactionRow)]
    return training_data_from_rows(rows)[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", help="a transactions file; the database when omitted")
    parser.add_argument("--format", default="online-retail", dest="fmt")
    parser.add_argument("--top", type=int, nargs="+", default=[5, 10])
    parser.add_argument(
        "--hide-categories",
        action="store_true",
        help="fit on names and descriptions only; the shares are still counted with the real categories",
    )
    args = parser.parse_args()

    data = _from_file(args.dataset, args.fmt) if args.dataset else _from_database()
    fitted = data
    if args.hide_categories:
        fitted = TrainingData(data.interactions, data.products.assign(category=""), data.retailers)
    started = time.perf_counter()
    model = ContentModel().fit(fitted)
    similar = model.similar_products(top=max(args.top))
    seconds = time.perf_counter() - started
    source = args.dataset or "database"
    print(f"{source}: {data.view.n_products} products, content fit + similar pairs in {seconds:.1f} s")
    print(
        pair_shares_table(
            similar_pair_shares(similar, products=data.products, view=data.view, tops=tuple(args.top))
        )
    )


if __name__ == "__main__":
    main()
