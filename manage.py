#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    # Before Django reads the settings: `.env` fills in what the environment leaves unset, smartbasket/env.py.
    from smartbasket.env import load_env_file

    load_env_file()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
