"""The recommendation modules import each other in one direction: the Celery tasks call the pipeline's
modules, which never import the tasks back (they queue them by name through the task outbox), and each module
imports first, on its own, in a fresh interpreter without loading the ML core."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

PACKAGE = Path(__file__).resolve().parents[1]
# The modules the pipeline was split into, and the one orders calls in through.
PIPELINE_MODULES = [
    "recommendations.artifacts",
    "recommendations.precompute",
    "recommendations.publish",
    "recommendations.training_runs",
    "recommendations.training",
    "recommendations.refresh",
    "recommendations.interface",
]
TASKS = "recommendations.tasks"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(path: Path) -> set[str]:
    """The recommendations modules `path` imports when it is itself imported (not those inside functions)."""
    imported: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names if alias.name.startswith("recommendations.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "recommendations":
                imported |= {f"recommendations.{alias.name}" for alias in node.names}
            elif node.module.startswith("recommendations."):
                imported.add(node.module)
    return imported


def _import_graph() -> dict[str, set[str]]:
    """Module-level imports between the app's modules; the ML core (no Django) and the tests are left out."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        if {"ml", "tests", "migrations"} & set(path.relative_to(PACKAGE).parts):
            continue
        graph[_module_name(path)] = _module_level_imports(path)
    return {module: {dep for dep in deps if dep in graph} for module, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_the_recommendation_modules_import_each_other_without_a_cycle() -> None:
    graph = _import_graph()

    assert set(PIPELINE_MODULES) | {TASKS} <= set(graph)
    assert _cycles(graph) == []


def test_no_pipeline_module_imports_the_tasks_even_through_another_module() -> None:
    graph = _import_graph()
    importing_the_tasks = [module for module in PIPELINE_MODULES if TASKS in _reachable(graph, module)]

    assert importing_the_tasks == []


@pytest.mark.parametrize("module", [*PIPELINE_MODULES, TASKS])
def test_each_module_imports_first_in_a_fresh_interpreter_without_the_tasks_or_the_ml_core(
    module: str,
) -> None:
    script = (
        "import importlib, json, sys\n"
        "import django\n"
        "django.setup()\n"
        f"importlib.import_module({module!r})\n"
        "loaded = [name for name in ('recommendations.tasks', 'recommendations.ml.hybrid', 'tensorflow')"
        " if name in sys.modules]\n"
        "print(json.dumps(loaded))\n"
    )
    # As manage.py does: the settings module unless the environment names another, and no .env file read.
    env = (
        {"DJANGO_SETTINGS_MODULE": "smartbasket.settings"} | os.environ | {"SMARTBASKET_ENV_FILE": os.devnull}
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == ([TASKS] if module == TASKS else [])
