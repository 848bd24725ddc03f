"""The repository's layout rules, checked on the tree itself (and, to show each check can fail, on a small tree
made for the purpose in a temporary folder):

- no folder under codegen/, tools/, scripts/ or tests/ holds more than 15 Python modules;
- no folder of mcu_runtime/ holds more than 15 C modules (a .c and its .h count once; a lone header counts);
- the runtime is exactly mcu_runtime/<group>/*.{c,h} (the pattern every build uses), its groups named after
  codegen/kernels/ packages or `common` / `conv_s16`, so a file left in the old flat src/ or include/ is caught;
- a runtime header lives beside its .c, or in mcu_runtime/common/, and file names are unique across groups
  (C includes them by bare name through one -I per group);
- codegen imports nothing from tools, scripts or tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

from codegen.paths import REPO_ROOT

MAX_MODULES = 15
PYTHON_ROOTS = ("codegen", "tools", "scripts", "tests")
FORBIDDEN_IN_CODEGEN = ("tools", "scripts", "tests")
# Runtime groups that have no codegen/kernels/ package of the same name (yet): the shared helpers, and the 16x8
# conv kernels whose codegen group is being created.
EXTRA_RUNTIME_GROUPS = frozenset({"common", "conv_s16"})


def crowded_python_folders(root: Path, tops: tuple[str, ...] = PYTHON_ROOTS) -> list[str]:
    """Folders under `root`/`tops` holding more than MAX_MODULES Python modules (__init__.py included)."""
    found = []
    for top in tops:
        for folder in [root / top, *sorted((root / top).rglob("*"))]:
            if not folder.is_dir() or "__pycache__" in folder.parts:
                continue
            count = len(list(folder.glob("*.py")))
            if count > MAX_MODULES:
                found.append(f"{folder.relative_to(root)}: {count} Python modules")
    return found


def runtime_problems(runtime: Path, known_groups: frozenset[str]) -> list[str]:
    """Everything in the C runtime `runtime` that breaks the layout rules (an empty list when it is clean)."""
    problems = []
    seen: dict[str, Path] = {}
    for path in sorted(runtime.rglob("*")):
        if path.is_dir() or path.suffix not in (".c", ".h"):
            continue
        rel = path.relative_to(runtime)
        if len(rel.parts) != 2:
            problems.append(f"{rel}: not in mcu_runtime/<group>/ (the builds only see mcu_runtime/*/*.c)")
            continue
        group = rel.parts[0]
        if group not in known_groups:
            problems.append(f"{rel}: {group}/ is no kernel group (codegen/kernels/<group>/ or common)")
        if path.suffix == ".h" and group != "common" and not path.with_suffix(".c").exists():
            problems.append(f"{rel}: a header without its .c beside it belongs in common/")
        if path.name in seen:
            problems.append(f"{rel}: same name as {seen[path.name].relative_to(runtime)} (included by bare name)")
        seen[path.name] = path
    for folder in sorted(p for p in runtime.iterdir() if p.is_dir()):
        modules = {p.stem for p in folder.iterdir() if p.suffix in (".c", ".h")}
        if len(modules) > MAX_MODULES:
            problems.append(f"{folder.name}/: {len(modules)} C modules (at most {MAX_MODULES})")
    return problems


def codegen_forbidden_imports(package: Path) -> list[str]:
    """Imports of tools, scripts or tests anywhere in the Python package `package`."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IN_CODEGEN:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno} imports {name}")
    return found


def kernel_groups(root: Path) -> frozenset[str]:
    kernels = root / "codegen" / "kernels"
    return frozenset(p.name for p in kernels.iterdir() if (p / "__init__.py").is_file()) | EXTRA_RUNTIME_GROUPS


def test_python_folders_hold_at_most_15_modules() -> None:
    assert crowded_python_folders(REPO_ROOT) == []


def test_runtime_layout() -> None:
    runtime = REPO_ROOT / "mcu_runtime"
    assert len(list(runtime.glob("*/*.c"))) > 50  # the check below looks at the real runtime
    assert runtime_problems(runtime, kernel_groups(REPO_ROOT)) == []


def test_codegen_imports_no_tools_scripts_or_tests() -> None:
    assert codegen_forbidden_imports(REPO_ROOT / "codegen") == []


def _touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_checks_catch_violations(tmp_path: Path) -> None:
    for i in range(MAX_MODULES):
        _touch(tmp_path / "tests" / "ok" / f"m{i}.py")
        _touch(tmp_path / "tests" / "ok" / "deeper" / f"m{i}.py")
    assert crowded_python_folders(tmp_path, ("tests",)) == []
    _touch(tmp_path / "tests" / "ok" / "deeper" / "one_more.py")
    assert crowded_python_folders(tmp_path, ("tests",)) == ["tests/ok/deeper: 16 Python modules"]

    runtime = tmp_path / "mcu_runtime"
    groups = frozenset({"conv", "common"})
    for i in range(MAX_MODULES):  # 15 modules: 14 with a header, one without
        _touch(runtime / "conv" / f"k{i}.c")
        if i:
            _touch(runtime / "conv" / f"k{i}.h")
    _touch(runtime / "common" / "fixedpoint.h")
    assert runtime_problems(runtime, groups) == []
    _touch(runtime / "conv" / "k15.c")
    _touch(runtime / "conv" / "lonely.h")
    _touch(runtime / "src" / "new_kernel.c")
    _touch(runtime / "include" / "fixedpoint.h")
    _touch(runtime / "conv" / "nested" / "x.c")
    _touch(runtime / "flat.c")
    problems = runtime_problems(runtime, groups)
    assert [p.split(":")[0] for p in problems] == [
        "conv/lonely.h", "conv/nested/x.c", "flat.c", "include/fixedpoint.h", "include/fixedpoint.h",
        "include/fixedpoint.h", "src/new_kernel.c", "conv/"]
    assert "17 C modules" in problems[-1]

    package = tmp_path / "codegen"
    _touch(package / "a.py", "from codegen.ir import Graph\nimport numpy\n")
    assert codegen_forbidden_imports(package) == []
    _touch(package / "sub" / "b.py", "import json\n\ndef f():\n    from tests.support import x\n    import tools.cli\n")
    assert codegen_forbidden_imports(package) == [
        "codegen/sub/b.py:4 imports tests.support", "codegen/sub/b.py:5 imports tools.cli"]
