"""MkDocs hook: one API reference page per module of ``src/isac_iov``, found when the site is built.

Each page holds a single mkdocstrings directive (``::: isac_iov.env.core``), so the reference is generated from the
docstrings and a module that is added, split or renamed appears (or disappears) without editing ``mkdocs.yml``.
The hook fills the nav entry titled :data:`NAV_TITLE` (whose first item, the hand-written overview, stays) with one
section per package, in import-path order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PACKAGE = "isac_iov"
SOURCE = Path(__file__).resolve().parents[2] / "src"
NAV_TITLE = "API reference"
PAGES_DIR = "api"


def api_modules(source: Path = SOURCE, package: str = PACKAGE) -> list[str]:
    """Dotted names of every module and package under ``source/package``, packages before their modules."""
    names = []
    for path in sorted((source / package).rglob("*.py")):
        parts = list(path.relative_to(source).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        elif parts[-1].startswith("_") or parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda name: name.split("."))


def page_path(module: str) -> str:
    """The page of ``module`` inside the docs: a package is its folder's ``index.md``."""
    parts = module.split(".")
    if (SOURCE.joinpath(*parts) / "__init__.py").exists():
        return "/".join([PAGES_DIR, *parts, "index.md"])
    return "/".join([PAGES_DIR, *parts]) + ".md"


def api_nav(modules: list[str]) -> list[Any]:
    """The nav of the generated pages: the top package, then a section per subpackage holding its modules."""
    sections: dict[str, list[Any]] = {}
    top = []
    for module in modules:
        parts = module.split(".")
        in_subpackage = len(parts) > 2 or page_path(module).endswith("/index.md") and len(parts) == 2
        if in_subpackage:  # a section per subpackage: its own page first (the section's index), then its modules
            sections.setdefault(".".join(parts[:2]), []).append({parts[-1]: page_path(module)})
        else:  # the package itself and its top-level modules
            top.append({module: page_path(module)})
    return top + [{name: pages} for name, pages in sections.items()]


def on_config(config: Any) -> Any:
    """Fill the API reference section of the nav with the pages this build generates."""
    for item in config["nav"] or []:
        if isinstance(item, dict) and NAV_TITLE in item:
            item[NAV_TITLE] = [*item[NAV_TITLE][:1], *api_nav(api_modules())]
            return config
    raise ValueError(f"mkdocs.yml: the nav has no {NAV_TITLE!r} section for the generated pages")


def on_files(files: Any, config: Any) -> Any:
    """Add one generated page per module, holding the mkdocstrings directive that renders it."""
    from mkdocs.structure.files import File

    for module in api_modules():
        content = f"# `{module}`\n\n::: {module}\n"
        files.append(File.generated(config, page_path(module), content=content))
    return files
