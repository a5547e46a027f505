"""The package's shape: the layer order (nothing imports upward), no import cycle between vsr's
modules, lazy imports included, no module reaching into another module's private names, and
no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vsr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str]) -> dict[str, set[str]]:
    """``{imported vsr module: {names taken from it}}`` for every import in the file, at any depth."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in known:  # `from vsr.batch import job` imports the module vsr.batch.job
                    found.setdefault(sub, set())
                else:
                    found.setdefault(node.module, set()).add(alias.name)
    return found


def _graph() -> tuple[dict[str, dict[str, set[str]]], set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: _imports(path, known) for name, path in files.items()}, known


def _packages_of(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycles():
    graph, _ = _graph()
    # importing a submodule runs its packages' __init__ first, but a package re-exporting its
    # own submodules is not a cycle: only edges that leave a module's own package count
    edges = {m: {d for d in deps if d != m and d not in _packages_of(m)} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_modules():
    graph, _ = _graph()
    leaks = [f"{m} imports {dep}.{name}" for m, deps in graph.items() for dep, names in deps.items()
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert not leaks, leaks


def test_modules_stay_short():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"


# The layers, top to bottom (README's "Layout"): a module imports its own layer and those below,
# never one above, lazy imports included. A module's layer is that of its longest listed prefix.
LAYERS = [
    ("cli", ["vsr", "vsr.__main__", "vsr.cli"]),
    ("batch", ["vsr.batch"]),
    ("segments", ["vsr.segments"]),
    ("pipeline", ["vsr.pipeline", "vsr.stages", "vsr.progress", "vsr.estimate", "vsr.image", "vsr.demo", "vsr.info"]),
    ("upscale / media", ["vsr.upscale", "vsr.media"]),
    ("backends", ["vsr.backends"]),
    ("models", ["vsr.models"]),
    ("config, frames, errors", ["vsr.config", "vsr.frames", "vsr.errors", "vsr.output", "vsr.devices", "vsr.target",
                                "vsr.quality", "vsr.samples"]),
]


def _layer(module: str) -> int:
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_nothing_imports_upward():
    graph, _ = _graph()
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
              for m, deps in graph.items() for d in deps
              if d != m and d not in _packages_of(m) and _layer(d) < _layer(m)]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_pyav_lives_in_vsr_media_only():
    """The stages outside vsr/media (pipeline, upscaler, batch, CLI) see YuvFrames and
    snapshots, never PyAV objects they would need to import av for."""
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "media":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "av" or n.startswith("av.") for n in names):
                outside.append(str(path.relative_to(PACKAGE)))
    assert not outside, f"PyAV imported outside vsr/media: {sorted(set(outside))}"
