"""The map in docs/architecture.md is true: packages import only the layers below them, modules
import in no circle, the run-record contract table is the RunRecord type, and nothing in the
repository cites a document that is not in it."""

import ast
import dataclasses
import re
import subprocess
from collections import defaultdict

from homogenization.core.run_record import RunRecord
from tests.helpers import REPO_ROOT

# Layers: the project's own subpackages under homogenization/, and the top-level packages that keep
# the layout users know. A module's layer is its first two name parts under homogenization, else one.
LAYERS = ("homogenization.core", "homogenization.conf", "datamodules", "lightning_modules",
          "homogenization.training", "homogenization.analysis", "homogenization.external",
          "homogenization.cli", "scripts",
          "hydra_plugins", "benchmarks", "tests")
BASE = {"homogenization.core", "homogenization.conf"}
MAY_IMPORT = {
    "homogenization.core": set(),
    "homogenization.conf": set(),
    "datamodules": BASE,
    "lightning_modules": BASE,
    "homogenization.training": BASE | {"datamodules", "lightning_modules"},
    "homogenization.analysis": BASE,
    "homogenization.external": BASE | {"datamodules"},     # the data readers' text-file reading
    "homogenization.cli": BASE | {"homogenization.training", "homogenization.analysis",
                                  "homogenization.external"},
    "scripts": {"homogenization.cli"},
    "hydra_plugins": BASE | {"homogenization.training"},
    "benchmarks": BASE | {"datamodules", "lightning_modules", "homogenization.training",
                          "homogenization.analysis"},
    "tests": set(LAYERS),
}
# Top-level import names the project installs: its own namespace and the two it may keep.
INSTALLED_TOP_LEVEL = {"homogenization", "datamodules", "lightning_modules", "hydra_plugins"}


def layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "homogenization" else parts[0]


def project_imports() -> dict[str, set[str]]:
    """module name -> the project modules it imports (anywhere in the file)."""
    graph = defaultdict(set)
    roots = sorted({name.split(".")[0] for name in LAYERS})
    for root in roots:
        for path in (REPO_ROOT / root).rglob("*.py"):
            module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    # "from datamodules import token_cache" imports a module, not the package
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    names = []
                graph[module].update(n for n in names if n.split(".")[0] in roots)
    return graph


def test_packages_import_only_the_layers_below_them():
    graph = project_imports()
    assert len(graph) > 60   # the walk found the code
    violations = sorted(f"{module} imports {target}" for module, targets in graph.items()
                        for target in targets
                        if layer(module) in MAY_IMPORT and layer(target) != layer(module)
                        and layer(target) not in MAY_IMPORT[layer(module)])
    assert not violations, violations
    unknown = sorted(module for module in graph if layer(module) not in MAY_IMPORT
                     and module != "homogenization")
    assert not unknown, f"modules outside every layer of docs/architecture.md: {unknown}"


def test_the_project_installs_no_generic_top_level_name():
    """Nothing but the project's namespace (and the model and data packages users know) is
    installed: a user's own core/ or training/ folder can never shadow the project's code."""
    import tomllib

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    included = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in included} == INSTALLED_TOP_LEVEL
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py") if not path.parent.is_symlink()}
    assert packages - {"tests"} <= INSTALLED_TOP_LEVEL, packages


# Inside the analysis, from the bottom up (docs/architecture.md, "The analysis"): a part imports only
# the parts before it and itself.
ANALYSIS_PARTS = ("random_streams", "calibration", "plugins", "jobs", "runs", "metrics", "design",
                  "breakdowns", "study", "report", "make_report", "sweep_callback")


def analysis_part(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["homogenization", "analysis"] and len(parts) > 2 else None


def test_the_analysis_parts_import_downwards_only():
    graph = project_imports()
    found = {analysis_part(module) for module in graph} - {None}
    assert found == set(ANALYSIS_PARTS), f"parts missing from the map: {found ^ set(ANALYSIS_PARTS)}"
    violations = sorted(
        f"{module} imports {target}" for module, targets in graph.items() for target in targets
        if analysis_part(module) and analysis_part(target)
        and ANALYSIS_PARTS.index(analysis_part(target)) > ANALYSIS_PARTS.index(analysis_part(module)))
    assert not violations, violations


def test_modules_import_in_no_circle():
    graph = project_imports()
    modules = set(graph)

    def resolve(name):   # "from homogenization.core.errors import UserError" imports core.errors
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges = {m: {resolve(t) for t in targets} - {m, ""} for m, targets in graph.items()}
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(target):] + [target]))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_the_contract_table_is_the_record_type():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## The run-record contract", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert documented == [f.name for f in dataclasses.fields(RunRecord)][-1:] + \
        [f.name for f in dataclasses.fields(RunRecord)][:-1]   # schema first, then in field order


def test_every_cited_document_exists():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True).stdout.split()
    cited = set()
    for name in tracked:
        if name.endswith((".py", ".md", ".yaml")) and (REPO_ROOT / name).is_file():
            text = (REPO_ROOT / name).read_text()
            cited.update(re.findall(r"\b((?:docs|conf)/[\w/.-]+\.(?:md|yaml|png))", text))
            cited.update(re.findall(r"\b([A-Z]+\.md)\b", text))   # top-level documents
    real = {path: str((REPO_ROOT / path).resolve().relative_to(REPO_ROOT.resolve())) for path in cited}
    # ignored: files a user creates (conf/local/default.yaml)
    ignored = subprocess.run(["git", "check-ignore", *sorted(real.values())], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.split()
    missing = sorted(path for path in cited if not (REPO_ROOT / path).is_file() and real[path] not in ignored)
    assert not missing, missing


def test_the_analysis_defaults_have_one_source():
    import yaml

    from homogenization.analysis.study import DEFAULTS_FILE, Settings

    configured = yaml.safe_load(DEFAULTS_FILE.read_text())
    assert dataclasses.asdict(Settings()) == {k: v for k, v in configured.items() if k != "group_by"}
    report = (REPO_ROOT / "conf" / "report" / "at_sweep_end.yaml").read_text()
    assert "/analysis@_here_: default" in report and "bootstrap:" not in report


def test_no_function_of_the_package_is_over_60_lines():
    """Small functions: one that grows past this is split into named parts (docs/architecture.md)."""
    long = []
    for root in ("homogenization", "lightning_modules", "datamodules", "hydra_plugins"):
        for path in (REPO_ROOT / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > 60:
                        where = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
                        long.append(f"{where} {node.name} ({lines} lines)")
    assert not long, long


def test_importing_the_analysis_has_no_side_effects():
    """Importing the analysis (as a notebook does) switches no matplotlib backend and reads no
    config file: the defaults are read when the first Settings is made."""
    code = ("import matplotlib; matplotlib.use('svg'); "
            "import homogenization.analysis.make_report, homogenization.analysis.report.figures as f; "
            "import homogenization.analysis.study as s; "
            "print(matplotlib.get_backend(), s._defaults.cache_info().currsize)")
    import sys
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert found.stdout.split() == ["svg", "0"], found.stderr[-2000:]
