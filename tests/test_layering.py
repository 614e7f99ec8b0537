"""DESIGN.md section 1: imports point one way, cli -> model -> layers/losses/optimizers
-> kernels. A kernel never imports a layer; a layer never imports the model; the CLI
holds no maths.

Every module of the package (nbnet/**/*.py, and cli/*.py installed as nbnet.cli) is
parsed with `ast`, never imported. Module-level and function-level imports count alike
(a function-level import is still a dependency, only a later one); `import x`,
`from x import y`, relative imports resolved against the module's package, and
`from . import name` where `name` is a submodule (an edge to that submodule). Imports
under `if TYPE_CHECKING:` are ignored, and so are third-party packages. Two kinds of
violation:

(a) upward: a module imports a module of a higher rank than its own (RANKS below);
(b) cycle: modules that import each other, directly or through others; each elementary
    cycle is reported with its modules in import order, starting at the smallest name.

The facade `nbnet/__init__.py` may import anything; importing the facade from inside
the library ranks it just below the CLI (it pulls in everything). Cycles through the
facade are not listed separately: any such cycle starts with an upward import into the
facade, which (a) already reports.
"""
import ast
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- layers
# Lowest first. A key names one module ("nbnet.model", "nbnet" = the facade only) or,
# ending in ".*", a package and everything in it ("nbnet.layers.*"); the longest
# matching key wins. A module may import modules of its own rank or lower; same-rank
# imports must not form a cycle. A new module with no rank here is itself a
# violation ("unranked"): place it.
KERNELS, FOUNDATIONS, BLOCKS, DATA, MODEL, FACADE, CLI = range(7)
RANKS = {
    # 0. pure @njit kernels: arrays in, arrays out.
    "nbnet.kernels.*": KERNELS,
    # 1. small foundations with no knowledge of layers or models: error types, numeric
    #    settings, seeds, the thread count, BLAS on Numba's pool, this machine's
    #    measured limits, and the tiny public helpers built from them.
    "nbnet.errors": FOUNDATIONS,
    "nbnet.config": FOUNDATIONS,
    "nbnet.random": FOUNDATIONS,
    "nbnet.threads": FOUNDATIONS,
    "nbnet.blas": FOUNDATIONS,
    "nbnet.machine": FOUNDATIONS,
    "nbnet.utils": FOUNDATIONS,
    "nbnet.fileio": FOUNDATIONS,       # atomic writes
    "nbnet.download": FOUNDATIONS,     # get_file: the Keras download cache
    "nbnet.pydataset": FOUNDATIONS,    # PyDataset / generators as batch sources
    "nbnet.registry": FOUNDATIONS,     # the one registry type (get / serialize / deserialize)
    "nbnet._version": FOUNDATIONS,
    # 2. the building blocks a model is made of (DESIGN: layers/losses/optimizers).
    "nbnet.initializers": BLOCKS,
    "nbnet.activations": BLOCKS,
    "nbnet.losses": BLOCKS,
    "nbnet.metrics": BLOCKS,
    "nbnet.optimizers": BLOCKS,
    "nbnet.regularizers": BLOCKS,
    "nbnet.constraints": BLOCKS,
    "nbnet.lr_schedules": BLOCKS,   # per-step learning-rate schedules (optimizer arguments)
    "nbnet.layers.*": BLOCKS,
    # 3. data: reading CSV text, encoding tables, datasets, the metric reports.
    "nbnet.csvread": DATA,
    "nbnet.tabular": DATA,
    "nbnet.data": DATA,
    "nbnet.datasets.*": DATA,
    "nbnet.report": DATA,
    "nbnet.dataset_utils": DATA,  # image / text_dataset_from_directory
    # 4. the model and what drives, saves, spreads and measures it.
    "nbnet.model": MODEL,          # Sequential
    "nbnet.functional": MODEL,     # Model(inputs, outputs), a Sequential subclass
    "nbnet.models": MODEL,         # the keras.models namespace
    "nbnet.training": MODEL,
    "nbnet.modelcheck": MODEL,     # what a model file's config.json may hold
    "nbnet.trainer": MODEL,        # compile / fit / evaluate / predict, the step
    "nbnet.callbacks": MODEL,
    "nbnet.schedules": MODEL,      # epoch schedules are callbacks (DESIGN.md section 3)
    "nbnet.saving": MODEL,
    "nbnet.distributed": MODEL,
    "nbnet.summary": MODEL,
    "nbnet.profiler": MODEL,
    "nbnet.plan": MODEL,           # the execution plan: a function pair per layer call
    # 5. the package facade (exempt as an importer, see module docstring).
    "nbnet": FACADE,
    # 6. the command line, thin over the library.
    "nbnet.cli.*": CLI,
}
FACADE_MODULE = "nbnet"

# --------------------------------------------------------------------------- checker
def _modules(directory, package):
    """{dotted module name: path} for every .py file under `directory` (the package
    `package`); a package's __init__.py is the package's own name."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        rel = Path(dirpath).relative_to(directory)
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            parts = [package, *rel.parts] + ([] if f == "__init__.py" else [f[:-3]])
            out[".".join(p for p in parts if p)] = Path(dirpath) / f
    return out


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node):
    """Every Import / ImportFrom in `node`, at any depth, except the bodies of
    `if TYPE_CHECKING:` (their `else:` still counts)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    yield sub
                else:
                    yield from _import_nodes(sub)
        else:
            yield from _import_nodes(child)


def _resolve(name, modules):
    """The longest prefix of dotted `name` that is one of our modules, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in modules:
            return cand
    return None


def _imports(module, path, modules):
    """[(imported module, line)] of `module`'s imports of modules in `modules`."""
    is_pkg = path.name == "__init__.py"
    own_pkg = module if is_pkg else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    found.append((target, node.lineno))
            continue
        if node.level:
            base = own_pkg.split(".")
            base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            base = ".".join(base + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if alias.name != "*" and sub in modules:
                found.append((sub, node.lineno))      # from pkg import submodule
            else:
                target = _resolve(base, modules)
                if target:
                    found.append((target, node.lineno))
    return found


def _rank(module, ranks):
    best = None
    for key in ranks:
        name = key[:-2] if key.endswith(".*") else key
        if (module == name or (key.endswith(".*") and module.startswith(name + "."))) and (
                best is None or len(name) > len(best[0])):
            best = (name, key)
    return None if best is None else ranks[best[1]]


def _cycles(graph):
    """Elementary cycles of {node: set(successors)}, each starting at its smallest
    node, in a deterministic order (small graphs only)."""
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ()), reverse=True):
                if nxt == start:
                    cycles.append(path + [start])
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(cycles)


def violations(root_dir, package_name, ranks, mounts=None, facade=None):
    """Upward imports and import cycles of the package in `root_dir` named
    `package_name`, as sorted one-line strings:

        upward  <file>:<lines>  <importer> (<rank>) -> <imported> (<rank>)
        unranked  <file>  <module>
        cycle   <a> -> <b> -> ... -> <a>  (<file of a>:<line of its import of b>, ...)

    `ranks` maps module names, or package names ending in ".*" (the package and all
    below it), to ranks (lowest first; the longest matching key wins). `mounts` maps
    further dotted package names to directories (the CLI in cli/ is installed as
    nbnet.cli). `facade` names a module that may import anything and is left out of
    cycle search (the package's __init__)."""
    dirs = {package_name: Path(root_dir), **{k: Path(v) for k, v in (mounts or {}).items()}}
    modules = {}
    for pkg, d in dirs.items():
        modules.update(_modules(d, pkg))

    def shown(path):
        for d in dirs.values():
            if path.is_relative_to(d):
                return f"{d.name}/{path.relative_to(d).as_posix()}"
        return str(path)  # pragma: no cover

    out, graph, first_line = [], {}, {}
    for module, path in sorted(modules.items()):
        mine = _rank(module, ranks)
        if mine is None:
            out.append(f"unranked  {shown(path)}  {module}")
        lines = {}
        for target, line in _imports(module, path, modules):
            if target != module:
                lines.setdefault(target, []).append(line)
        for target, ls in sorted(lines.items()):
            first_line[module, target] = min(ls)
            if module != facade and target != facade:
                graph.setdefault(module, set()).add(target)
            theirs = _rank(target, ranks)
            if module != facade and mine is not None and theirs is not None and theirs > mine:
                where = ",".join(str(n) for n in sorted(set(ls)))
                out.append(f"upward  {shown(path)}:{where}  {module} ({mine}) -> "
                           f"{target} ({theirs})")
    for cycle in _cycles(graph):
        where = ", ".join(f"{shown(modules[a])}:{first_line[a, b]}"
                          for a, b in zip(cycle, cycle[1:]))
        out.append(f"cycle   {' -> '.join(cycle)}  ({where})")
    return sorted(out)


def _nbnet_violations():
    return violations(REPO / "nbnet", "nbnet", RANKS, mounts={"nbnet.cli": REPO / "cli"},
                      facade=FACADE_MODULE)


# --------------------------------------------------------------------------- tests
def test_imports_point_one_way():
    found = _nbnet_violations()
    assert found == [], "import layering violations:\n" + "\n".join(found)


def _write(root, rel, text=""):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_checker_finds_upward_imports_and_cycles(tmp_path):
    fake = tmp_path / "fake"
    _write(fake, "__init__.py", "from . import model, a, b\nfrom .kernels import k\n")
    _write(fake, "kernels/__init__.py")
    _write(fake, "kernels/k.py", "import numpy as np\n\n\ndef f():\n    from .. import model\n")
    _write(fake, "kernels/ok.py", "from . import k\nfrom .k import f\n")
    _write(fake, "model.py", "import numpy\n")
    _write(fake, "a.py", "from typing import TYPE_CHECKING\nfrom fake import b\n"
                         "if TYPE_CHECKING:\n    from . import model\n")
    _write(fake, "b.py", "import os\nfrom .a import x\n")
    _write(fake, "down.py", "from fake.model import y\nimport fake.kernels.ok\n"
                            "from .kernels import k\n")
    ranks = {"fake.kernels.*": 0, "fake.a": 1, "fake.b": 1, "fake.model": 2, "fake.down": 3,
             "fake": 4}
    assert violations(fake, "fake", ranks, facade="fake") == [
        "cycle   fake.a -> fake.b -> fake.a  (fake/a.py:2, fake/b.py:2)",
        "upward  fake/kernels/k.py:5  fake.kernels.k (0) -> fake.model (2)",
    ]
    # a module no key covers is reported, never given a neighbour's rank
    del ranks["fake.b"]
    assert "unranked  fake/b.py  fake.b" in violations(fake, "fake", ranks, facade="fake")
