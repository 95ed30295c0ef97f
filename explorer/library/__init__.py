"""The face library: kept faces and what a designer curates about them (SQLite; no Qt)."""
from .db import LibraryError
from .filters import Condition, LibraryFilter, parse_query
from .store import Collection, Library, LibraryItem, encode_thumbnail, library_path, recipe_key

__all__ = ["Collection", "Condition", "Library", "LibraryError", "LibraryFilter", "LibraryItem", "encode_thumbnail",
           "library_path", "parse_query", "recipe_key"]
