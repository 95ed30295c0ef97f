"""Readable text for recipes: short cell labels and the tree shown in the inspector.

Qt-free so the CLI, the library and tests can use the same words the window uses. A recipe is
the JSON tree of explorer.latents (`seed_recipe`, `edit_recipe`, {'op': 'import', ...}).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import plugin_ids as ids
from .layers import GROUP_WORDS  # noqa: E402,F401 - the one vocabulary

# What each input of a known plugin is, in the order the plugin takes them.
INPUT_ROLES = {
    ids.STYLE_MIX: ("target (kept elsewhere)", "source (styles taken)"),
    ids.CROSSBREED: ("parent A", "parent B"),
}


@dataclass
class RecipeNode:
    text: str
    children: list["RecipeNode"] = field(default_factory=list)
    role: str = ""           # e.g. 'source (styles taken)' for an input of a mix

    def lines(self, indent: int = 0) -> list[str]:
        """The tree as indented text (for the clipboard and for tests)."""
        head = f"{self.role}: {self.text}" if self.role else self.text
        out = ["  " * indent + head]
        for c in self.children:
            out += c.lines(indent + 1)
        return out


def layers_text(spec, groups: dict | None = None) -> str:
    """'coarse' -> 'coarse layers 0-3'; [2, 6] -> 'layers 2-5'; 'all'/None -> 'all layers'."""
    if spec is None or spec == "all":
        return "all layers"
    if isinstance(spec, str):
        r = (groups or {}).get(spec)
        if r is not None and len(r):
            return f"{spec} layers {r.start}-{r.stop - 1}"
        return f"{spec} layers"
    try:
        start, stop = (spec.start, spec.stop) if isinstance(spec, range) else (int(v) for v in spec)
    except (TypeError, ValueError):
        return f"layers {spec}"
    return f"layer {start}" if stop - start == 1 else f"layers {start}-{stop - 1}"


def _plugin_short(plugin: str) -> str:
    return plugin.split(".")[-1].replace("_", " ")


def short_label(recipe: dict, depth: int = 0) -> str:
    """A cell caption of a few words: 'seed 42', '3 × 7 coarse', 'anti 12', 'child of 5'."""
    op = recipe.get("op")
    if op == "seed":
        s = f"seed {recipe.get('seed')}" if depth == 0 else str(recipe.get("seed"))
        return s
    if op == "import":
        return str(recipe.get("name") or "imported")
    if op != "edit":
        return str(op or "?")
    plugin = str(recipe.get("plugin", "edit"))
    params = recipe.get("params") or {}
    ins = [short_label(r, depth + 1) for r in recipe.get("inputs") or []]
    if depth >= 2:
        return "…"
    a = ins[0] if ins else "?"
    name = plugin.split(".")[-1]
    # one of several results of one edit (children, a crossbreed litter, a noise strip): numbered,
    # so six children read "child 1 of 42" .. "child 6 of 42", not six times the same words
    k = recipe.get("output")
    nth = f" {int(k) + 1}" if isinstance(k, int) and not isinstance(k, bool) else ""
    if name == "style_mix" and len(ins) >= 2:
        layers = params.get("layers", "all")
        group = layers if isinstance(layers, str) else layers_text(layers)
        return _wrap(f"{ins[0]} × {ins[1]} · {group}", depth)
    if name == "antiface":
        return _wrap(f"anti {a}", depth)
    if name == "truncation":
        psi = params.get("psi")
        return _wrap(f"{a} ψ{psi:.2f}" if isinstance(psi, (int, float)) else f"{a} ψ", depth)
    if name == "children":
        return _wrap(f"child{nth} of {a}", depth)
    if name == "crossbreed" and len(ins) >= 2:
        return _wrap(f"{ins[0]} ⚭ {ins[1]}" + (f" #{nth.strip()}" if nth else ""), depth)
    if name == "noise_variation":
        return _wrap(f"{a} ~noise{nth}", depth)
    if name == "average":
        return _wrap(f"avg of {len(ins)}", depth)
    if name == "exaggerate":
        return _wrap(f"{a} exaggerated", depth)
    if name == "style_transfer":       # an image edit of the same face: its input keeps its own words
        inner = short_label((recipe.get("inputs") or [{}])[0], depth)
        return f"{inner} · {_style_name(params)}"
    if name == "move_direction":
        amount = params.get("amount")
        d = params.get("direction", "")
        amt = f"{amount:+.1f}" if isinstance(amount, (int, float)) else ""
        return _wrap(f"{a} {d}{amt}".strip(), depth)
    return _wrap(f"{_plugin_short(plugin)}({', '.join(ins)})", depth)


def _wrap(text: str, depth: int) -> str:
    return f"({text})" if depth else text


def describe_node(recipe: dict, groups: dict | None = None) -> str:
    """One sentence for one recipe node (its inputs are named by their short labels)."""
    op = recipe.get("op")
    if op == "seed":
        s = f"Seed {recipe.get('seed')}"
        psi = recipe.get("psi", 1.0)
        bits = []
        if psi is not None and float(psi) != 1.0:
            bits.append(f"ψ {float(psi):.2f}")
        if recipe.get("cutoff") is not None:
            bits.append(f"first {recipe['cutoff']} layers truncated")
        if recipe.get("class_index") is not None:
            bits.append(f"class {recipe['class_index']}")
        return s + (f" ({', '.join(bits)})" if bits else " (no truncation)")
    if op == "import":
        return f"Imported from {recipe.get('name') or 'a file'}"
    if op != "edit":
        return str(op or "unknown step")
    plugin = str(recipe.get("plugin", "edit"))
    name = plugin.split(".")[-1]
    params = dict(recipe.get("params") or {})
    ins = [short_label(r) for r in recipe.get("inputs") or []]
    a = ins[0] if ins else "?"
    if name == "style_mix" and len(ins) >= 2:
        layers = params.get("layers", "all")
        extra = f" ({GROUP_WORDS[layers]})" if isinstance(layers, str) and layers in GROUP_WORDS else ""
        return f"Mix of {ins[0]} and {ins[1]} over {layers_text(layers, groups)}{extra}"
    if name == "antiface":
        return f"Antiface of {a} on {layers_text(params.get('layers', 'all'), groups)}"
    if name == "truncation":
        psi = params.get("psi")
        cut = params.get("cutoff")
        s = f"Truncation of {a} to ψ {float(psi):.2f}" if isinstance(psi, (int, float)) else f"Truncation of {a}"
        if cut is not None:
            s += f", first {cut} layers"
        elif params.get("layers") not in (None, "all"):
            s += f", {layers_text(params.get('layers'), groups)}"
        return s
    if name == "crossbreed" and len(ins) >= 2:
        return f"Crossbreed of {ins[0]} and {ins[1]}"
    if name == "children":
        return f"Child of {a}" + _params_suffix(params)
    if name == "noise_variation":
        return f"Noise variation of {a}" + _params_suffix(params)
    if name == "average":
        return f"Average of {len(ins)} faces"
    if name == "style_transfer":
        bits = [f"{params.get('features', 'random')} features", f"{params.get('iterations', '?')} steps",
                f"style strength {float(params.get('style_weight', 0)):.1f}"]
        if params.get("keep_colours"):
            bits.append("colours kept")
        return f"Style transfer of {a} with style {_style_name(params)} ({', '.join(bits)})"
    return f"{_plugin_short(plugin).capitalize()} of {', '.join(ins) or 'nothing'}" + _params_suffix(params)


def _style_name(params: dict) -> str:
    style = str(params.get("style", "?"))
    if style == "file":
        from pathlib import PurePath

        return PurePath(str(params.get("style_file") or "a picture")).name
    return style.replace("_", " ")


def _params_suffix(params: dict) -> str:
    shown = []
    for k, v in params.items():
        if isinstance(v, float):
            v = f"{v:.2f}"
        elif isinstance(v, (dict, list)):
            v = ", ".join(f"{kk} {vv:.2f}" if isinstance(vv, float) else f"{kk} {vv}" for kk, vv in
                          (v.items() if isinstance(v, dict) else enumerate(v)))
        shown.append(f"{k.replace('_', ' ')} {v}")
    return f" ({'; '.join(shown)})" if shown else ""


def recipe_tree(recipe: dict, groups: dict | None = None, role: str = "") -> RecipeNode:
    """The recipe as a tree of sentences: root = the last step, children = its inputs."""
    node = RecipeNode(describe_node(recipe, groups), role=role)
    if recipe.get("op") == "edit":
        roles = INPUT_ROLES.get(str(recipe.get("plugin")), ())
        for i, sub in enumerate(recipe.get("inputs") or []):
            node.children.append(recipe_tree(sub, groups, roles[i] if i < len(roles) else f"input {i + 1}"))
    return node
