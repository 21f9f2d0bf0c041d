"""Running recipes: the one recipe loader, the runner (plan -> cache -> joblib backend), the result
cache, and the writers of tables, score files, figures and config.json."""

from ..protocols import RunOptions
from .recipe import list_pipelines, load_recipe
from .run import run_experiment

__all__ = ["RunOptions", "list_pipelines", "load_recipe", "run_experiment"]
