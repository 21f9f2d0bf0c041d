"""MkDocs hooks (``hooks:`` in mkdocs.yml): the site does not build under ``--strict`` when a page's
generated parts differ from the code (``tools/generate_docs.py``) or a public name of ``dissim``, or
a public method of a public class, has no docstring."""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("mkdocs.plugins.dissim")


# Their meaning is fixed by the scikit-learn estimator contract, which the class docstrings follow.
SKLEARN_API = {"fit", "transform", "fit_transform", "predict", "predict_proba", "predict_log_proba",
               "decision_function", "score", "get_params", "set_params"}


def undocumented() -> list[str]:
    """Public names of ``dissim`` without a docstring, and public methods and properties of its public
    classes without one of their own or inherited (scikit-learn's estimator methods aside)."""
    import dissim

    missing = []
    for name in dissim.__all__:
        obj = getattr(dissim, name)
        if name.startswith("__"):
            continue
        if not inspect.getdoc(obj):
            missing.append(f"dissim.{name}")
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") or attr in SKLEARN_API:
                continue
            if (callable(value) or isinstance(value, (property, staticmethod, classmethod))) \
                    and not inspect.getdoc(getattr(obj, attr)):
                missing.append(f"dissim.{name}.{attr}")
    return missing


def on_pre_build(config, **kwargs) -> None:
    for path in (ROOT, ROOT / "tools"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from generate_docs import stale_pages

    for page in stale_pages(Path(config["docs_dir"])):
        log.warning(f"{page.relative_to(ROOT)}: its generated parts differ from the code; "
                    "run python tools/generate_docs.py")
    for name in undocumented():
        log.warning(f"{name} has no docstring (the API reference is built from docstrings)")
