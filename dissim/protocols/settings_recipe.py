"""Recipes made of one [settings] table (the one-shot and verify protocols): reading them and
applying command-line flags, checked by the same schema as the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import UserError
from ..hardware import RunCompute
from ..settings import parse_settings

SECTIONS = ("settings",)
# command-line flag -> the usual setting it changes
FLAG_SETTINGS = {"iterations": "epochs", "batch_size": "batch_size", "input_size": "input_size",
                 "topologies": "topology"}


@dataclass(frozen=True)
class SettingsRecipe:
    """A recipe of a protocol that is fully described by its settings dataclass."""

    name: str
    protocol: str
    description: str
    settings: object
    source: str

    @property
    def precision(self) -> str:
        return self.settings.precision

    def with_precision(self, precision: str) -> "SettingsRecipe":
        """With ``precision`` as asked (``auto`` included): what names the run's results folder."""
        return replace(self, settings=replace(self.settings, precision=precision))

    def with_compute(self, compute: RunCompute, dims: int) -> "SettingsRecipe":
        """With the precision the run resolved for its networks (``dims``-D: its data's); these protocols
        train no ImageNet network."""
        return self.with_precision(compute.precision(dims=dims))

    def to_dict(self) -> dict:
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.settings).items()}
        return {"name": self.name, "protocol": self.protocol, "description": self.description, "settings": values,
                "source": self.source}


class SettingsRecipes:
    """``parse`` and ``apply_flags`` for protocol ``protocol`` whose settings are ``settings_class``,
    completed by ``check(settings, where)`` for the rules between settings."""

    def __init__(self, protocol: str, settings_class, check: Callable):
        self.protocol, self.settings_class, self.check = protocol, settings_class, check

    def parse(self, doc: dict, path: Path, profile: str | None = None) -> SettingsRecipe:
        if profile is not None:
            raise UserError(f"--profile does not apply to {self.protocol} recipes; their settings are in the "
                            "recipe's [settings]")
        where = f"{path} [settings]"
        settings = self.check(parse_settings(self.settings_class, doc.get("settings") or {}, where), where)
        return SettingsRecipe(path.stem, self.protocol, doc.get("description", ""), settings, str(path))

    def apply_flags(self, recipe: SettingsRecipe, flags: dict) -> SettingsRecipe:
        """--iterations sets the epochs, --batch-size the batch, --input-size the input side and
        --topologies the (one) twin, where the settings have them."""
        changes, shown = {}, {}
        for flag, value in flags.items():
            key = FLAG_SETTINGS[flag]
            if flag == "topologies":
                if len(value) != 1:
                    raise UserError(f"--topologies {','.join(value)}: a {self.protocol} run trains one twin; give one")
                value = value[0]
            changes[key], shown[key] = value, "--" + flag.replace("_", "-")
        settings = parse_settings(self.settings_class, {**asdict(recipe.settings), **changes}, "command line",
                                  flags=shown)
        return replace(recipe, settings=self.check(settings, "command line"))


class SettingsProtocol:
    """The recipe side of a protocol whose recipe is one [settings] table (``recipes`` reads it)."""

    sections = SECTIONS
    flags = frozenset(FLAG_SETTINGS) - {"input_size"}  # a protocol whose input size is free adds it
    recipes: SettingsRecipes

    def __init_subclass__(cls, recipes: SettingsRecipes | None = None, **declared):
        super().__init_subclass__(**declared)
        if recipes is not None:
            cls.recipes = recipes

    def parse(self, doc: dict, path: Path, profile: str | None = None) -> SettingsRecipe:
        return self.recipes.parse(doc, path, profile)

    def apply_flags(self, recipe: SettingsRecipe, flags: dict) -> SettingsRecipe:
        return self.recipes.apply_flags(recipe, flags)
