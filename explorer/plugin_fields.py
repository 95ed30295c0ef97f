"""Plugin parameter fields: the typed schema a plugin declares. The UI builds its form from them,
the CLI parses text with them, the registry validates recipes with them (`explorer.plugins`
re-exports everything here). No Qt."""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .latents import GROUP_NAMES, resolve_layers

LAYER_GROUP_VALUES = (*GROUP_NAMES, "all")


class ParamError(ValueError):
    """A parameter value a plugin cannot take. The user's mistake, not the plugin's: never disables."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"parameter '{field_name}': {message}")



# ----- parameter schema --------------------------------------------------------------------------
def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclass
class Field:
    """One typed parameter. `validate` returns the normalised (JSON-able) value or raises ParamError."""
    name: str
    label: str = ""
    default: Any = None
    help: str = ""

    type_name = "field"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a parameter name must be an identifier, not {self.name!r}")
        if not self.label:
            self.label = self.name.replace("_", " ").capitalize()

    def validate(self, value):
        return value

    def parse(self, text: str):
        """A value from text (CLI `name=value`): JSON where it parses, the raw string otherwise."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = text
        return self.validate(value)

    def error(self, message: str) -> ParamError:
        return ParamError(self.name, message)

    def to_json(self) -> dict:
        """The field as a JSON schema entry (for docs, the CLI's help, other front ends)."""
        out = {"type": self.type_name}
        for k, v in vars(self).items():
            out[k] = v
        return out


@dataclass
class FloatField(Field):
    default: float = 0.0
    min: float = 0.0
    max: float = 1.0
    step: float = 0.01

    type_name = "float"

    def validate(self, value) -> float:
        if not is_number(value):
            raise self.error(f"expected a number, got {type(value).__name__} {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise self.error(f"expected a finite number, got {v}")
        slack = 1e-9 * max(1.0, abs(self.max - self.min))   # slider round-off is not an error
        if v < self.min - slack or v > self.max + slack:
            raise self.error(f"{v:g} is outside the range {self.min:g} to {self.max:g}")
        return min(max(v, float(self.min)), float(self.max))

    def decimals(self) -> int:
        """Digits after the point that `step` needs (for sliders and labels)."""
        text = f"{self.step:.10f}".rstrip("0")
        return max(0, len(text.split(".")[1])) if "." in text else 0


@dataclass
class IntField(Field):
    default: int = 0
    min: int = 0
    max: int = 100
    step: int = 1

    type_name = "int"

    def validate(self, value) -> int:
        if not is_number(value) or (isinstance(value, (float, np.floating)) and not float(value).is_integer()):
            raise self.error(f"expected a whole number, got {type(value).__name__} {value!r}")
        v = int(value)
        if v < self.min or v > self.max:
            raise self.error(f"{v} is outside the range {self.min} to {self.max}")
        return v


@dataclass
class BoolField(Field):
    default: bool = False

    type_name = "bool"

    def validate(self, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(f"expected true or false, got {type(value).__name__} {value!r}")
        return bool(value)


@dataclass
class ChoiceField(Field):
    default: str | None = None
    choices: list = field(default_factory=list)

    type_name = "choice"

    def __post_init__(self):
        super().__post_init__()
        self.choices = [str(c) for c in self.choices]
        if not self.choices:
            raise ValueError(f"choice parameter {self.name!r} has no choices")
        if self.default is None:
            self.default = self.choices[0]

    def validate(self, value) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.error(f"unknown choice {value!r}; choose one of {', '.join(self.choices)}")
        return value


@dataclass
class LayerRangeField(Field):
    """'coarse' | 'medium' | 'fine' | 'all', or [start, stop] ws indices (stop exclusive)."""
    default: Any = "all"

    type_name = "layers"

    def validate(self, value):
        if isinstance(value, str):
            if value not in LAYER_GROUP_VALUES:
                raise self.error(f"unknown layer group {value!r}; use coarse, medium, fine, all or [start, stop]")
            return value
        if isinstance(value, range):
            value = [value.start, value.stop]
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(is_number(v) and float(v).is_integer() for v in value)):
            raise self.error(f"expected a layer group or [start, stop], got {value!r}")
        start, stop = int(value[0]), int(value[1])
        if start < 0 or stop <= start:
            raise self.error(f"layer range [{start}, {stop}] is empty or negative (stop is exclusive)")
        return [start, stop]

    def resolve(self, value, info) -> range:
        """The ws index range of `value` on a model, ParamError where the model has no such layers."""
        value = self.validate(value)
        try:
            return resolve_layers(value, info.num_ws, info.groups)
        except ValueError as e:
            raise self.error(str(e)) from None


@dataclass
class DirectionField(Field):
    """The name of a direction in W ('' for none); the context holds the vectors."""
    default: str = ""

    type_name = "direction"

    def validate(self, value) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.error(f"expected a direction name, got {type(value).__name__} {value!r}")
        return value


@dataclass
class PathField(Field):
    default: str = ""
    filter: str = "All files (*)"     # a Qt file-dialog filter, e.g. "Images (*.png *.jpg)"
    must_exist: bool = False

    type_name = "path"

    def validate(self, value) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise self.error(f"expected a file path, got {type(value).__name__} {value!r}")
        if value and self.must_exist and not Path(value).expanduser().exists():
            raise self.error(f"file not found: {value}")
        return value


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass
class ColorField(Field):
    default: str = "#ffffff"

    type_name = "color"

    def validate(self, value) -> str:
        if not isinstance(value, str) or not _COLOUR.fullmatch(value):
            raise self.error(f"expected a colour as '#rrggbb', got {value!r}")
        return value.lower()

    @staticmethod
    def rgb(value: str) -> tuple[int, int, int]:
        return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)
