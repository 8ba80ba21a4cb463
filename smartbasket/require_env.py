"""`python -m smartbasket.require_env NAME ...`: exit 1 naming each NAME set neither in the env nor `.env`."""

import sys

from smartbasket.env import env_file_path, missing_variables


def main(names: list[str]) -> int:
    if not names:
        print("usage: python -m smartbasket.require_env NAME [NAME ...]", file=sys.stderr)
        return 2
    missing = missing_variables(names)
    if missing:
        print(
            f"Missing required environment variable(s): {', '.join(missing)}.\n"
            f"Set them in the environment or in {env_file_path()} (see .env.example and the README's "
            "Production section).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
