"""The one layer vocabulary: the names of StyleGAN's layer groups, their words, and the choices
every control offers (mixing, directions, noise, timeline, matrix, plugin forms).

As in the StyleGAN paper: coarse = the synthesis layers at 4-8 px (pose, face shape), medium =
16-32 px (features, hair style), fine = 64 px and up (colours, texture). Which ws indices each
group covers depends on the model (`Generator.info.groups`, from its own layer resolutions).
"""
from __future__ import annotations

GROUP_NAMES: tuple[str, ...] = ("coarse", "medium", "fine")
ALL = "all"
LAYER_CHOICES: tuple[str, ...] = (ALL, *GROUP_NAMES)      # what a layers control offers, in order

COARSE_MAX_RES = 8       # 4x4 - 8x8
MEDIUM_MAX_RES = 32      # 16x16 - 32x32; fine is everything above

GROUP_WORDS = {"coarse": "pose, face shape", "medium": "features, hair", "fine": "colours, texture"}
GROUP_HELP = {ALL: "Every layer",
              "coarse": "Pose, face shape (4–8 px layers)",
              "medium": "Features, hair style (16–32 px layers)",
              "fine": "Colours, texture (64 px and up)"}


def group_label(name: str) -> str:
    """'All', 'Coarse' ... for a control's button."""
    return name.capitalize()


def available_groups(groups: dict) -> dict[str, bool]:
    """Which named groups a model has (a 32 px model has no fine layers)."""
    return {g: bool(len(groups.get(g, ()))) for g in GROUP_NAMES}


# ----- one spec, parsed and resolved in one place ---------------------------------------------------
class LayerSpec:
    """Which ws rows an edit, a mix, a direction, noise or a timeline segment acts on.

    Written as 'all', a group ('coarse'), groups joined with '+' ('coarse+fine'), a list of group
    names, or an explicit [start, stop) index range (a tuple, list or range). `parse` takes any of
    these (and raises ValueError with one sentence); `resolve` / `rows` turn it into ws indices
    for a model's groups (`Generator.info.groups`)."""

    __slots__ = ("groups", "span")

    def __init__(self, groups: tuple[str, ...] = (), span: tuple[int, int] | None = None):
        self.groups = tuple(groups)      # () with no span: every layer
        self.span = span

    @classmethod
    def parse(cls, spec) -> "LayerSpec":
        if isinstance(spec, LayerSpec):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, range):
            if spec.step != 1:
                raise ValueError("a layer range must be contiguous")
            spec = (spec.start, spec.stop)
        if isinstance(spec, str):
            names = [s.strip() for s in spec.replace(",", "+").split("+") if s.strip()]
        elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
            names = [str(s).strip() for s in spec]
        elif isinstance(spec, (list, tuple)) and len(spec) == 2:
            try:
                start, stop = (int(v) for v in spec)
            except (TypeError, ValueError):
                raise ValueError(f"a layer range is two whole numbers [start, stop); got {spec!r}") from None
            if start < 0 or stop <= start:
                raise ValueError(f"layer range [{start}, {stop}) is empty or negative")
            return cls(span=(start, stop))
        else:
            raise ValueError(f"layers must be all, coarse, medium, fine (joined with '+') or [start, stop]; "
                             f"got {spec!r}")
        if not names or ALL in names:
            return cls()
        bad = [n for n in names if n not in GROUP_NAMES]
        if bad:
            raise ValueError(f"unknown layer group {bad[0]!r}; use coarse, medium, fine, all or (start, stop)")
        return cls(tuple(n for n in GROUP_NAMES if n in names))      # canonical order

    # ----- what it is ---------------------------------------------------------------------------------
    @property
    def is_all(self) -> bool:
        return not self.groups and self.span is None

    @property
    def group(self) -> str | None:
        """The one group name it is, else None."""
        return self.groups[0] if len(self.groups) == 1 else None

    def canonical(self) -> str | tuple[int, int]:
        """'all', 'coarse+medium' (canonical order) or (start, stop)."""
        if self.span is not None:
            return self.span
        return "+".join(self.groups) if self.groups else ALL

    def to_json(self) -> str | list[int]:
        c = self.canonical()
        return list(c) if isinstance(c, tuple) else c

    def __eq__(self, other) -> bool:
        try:
            other = LayerSpec.parse(other)
        except ValueError:
            return NotImplemented
        return self.groups == other.groups and self.span == other.span

    def __hash__(self) -> int:
        return hash((self.groups, self.span))

    def __repr__(self) -> str:
        return f"LayerSpec({self.canonical()!r})"

    # ----- on a model ---------------------------------------------------------------------------------
    def rows(self, num_ws: int, groups: dict | None = None) -> list[int]:
        """The ws row indices it selects, ascending."""
        if self.is_all:
            return list(range(num_ws))
        if self.span is not None:
            return list(self.resolve(num_ws, groups))
        if groups is None:
            raise ValueError(f"layer group {self.canonical()!r} needs the model (its layer groups)")
        out: set[int] = set()
        for name in self.groups:
            if name not in groups:
                raise ValueError(f"unknown layer group {name!r}; use coarse, medium, fine, all or (start, stop)")
            out.update(groups[name])
        return sorted(out)

    def resolve(self, num_ws: int, groups: dict | None = None) -> range:
        """A contiguous ws index range (groups joined must be neighbours: coarse+medium, not coarse+fine)."""
        if self.is_all:
            return range(num_ws)
        if self.span is not None:
            r = range(*self.span)
            if r.start < 0 or r.stop > num_ws or r.start >= r.stop:
                raise ValueError(f"layer range {r.start}-{r.stop - 1} is outside 0-{num_ws - 1}")
            return r
        rows = self.rows(num_ws, groups)
        if not rows:
            return range(0)
        if rows != list(range(rows[0], rows[-1] + 1)):
            raise ValueError(f"layers {self.canonical()!r} are not one contiguous range")
        return range(rows[0], rows[-1] + 1)
