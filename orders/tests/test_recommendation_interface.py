"""Orders calls the recommendation side through `recommendations.interface` only, and only for the names it
exposes: the pipeline's modules can be reorganised without touching orders."""

import ast
from pathlib import Path

from recommendations import interface

ORDERS = Path(__file__).resolve().parents[1]


def _recommendation_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every import of a recommendations module anywhere in `path`, functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [
                (alias.name, "")
                for alias in node.names
                if alias.name == "recommendations" or alias.name.startswith("recommendations.")
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (node.module == "recommendations" or node.module.startswith("recommendations."))
        ):
            found += [(node.module, alias.name) for alias in node.names]
    return found


def _orders_code() -> list[Path]:
    """The app's own code; its tests build recommendation state with the recommendation side's factories."""
    return [path for path in ORDERS.rglob("*.py") if "tests" not in path.relative_to(ORDERS).parts]


def test_orders_imports_the_recommendation_side_only_through_its_interface() -> None:
    imports = [
        (str(path.relative_to(ORDERS)), module, name)
        for path in _orders_code()
        for module, name in _recommendation_imports(path)
    ]

    assert {"services.py", "views.py"} <= {path for path, _, _ in imports}
    assert [found for found in imports if found[1] != "recommendations.interface"] == []
    assert [found for found in imports if found[2] not in interface.__all__] == []


def test_every_name_the_interface_exposes_is_used_by_orders() -> None:
    used = {name for path in _orders_code() for _, name in _recommendation_imports(path)}

    assert sorted(set(interface.__all__) - used) == []
