"""The package's shape: no import circle anywhere (top level or inside functions), no library module
importing a script, and lines of at most 120 characters in every Python file of models/."""
import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1]
PACKAGE = MODELS / "mnemo_models"
MAX_LINE = 120


def module_name(path: Path) -> str:
    parts = path.relative_to(MODELS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every mnemo_models module this file imports, wherever the import statement sits."""
    here = module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("mnemo_models")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                    # relative: resolve against this package
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("mnemo_models"):
                continue
            for a in node.names:                              # `from pkg import module` names a module
                sub = f"{mod}.{a.name}"
                out.add(sub if (MODELS / (sub.replace(".", "/") + ".py")).is_file() else mod)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}                                # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_in_models():
    g = graph()
    assert "mnemo_models.mac.export" in g["mnemo_models.bundle.format2"]     # the graph sees real edges
    assert find_cycle(g) is None, " -> ".join(find_cycle(g))


def test_scripts_are_thin_and_no_library_module_imports_one():
    scripts = {module_name(p) for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert "mnemo_models.build_bundle" in scripts
    bad = [f"{m} imports {s}" for m, deps in graph().items() if m not in scripts for s in deps & scripts]
    assert bad == []
    fat = [s for s in scripts if len((MODELS / (s.replace(".", "/") + ".py")).read_text().splitlines()) > 150]
    assert fat == [], "a script holds library code"


def test_lines_fit_in_120_characters():
    long = [f"{p.relative_to(MODELS)}:{i}" for p in MODELS.rglob("*.py") if ".venv" not in p.parts
            for i, line in enumerate(p.read_text().splitlines(), 1) if len(line) > MAX_LINE]
    assert long == [], f"{len(long)} lines over {MAX_LINE} characters"
