"""The one recipe loader: a TOML file whose ``protocol`` key (default ``ensemble``) names the
protocol that reads the rest of it."""

from __future__ import annotations

from ..errors import UserError
from ..protocols import PROTOCOLS
from ..resources import resource_dir
from ..settings import read_toml, recipe_path

COMMON_KEYS = {"protocol", "description"}
LEGACY_KIND = "kind"  # `kind = "oneshot"`: how one-shot recipes named their protocol before `protocol`


def protocol_of(doc: dict, where: str) -> str:
    name = doc.get("protocol") or doc.get(LEGACY_KIND) or "ensemble"
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise UserError(f"{where}: unknown protocol {name!r}; known protocols are {', '.join(PROTOCOLS.names())}")
    return PROTOCOLS.canonical(name)


def load_recipe(name_or_path: str, profile: str | None = None):
    """Read and validate a recipe (packaged name or TOML path); ``profile`` names a recipe whose
    profile replaces this one's (protocols that have profiles)."""
    path = recipe_path(name_or_path)
    doc = read_toml(path)
    name = protocol_of(doc, str(path))
    protocol = PROTOCOLS.get(name)
    known = COMMON_KEYS | set(protocol.sections) | ({LEGACY_KIND} if LEGACY_KIND in doc else set())
    unknown = set(doc) - known
    if unknown:
        raise UserError(f"{path}: unknown recipe keys {sorted(unknown)} for a {name} recipe; known: {sorted(known)}")
    if not isinstance(doc.get("description", ""), str):
        raise UserError(f"{path}: description must be a string (in quotes), got {doc['description']!r}")
    return protocol.parse(doc, path, profile)


def list_pipelines() -> list[tuple[str, str, str]]:
    """(name, protocol, description) of the packaged recipes."""
    out = []
    for path in sorted(resource_dir("pipelines").glob("*.toml")):
        try:
            doc = read_toml(path)
            out.append((path.stem, protocol_of(doc, str(path)), doc.get("description", "")))
        except UserError:
            out.append((path.stem, "?", "(unreadable)"))
    return out
