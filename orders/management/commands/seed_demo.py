import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.demo_world import DemoWorldConfig, DemoWorldExists, demo_world_build


class Command(BaseCommand):
    help = "Build a deterministic demo world (vendors, catalogue, retailers, history) and a login per role."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = DemoWorldConfig()
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--retailers", type=int, default=defaults.retailers)
        parser.add_argument("--products", type=int, default=defaults.products)
        parser.add_argument("--vendors", type=int, default=defaults.vendors)
        parser.add_argument("--days", type=int, default=defaults.days, help="length of the order history")
        parser.add_argument("--reset", action="store_true", help="delete existing demo data first")
        parser.add_argument(
            "--no-personal-signal",
            action="store_true",
            help="every retailer draws every basket from one shared popularity (no staples, affinities, "
            "bundles, seasons or story): the world where popularity is the best model",
        )

    def handle(self, *args, **options) -> None:
        for name in ("retailers", "products", "vendors", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        config = DemoWorldConfig(
            seed=options["seed"],
            retailers=options["retailers"],
            products=options["products"],
            vendors=options["vendors"],
            days=options["days"],
            personal_signal=not options["no_personal_signal"],
        )
        started = time.perf_counter()
        try:
            summary = demo_world_build(config=config, reset=options["reset"])
        except DemoWorldExists as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Demo world built in {seconds:.1f} s: {summary.vendors} vendors, "
            f"{summary.categories} categories, "
            f"{summary.products} products, {summary.retailers} retailers, {summary.orders:,} orders, "
            f"{summary.lines:,} order lines."
        )
        self.stdout.write("Logins:")
        for login in summary.logins:
            self.stdout.write(
                f"  {login.role:<9} username {login.username:<14} "
                f"password {login.password}  ({login.member_of})"
            )
