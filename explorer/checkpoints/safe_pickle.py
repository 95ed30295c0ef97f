"""Read NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles without running anything from them.

A stock ``pickle.load`` of such a file imports whatever modules the file names and calls
whatever they contain, and NVIDIA's own loader goes further and ``exec``s the Python source
stored in the file. Here every global the file asks for is looked up in a small allow-list
and mapped to our own stand-in (never the real ``torch._utils`` / ``torch_utils`` code);
anything else raises UnsafePickleError before it is touched. Network modules come back as
PersistentObject records (class name + ``nn.Module.__dict__``), tensors as plain CPU tensors
copied out of their storages, and the stored module source is dropped unread.

Layout of the format: shared/docs/checkpoint-formats.md, sections 1.1-1.4 and 1.10.

Why ``pickle._Unpickler`` (the pure-Python implementation of ``pickle.Unpickler``) and not
the C one: the BUILD opcode calls ``__setstate__`` on whatever object is on the stack, and
the C unpickler gives no hook for it. With allow-listed objects that still reaches
``torch.Tensor.__setstate__`` (``set_`` with any size: the storage is grown to fit) and
numpy's ``dtype.__setstate__``, which accepts forged flags (a float64 dtype that claims to
hold object pointers). So BUILD is routed through ``_load_build``, which only lets numpy fill
dtypes and arrays and checks them. Speed is not an issue: the files are a few thousand
opcodes plus large byte strings.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import struct
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .errors import CheckpointError, UnsafePickleError, read_checkpoint_bytes

try:  # numpy >= 1.26 has numpy._core; numpy 2 warns on numpy.core.
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - older numpy
    from numpy.core import multiarray as _np_multiarray

__all__ = ["EasyDict", "PersistentObject", "load_pickle"]


# --------------------------------------------------------------------------------------------
# What the caller gets back


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]


@dataclass(eq=False)
class PersistentObject:
    """One pickled network module (``torch_utils.persistence`` object), kept as data.

    ``state`` is the module's ``__dict__`` as stored: ``_parameters`` / ``_buffers`` /
    ``_modules`` plus plain attributes. ``module_hint`` is a short hash of the stored module
    source (the source text itself is dropped): equal hints mean "same defining module",
    which helps tell StyleGAN2 and StyleGAN3 classes with the same name apart.
    """

    class_name: str
    state: dict = field(repr=False)
    module_hint: str | None = None

    def _section(self, key: str) -> dict:
        value = self.state.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise CheckpointError(f"{self.class_name}.{key} is a {type(value).__name__}, not a dict")
        return dict(value)

    def params(self) -> dict:
        """name -> tensor (or None) from ``_parameters``."""
        return self._section("_parameters")

    def buffers(self) -> dict:
        """name -> tensor (or None) from ``_buffers``; SG3 identity filters are None."""
        return self._section("_buffers")

    def children(self) -> dict:
        """name -> PersistentObject (or None) from ``_modules``, in registration order."""
        return self._section("_modules")

    def attr(self, name: str, default: Any = None) -> Any:
        """A plain attribute set in the module's ``__init__`` (e.g. ``w_dim``, ``conv_clamp``)."""
        return self.state.get(name, default)

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """(dotted name, tensor) for every non-None parameter and buffer in the tree.

        Names and order follow ``nn.Module.state_dict``: own parameters, own buffers, then
        children depth first, e.g. ``mapping.fc0.weight``, ``synthesis.b4.conv1.noise_const``.
        Iterative and visiting each object once, so a crafted cyclic or very deep tree cannot
        hang or overflow the stack.
        """
        seen: set[int] = set()
        stack: list[tuple[str, PersistentObject]] = [(prefix, self)]
        while stack:
            pre, obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            for section in (obj.params(), obj.buffers()):
                for name, value in section.items():
                    if isinstance(value, torch.Tensor):
                        yield _join(pre, name), value
            kids = [(_join(pre, n), c) for n, c in obj.children().items() if isinstance(c, PersistentObject)]
            stack.extend(reversed(kids))


def _join(prefix: str, name: object) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


# --------------------------------------------------------------------------------------------
# Stand-ins for the allow-listed globals of the outer pickle


def _reconstruct_persistent_obj(meta: object) -> PersistentObject:
    """``torch_utils.persistence._reconstruct_persistent_obj``, minus the ``exec(module_src)``."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("malformed persistent object (expected a dict with type 'class')")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise CheckpointError("malformed persistent object (class_name or state missing)")
    src = meta.get("module_src")
    hint = None
    if isinstance(src, str):
        hint = "sha256:" + hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return PersistentObject(class_name=class_name, state=state, module_hint=hint)


def _rebuild_parameter(data: object, requires_grad: object = False, backward_hooks: object = None):
    """``torch._utils._rebuild_parameter``: inference only needs the tensor itself."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("a parameter does not hold a tensor")
    return data


def _index_tuple(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int and v >= 0 for v in value):
        raise CheckpointError(f"tensor {what} {value!r} is not a tuple of non-negative ints")
    return tuple(value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2``: a bounds-checked strided view, copied out.

    The copy gives every tensor its own contiguous memory, so nothing aliases a storage that
    a later crafted opcode could reach.
    """
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1 or not storage.is_contiguous():
        raise CheckpointError("a tensor refers to something that is not a storage")
    size, stride = _index_tuple(size, "size"), _index_tuple(stride, "stride")
    (offset,) = _index_tuple((storage_offset,), "offset")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {size} and stride {stride} differ in length")
    numel = math.prod(size)
    if numel == 0:
        return torch.empty(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.numel() or numel > storage.numel():
        raise CheckpointError(f"tensor of size {size}, stride {stride} at offset {offset} does not fit "
                              f"its storage of {storage.numel()} elements")
    return torch.as_strided(storage, size, stride, offset).clone(memory_format=torch.contiguous_format)


_PLAIN_KINDS = "biufc"  # bool, ints, floats, complex: plain bytes, no Python objects


def _check_dtype(d: object) -> np.dtype:
    """Accept only plain numeric dtypes whose flags are the canonical ones (no forged flags)."""
    if not isinstance(d, np.dtype):
        raise CheckpointError(f"expected a numpy dtype, got {type(d).__name__}")
    if d.hasobject or d.kind not in _PLAIN_KINDS or d.fields is not None or d.subdtype is not None:
        raise UnsafePickleError(f"refused numpy dtype {d!r}: only plain numeric dtypes are allowed")
    ref = np.dtype(d.str)
    if (d.flags, d.itemsize, d.alignment) != (ref.flags, ref.itemsize, ref.alignment):
        raise UnsafePickleError(f"refused numpy dtype {d!r}: its stored flags or size are inconsistent")
    return d


def _np_dtype(obj, align=False, copy=True):
    """``numpy.dtype(obj, align, copy)``. Always a private copy, so BUILD never edits numpy's
    shared descriptors; object / structured dtypes are refused."""
    if not isinstance(obj, str):
        raise CheckpointError(f"numpy dtype spec {obj!r} is not a string")
    return _check_dtype(np.dtype(obj, bool(align), True))


def _np_scalar(dtype, obj=None):
    """``numpy.core.multiarray.scalar``: a numeric scalar from its raw bytes."""
    _check_dtype(dtype)
    if not isinstance(obj, bytes):
        raise CheckpointError("numpy scalar data is not bytes")
    return _np_multiarray.scalar(dtype, obj)


class _NdarrayMarker:
    """What the file gets for ``numpy.ndarray``: usable only as ``_reconstruct``'s first
    argument, so the file cannot call the real constructor (which returns uninitialised memory)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<numpy.ndarray marker>"


_NDARRAY = _NdarrayMarker()


def _np_reconstruct(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct``: the empty array a later BUILD fills."""
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise CheckpointError("unexpected numpy array reconstruction arguments")
    if isinstance(dtype, bytes):
        dtype = dtype.decode("ascii")
    return _np_multiarray._reconstruct(np.ndarray, (0,), _np_dtype(dtype))


def _np_frombuffer(buf, dtype, shape, order):
    """``numpy.core.numeric._frombuffer``, used for arrays in protocol-5 pickles."""
    _check_dtype(dtype)
    if isinstance(buf, pickle.PickleBuffer):
        buf = buf.raw()
    if not isinstance(buf, (bytes, bytearray, memoryview)) or order not in ("C", "F"):
        raise CheckpointError("unexpected numpy buffer arguments")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(tuple(shape), order=order).copy()


# --------------------------------------------------------------------------------------------
# Storages: each one is a complete legacy (pre-1.6) torch.save stream passed as bytes (1.4)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_VERSION = 1001


@dataclass(frozen=True)
class _StorageType:
    """What ``torch.FloatStorage`` etc. become inside a payload: just the element type."""

    name: str
    dtype: torch.dtype


_STORAGE_TYPES = {name: _StorageType(name, dtype) for name, dtype in [
    ("FloatStorage", torch.float32), ("HalfStorage", torch.float16), ("DoubleStorage", torch.float64),
    ("LongStorage", torch.int64), ("IntStorage", torch.int32), ("ByteStorage", torch.uint8),
    ("BFloat16Storage", torch.bfloat16)]}


@dataclass(frozen=True)
class _StorageRef:
    """A persistent id seen in a payload; its bytes come after the pickles."""

    key: str
    kind: _StorageType
    numel: int
    view: tuple[int, int] | None  # (offset, size) into the root storage, very old torch only


def _load_from_bytes(payload: object) -> torch.Tensor:
    """``torch.storage._load_from_bytes``: parse the payload stream, return a 1-D tensor."""
    if not isinstance(payload, (bytes, bytearray)):
        raise CheckpointError("a tensor storage payload is not bytes")
    try:
        return _read_legacy_storage(io.BytesIO(payload))
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"a tensor storage is truncated or corrupt ({_short(exc)})") from exc


def _read_legacy_storage(f: io.BytesIO) -> torch.Tensor:
    if _StorageStreamUnpickler(f).load() != _LEGACY_MAGIC:
        raise CheckpointError("a tensor storage payload has a bad magic number")
    if _StorageStreamUnpickler(f).load() != _LEGACY_VERSION:
        raise CheckpointError("a tensor storage payload has an unknown protocol version")
    sys_info = _StorageStreamUnpickler(f).load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CheckpointError("a tensor storage payload is not little-endian")
    objects = _StorageStreamUnpickler(f)
    result = objects.load()
    keys = _StorageStreamUnpickler(f).load()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError("a tensor storage payload has a malformed key list")
    data: dict[str, torch.Tensor] = {}
    for key in keys:
        ref = objects.storages.get(key)
        header = f.read(8)
        if ref is None or len(header) < 8:
            raise CheckpointError("a tensor storage payload is truncated or lists an unknown storage")
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * ref.kind.dtype.itemsize
        raw = f.read(nbytes) if numel == ref.numel else b""
        if numel != ref.numel or len(raw) != nbytes:
            raise CheckpointError("a tensor storage payload is truncated (fewer data bytes than elements)")
        data[key] = _tensor_from_le_bytes(raw, ref.kind.dtype)
    if not isinstance(result, _StorageRef) or result.key not in data:
        raise CheckpointError("a tensor storage payload does not hold exactly one storage")
    storage = data[result.key]
    if result.view is not None:
        offset, size = result.view
        if offset + size > storage.numel():
            raise CheckpointError("a storage view does not fit its storage")
        storage = storage[offset:offset + size].clone()
    return storage


def _tensor_from_le_bytes(raw: bytes, dtype: torch.dtype) -> torch.Tensor:
    if sys.byteorder != "little":  # pragma: no cover - no big-endian targets
        raise CheckpointError("reading checkpoints on a big-endian machine is not supported")
    if not raw:
        return torch.empty(0, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype)  # owns a private copy of the bytes


# --------------------------------------------------------------------------------------------
# The unpicklers


MAX_HASHED_DEPTH = 64      # tuples / frozensets nested deeper than this are refused: hashing one
                           # recurses in C and a 300,000-deep key overflows the interpreter's stack
MAX_NESTING = 256          # containers of any kind nested deeper than this (deepcopy, repr, ==)
_PLAIN_LISTS = (list,)
_PLAIN_DICTS = (dict, OrderedDict, EasyDict)
_HASH_ROOTS = (set, OrderedDict, EasyDict, dict)     # allowed callables that hash their arguments


def _nesting_depth(obj: object, limit: int) -> int:
    """Depth of nested containers (iterative, each object once); stops counting past `limit`."""
    deepest, seen = 0, set()
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if not isinstance(o, (list, tuple, dict, set, frozenset, PersistentObject)) or id(o) in seen:
            continue
        seen.add(id(o))
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            items = [*o.keys(), *o.values()]
        elif isinstance(o, PersistentObject):
            items = [o.state]
        else:
            items = list(o)
        stack.extend((x, d + 1) for x in items)
    return deepest


class _RestrictedUnpickler(pickle._Unpickler):
    """Base: globals only from ``allowed``, no persistent ids, BUILD only on numpy objects,
    container opcodes only on real containers, nothing hashed that is nested too deep."""

    allowed: dict[tuple[str, str], Any] = {}

    def __init__(self, file):
        super().__init__(file)
        self._tuple_depth: dict[int, tuple[object, int]] = {}   # id -> (tuple kept alive, depth)

    # ----- hashing: immutable containers get their depth when built ---------------------------
    def _depth_of(self, obj: object) -> int:
        """Nesting depth of a tuple / frozenset (1 when it holds none), 0 for anything else."""
        hit = self._tuple_depth.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        return 1 if isinstance(obj, (tuple, frozenset)) else 0

    def _note(self, obj) -> None:
        if isinstance(obj, (tuple, frozenset)) and obj:
            depth = 1 + max(self._depth_of(x) for x in obj)
            if depth > MAX_HASHED_DEPTH:
                raise CheckpointError(f"the pickle nests tuples more than {MAX_HASHED_DEPTH} deep")
            if depth > 1:    # tuples holding tuples; a flat one's depth (1) needs no entry
                self._tuple_depth[id(obj)] = (obj, depth)

    def _check_hashable(self, *keys) -> None:
        for k in keys:
            if self._depth_of(k) > MAX_HASHED_DEPTH // 2 and isinstance(k, (tuple, frozenset)):
                raise CheckpointError("the pickle uses a deeply nested key")

    def _tuple_op(op):
        def run(self):
            op(self)
            self._note(self.stack[-1])
        return run

    load_tuple = _tuple_op(pickle._Unpickler.load_tuple)
    load_tuple1 = _tuple_op(pickle._Unpickler.load_tuple1)
    load_tuple2 = _tuple_op(pickle._Unpickler.load_tuple2)
    load_tuple3 = _tuple_op(pickle._Unpickler.load_tuple3)
    del _tuple_op

    def load_frozenset(self):
        items = self.pop_mark()
        self._check_hashable(*items)
        self.append(frozenset(items))
        self._note(self.stack[-1])

    def load_dict(self):
        items = self.pop_mark()
        self._check_hashable(*items[0::2])
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    # ----- container opcodes only on containers ----------------------------------------------
    def load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) not in _PLAIN_LISTS:
            raise UnsafePickleError(f"refused APPEND to a {type(target).__name__}")
        target.append(value)

    def load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) not in _PLAIN_LISTS:
            raise UnsafePickleError(f"refused APPENDS to a {type(target).__name__}")
        target.extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        if type(target) not in _PLAIN_DICTS:
            raise UnsafePickleError(f"refused SETITEM on a {type(target).__name__}")
        self._check_hashable(key)
        target[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) not in _PLAIN_DICTS:
            raise UnsafePickleError(f"refused SETITEMS on a {type(target).__name__}")
        self._check_hashable(*items[0::2])
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise UnsafePickleError(f"refused ADDITEMS on a {type(target).__name__}")
        self._check_hashable(*items)
        target.update(items)

    def load_reduce(self):
        args = self.stack[-1]
        func = self.stack[-2]
        if func in _HASH_ROOTS and isinstance(args, tuple):    # set(items), OrderedDict(pairs) ...
            for a in args:
                if isinstance(a, (list, tuple)):
                    for item in a:
                        self._check_hashable(item)
                        if isinstance(item, (list, tuple)) and item:
                            self._check_hashable(item[0])
        super().load_reduce()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"refused global '{module}.{name}': not on the allow-list for StyleGAN network "
                "pickles (nothing from the file was run)") from None

    def persistent_load(self, pid: object) -> Any:
        raise CheckpointError("the pickle uses persistent ids, which network pickles do not")

    def _load_build(self) -> None:
        """BUILD (``inst.__setstate__(state)``), allowed only where numpy fills in a dtype or
        an array we created, and checked so no object dtype or forged flags get through."""
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, np.dtype):
            probe = np.dtype(inst, copy=True)
            probe.__setstate__(state)  # try it on a copy first: refused states change nothing
            _check_dtype(probe)
            if (probe.kind, probe.itemsize) != (inst.kind, inst.itemsize):
                raise UnsafePickleError("refused numpy dtype state that changes its type")
            inst.__setstate__(state)
        elif type(inst) is np.ndarray and inst.size == 0:
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise CheckpointError("malformed numpy array state")
            _check_dtype(state[-3])
            if not isinstance(state[-1], (bytes, bytearray)):
                raise UnsafePickleError("refused numpy array whose data is not raw bytes")
            inst.__setstate__(state)
        else:
            raise UnsafePickleError(f"refused BUILD on a {type(inst).__name__} "
                                    "(only numpy dtypes and arrays are rebuilt this way)")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build
    for _op, _name in ((pickle.TUPLE, "load_tuple"), (pickle.TUPLE1, "load_tuple1"), (pickle.TUPLE2, "load_tuple2"),
                       (pickle.TUPLE3, "load_tuple3"), (pickle.FROZENSET, "load_frozenset"),
                       (pickle.DICT, "load_dict"), (pickle.APPEND, "load_append"), (pickle.APPENDS, "load_appends"),
                       (pickle.SETITEM, "load_setitem"), (pickle.SETITEMS, "load_setitems"),
                       (pickle.ADDITEMS, "load_additems"), (pickle.REDUCE, "load_reduce")):
        dispatch[_op[0]] = locals()[_name]
    del _op, _name


class _SnapshotUnpickler(_RestrictedUnpickler):
    """The outer pickle: a snapshot dict of persistent objects, tensors and numpy values."""

    allowed = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("numpy", "dtype"): _np_dtype,
        ("numpy", "ndarray"): _NDARRAY,
    }
    for _mod in ("numpy.core", "numpy._core"):  # numpy 1.x and numpy 2 writers
        allowed[(f"{_mod}.multiarray", "scalar")] = _np_scalar
        allowed[(f"{_mod}.multiarray", "_reconstruct")] = _np_reconstruct
        allowed[(f"{_mod}.numeric", "_frombuffer")] = _np_frombuffer
    del _mod


class _StorageStreamUnpickler(_RestrictedUnpickler):
    """One pickle of a storage payload: only storage types, storages as persistent ids."""

    allowed = {("torch", name): kind for name, kind in _STORAGE_TYPES.items()}

    def __init__(self, file: io.BytesIO):
        super().__init__(file)
        self.storages: dict[str, _StorageRef] = {}

    def persistent_load(self, pid: object) -> _StorageRef:
        ok = (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
              and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
              and type(pid[4]) is int and pid[4] >= 0)
        view = pid[5] if ok else None
        if view is not None and not (isinstance(view, tuple) and len(view) == 3
                                     and all(type(v) is int and v >= 0 for v in view[1:])):
            ok = False
        if not ok:
            raise CheckpointError("a tensor storage payload has a malformed storage id")
        _, kind, key, _location, numel, _ = pid
        root = self.storages.setdefault(key, _StorageRef(key, kind, numel, None))
        if root.kind != kind or root.numel != numel:
            raise CheckpointError("a tensor storage payload describes one storage two ways")
        return root if view is None else _StorageRef(key, kind, numel, (view[1], view[2]))


# --------------------------------------------------------------------------------------------
# Public entry point


def _short(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_pickle(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> object:
    """Unpickle a network pickle safely and return its top-level object.

    For NVIDIA snapshots that is a dict with G, D, G_ema, augment_pipe, training_set_kwargs,
    the networks being PersistentObject trees. Every failure is a CheckpointError naming the
    file (UnsafePickleError when the file asks for code we do not allow).
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        path, data = None, bytes(path_or_bytes)
    else:
        path = Path(os.fspath(path_or_bytes))
        data = read_checkpoint_bytes(path)
    if not data:
        raise CheckpointError(path, "file is empty")
    try:
        obj = _SnapshotUnpickler(io.BytesIO(data)).load()
        if _nesting_depth(obj, MAX_NESTING) > MAX_NESTING:
            raise CheckpointError(f"the pickle nests containers more than {MAX_NESTING} deep")
        return obj
    except CheckpointError as exc:
        if path is None or exc.path is not None:
            raise
        raise exc.with_path(path) from exc.__cause__
    except (EOFError, pickle.UnpicklingError) as exc:
        cut = isinstance(exc, EOFError) or any(w in str(exc) for w in ("truncated", "exhausted"))
        what = "truncated or corrupt" if cut else "not a valid pickle or is corrupt"
        raise CheckpointError(path, f"file is {what} ({_short(exc)})") from exc
    except Exception as exc:  # anything a crafted opcode stream can trigger: same message
        raise CheckpointError(path, f"file is not a valid network pickle or is corrupt ({_short(exc)})") from exc
