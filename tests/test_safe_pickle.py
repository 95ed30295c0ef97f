"""The restricted unpickler for NVIDIA network pickles: real fixtures load, hostile files run nothing."""
from __future__ import annotations

import collections
import json
import os
import pickle
import random
import subprocess
import sys
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

from explorer.checkpoints.errors import CheckpointError, UnsafePickleError
from explorer.checkpoints.safe_pickle import EasyDict, PersistentObject, load_pickle

FIXTURES = ["P1_sg2_res32", "P2_sg3t_res32", "P3_sg2_res64_cond4", "P4_sg2ada_res32"]
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


# ---------------------------------------------------------------------------------------------
# helpers to write pickles by hand


class _Reduce:
    """Pickles as ``fn(*args)``: how both hostile and NVIDIA pickles describe objects."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _call(module: str, name: str, *args) -> bytes:
    """A protocol-2 pickle of ``module.name(*args)``, for globals that cannot be imported here."""
    return (b"\x80\x02c" + f"{module}\n{name}\n".encode() + pickle.dumps(tuple(args), 2)[2:-1] + b"R.")


def _storage_payload(t: torch.Tensor) -> bytes:
    """The bytes torch itself puts in a pickle for t's storage (a legacy torch.save stream)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated, but it is what pickling uses
        fn, (payload,) = t.storage().__reduce__()
    assert fn is torch.storage._load_from_bytes
    return payload


def _legacy_stream(obj_pickle: bytes, keys=()) -> bytes:
    """A storage payload with a genuine header around an arbitrary object pickle."""
    return (pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(1001, 2) + pickle.dumps(SYS_INFO, 2)
            + obj_pickle + pickle.dumps(list(keys), 2))


def _sidecar(fixtures_dir, name) -> dict:
    return json.loads((fixtures_dir / f"{name}.json").read_text())


def _walk(obj: PersistentObject):
    stack = [obj]
    while stack:
        o = stack.pop()
        yield o
        stack.extend(c for c in o.children().values() if isinstance(c, PersistentObject))


# ---------------------------------------------------------------------------------------------
# the genuine fixture files


@pytest.fixture(scope="module", params=FIXTURES)
def snapshot(request, fixtures_dir):
    name = request.param
    return name, load_pickle(fixtures_dir / f"{name}.pkl"), _sidecar(fixtures_dir, name)


def test_fixture_top_level(snapshot):
    name, snap, meta = snapshot
    assert list(snap) == meta["top_level_keys"]  # key order differs between repos (P4)
    g = snap["G_ema"]
    assert isinstance(g, PersistentObject) and g.class_name == "Generator"
    assert isinstance(snap["G"], PersistentObject) and snap["G"] is not g
    assert isinstance(snap["D"], PersistentObject) and snap["D"].class_name == "Discriminator"
    assert snap["training_set_kwargs"] == meta["training_set_kwargs"]
    if meta["augment_pipe"] is None:
        assert snap["augment_pipe"] is None
    else:
        assert snap["augment_pipe"].class_name == "AugmentPipe"
    for key in ("z_dim", "w_dim", "c_dim", "img_resolution", "img_channels", "num_ws"):
        assert g.attr(key) == meta["G_ema"][key], key
    assert g.attr("no_such_attribute", "fallback") == "fallback"
    kwargs = g.attr("_init_kwargs")
    assert kwargs == meta["G_ema"]["init_kwargs"]
    assert isinstance(kwargs["mapping_kwargs"], EasyDict)
    assert kwargs["mapping_kwargs"].num_layers == meta["G_ema"]["mapping"]["num_layers"]


def test_fixture_classes_params_and_buffers_match_sidecar(snapshot):
    name, snap, meta = snapshot
    counts, params, buffers, none_buffers = collections.Counter(), {}, {}, set()
    for top in ("G", "D", "G_ema", "augment_pipe"):
        if not isinstance(snap[top], PersistentObject):
            continue
        for obj in _walk(snap[top]):
            counts[f"{top}/{obj.class_name}"] += 1
            params.setdefault(obj.class_name, set()).update(k for k, v in obj.params().items() if v is not None)
            for k, v in obj.buffers().items():
                buffers.setdefault(obj.class_name, set()).add(k)
                if v is None:
                    none_buffers.add(f"{obj.class_name}.{k}")
    assert dict(counts) == meta["persistent_classes"]
    assert {k: sorted(v) for k, v in params.items() if v} == meta["parameters_by_class"]
    assert {k: sorted(v) for k, v in buffers.items() if v} == meta["buffers_by_class"]
    assert sorted(none_buffers) == meta["buffers_that_are_None"]


def test_fixture_named_tensors(snapshot):
    name, snap, meta = snapshot
    g, info = snap["G_ema"], meta["G_ema"]
    tensors = dict(g.named_tensors())
    assert len(tensors) == len(list(g.named_tensors()))  # no duplicate names
    w_dim = info["w_dim"]
    assert tensors["mapping.w_avg"].shape == (w_dim,)
    n_fc = info["mapping"]["num_layers"]
    for i in range(n_fc):
        assert tensors[f"mapping.fc{i}.weight"].shape[0] == w_dim
    embed = info["c_dim"] > 0 and w_dim or 0
    assert tensors["mapping.fc0.weight"].shape == (w_dim, info["z_dim"] + embed)
    assert ("mapping.embed.weight" in tensors) == info["mapping"]["has_embed"]
    for t in tensors.values():
        assert t.dtype == torch.float32 and t.is_contiguous() and t.device.type == "cpu"
    ptrs = [t.untyped_storage().data_ptr() for t in tensors.values() if t.numel()]
    assert len(set(ptrs)) == len(ptrs)  # every tensor owns its memory
    syn = info["synthesis"]
    if "blocks" in syn:  # StyleGAN2
        for b in syn["blocks"]:
            r, c = b["resolution"], b["out_channels"]
            assert tensors[f"synthesis.{b['name']}.conv1.weight"].shape == (c, c, 3, 3)
            assert tensors[f"synthesis.{b['name']}.conv1.noise_const"].shape == (r, r)
            assert tensors[f"synthesis.{b['name']}.conv1.noise_strength"].shape == ()
            assert tensors[f"synthesis.{b['name']}.torgb.weight"].shape == (info["img_channels"], c, 1, 1)
        assert tensors["synthesis.b4.const"].shape == (syn["blocks"][0]["out_channels"], 4, 4)
    else:  # StyleGAN3
        c0 = syn["input"]["channels"]
        assert tensors["synthesis.input.weight"].shape == (c0, c0)
        assert tensors["synthesis.input.affine.weight"].shape == (4, w_dim)
        assert tensors["synthesis.input.freqs"].shape == (c0, 2)
        assert torch.equal(tensors["synthesis.input.transform"], torch.tensor(syn["input"]["transform"]))
        inp = g.children()["synthesis"].children()["input"]
        assert isinstance(inp.attr("size"), np.ndarray) and inp.attr("size").tolist() == syn["input"]["size"]
        for lay in syn["layers"]:
            k = lay["conv_kernel"]
            assert tensors[f"synthesis.{lay['name']}.weight"].shape == (lay["out_channels"], lay["in_channels"], k, k)
            ema = tensors[f"synthesis.{lay['name']}.magnitude_ema"]
            assert ema.shape == () and ema.item() == pytest.approx(lay["magnitude_ema"], rel=1e-6)
            for f in ("up_filter", "down_filter"):
                shape = lay[f"{f}_shape"]
                t = tensors.get(f"synthesis.{lay['name']}.{f}")
                assert (t is None) if shape is None else (list(t.shape) == shape)


def test_fixture_p1_shapes_and_prefix(fixtures_dir):
    g = load_pickle(fixtures_dir / "P1_sg2_res32.pkl")["G_ema"]
    tensors = dict(g.named_tensors("G_ema"))
    assert tensors["G_ema.mapping.fc0.weight"].shape == (64, 64)
    assert tensors["G_ema.synthesis.b4.const"].shape == (32, 4, 4)
    assert tensors["G_ema.synthesis.b32.torgb.weight"].shape == (3, 16, 1, 1)
    assert tensors["G_ema.synthesis.b4.conv1.noise_const"].shape == (4, 4)
    fc = g.children()["mapping"].children()["fc0"]
    assert isinstance(fc.attr("weight_gain"), np.floating)
    assert set(fc.params()) == {"weight", "bias"}


def test_fixture_p3_is_read_with_numpy2_globals(fixtures_dir):
    raw = (fixtures_dir / "P3_sg2_res64_cond4.pkl").read_bytes()
    assert b"numpy._core.multiarray" in raw
    g = load_pickle(raw)["G_ema"]  # bytes work as well as paths
    assert dict(g.named_tensors())["mapping.embed.weight"].shape == (64, 4)


# ---------------------------------------------------------------------------------------------
# hostile pickles


HOSTILE_CALLS = [
    ("os", "system", lambda t: (f"touch {t}",)),
    ("posix", "system", lambda t: (f"touch {t}",)),
    ("nt", "system", lambda t: (f"type nul > {t}",)),
    ("subprocess", "Popen", lambda t: (["touch", str(t)],)),
    ("subprocess", "check_call", lambda t: (["touch", str(t)],)),
    ("builtins", "open", lambda t: (str(t), "w")),
    ("builtins", "eval", lambda t: (f"open({str(t)!r}, 'w')",)),
    ("builtins", "exec", lambda t: (f"open({str(t)!r}, 'w').close()",)),
    ("builtins", "getattr", lambda t: ("os", "system")),
    ("torch", "load", lambda t: (str(t),)),
    ("torch_utils.persistence", "exec", lambda t: ("x = 1",)),
]


def test_hostile_payload_is_live_under_stock_pickle(tmp_path):
    """Control: the same bytes really do create the file with pickle.loads."""
    target = tmp_path / "pwned"
    pickle.loads(_call("builtins", "exec", f"open({str(target)!r}, 'w').close()"))
    assert target.exists()


@pytest.mark.parametrize("module,name,args", HOSTILE_CALLS, ids=[f"{m}.{n}" for m, n, _ in HOSTILE_CALLS])
def test_hostile_global_is_refused_and_runs_nothing(tmp_path, module, name, args):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_call(module, name, *args(target)))
    with pytest.raises(UnsafePickleError) as err:
        load_pickle(path)
    assert f"refused global '{module}.{name}'" in str(err.value)
    assert "evil.pkl" in str(err.value) and err.value.path is not None
    assert not target.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_hostile_reduce_nested_in_a_snapshot(tmp_path, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "snapshot.pkl"
    evil = {"G_ema": [1, {"x": _Reduce(subprocess.Popen, ["touch", str(target)])}],
            "D": _Reduce(os.system, f"touch {target}")}
    path.write_bytes(pickle.dumps(evil, protocol=protocol))
    # protocol 2 writes Python 2 module names ('commands.Popen'); the message names what the file says
    with pytest.raises(UnsafePickleError, match=r"refused global '(subprocess|commands)\.Popen'"):
        load_pickle(path)
    assert not target.exists()


@pytest.mark.parametrize("inner", [
    lambda t: pickle.dumps(_Reduce(os.system, f"touch {t}"), 2),
    lambda t: _call("builtins", "exec", f"open({str(t)!r}, 'w').close()"),
    # allowed in the outer pickle, but not inside a storage payload
    lambda t: _call("torch._utils", "_rebuild_tensor_v2", 1, 2, 3),
    lambda t: _call("torch_utils.persistence", "_reconstruct_persistent_obj", {"type": "class"}),
], ids=["system", "exec", "rebuild_tensor", "persistent_obj"])
def test_hostile_global_smuggled_inside_a_storage_payload(tmp_path, inner):
    target = tmp_path / "pwned"
    path = tmp_path / "smuggle.pkl"
    payload = _legacy_stream(inner(target))
    path.write_bytes(pickle.dumps({"w": _Reduce(torch.storage._load_from_bytes, payload)}, protocol=4))
    with pytest.raises(UnsafePickleError, match="refused global") as err:
        load_pickle(path)
    assert "smuggle.pkl" in str(err.value)
    assert not target.exists()


def test_module_src_is_never_executed(tmp_path):
    target = tmp_path / "pwned"
    src = f"import os\nopen({str(target)!r}, 'w').close()\nos.system('touch {target}')\nclass Net:\n    pass\n"
    state = {"_parameters": {"w": None}, "_buffers": {}, "_modules": {}, "depth": 3}
    meta = {"type": "class", "version": 6, "module_src": src, "class_name": "Net", "state": state}
    path = tmp_path / "net.pkl"
    path.write_bytes(_call("torch_utils.persistence", "_reconstruct_persistent_obj", meta))
    obj = load_pickle(path)
    assert not target.exists()
    assert isinstance(obj, PersistentObject) and obj.class_name == "Net" and obj.attr("depth") == 3
    assert obj.module_hint and obj.module_hint.startswith("sha256:")
    assert "touch" not in repr(vars(obj))  # the source text is not kept anywhere
    assert list(obj.named_tensors()) == []


@pytest.mark.parametrize("meta", [
    {"type": "function", "class_name": "X", "state": {}},
    {"type": "class", "class_name": 3, "state": {}},
    {"type": "class", "class_name": "X", "state": None},
    ["type", "class"],
])
def test_malformed_persistent_object(meta):
    with pytest.raises(CheckpointError, match="malformed persistent object"):
        load_pickle(_call("torch_utils.persistence", "_reconstruct_persistent_obj", meta))


def test_numpy_object_arrays_are_refused():
    data = pickle.dumps({"a": np.array([1, None, "x"], dtype=object)}, protocol=4)
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_pickle(data)
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_pickle(pickle.dumps(np.zeros(2, dtype=[("a", "f4"), ("b", "O")]), protocol=4))


def test_forged_dtype_flags_are_refused():
    # numpy.dtype('f8') then BUILD with flags claiming it holds object pointers
    forged = (b"\x80\x02cnumpy\ndtype\n" + pickle.dumps(("f8", False, True), 2)[2:-1] + b"R"
              + pickle.dumps((3, "<", None, None, None, -1, -1, 0x3F), 2)[2:-1] + b"b.")
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_pickle(forged)
    assert np.dtype("f8").flags == 0 and not np.dtype("f8").hasobject


def test_build_on_tensors_and_persistent_objects_is_refused():
    # Tensor.__setstate__ would resize the tensor (set_) to whatever the file says.
    tensor = pickle.dumps(torch.zeros(2), 3)[:-1] + pickle.dumps((None, 0, (10**6,), (1,)), 3)[2:-1] + b"b."
    with pytest.raises(UnsafePickleError, match="BUILD"):
        load_pickle(tensor)
    meta = {"type": "class", "class_name": "X", "state": {}}
    po = _call("torch_utils.persistence", "_reconstruct_persistent_obj", meta)[:-1] + b"}b."
    with pytest.raises(UnsafePickleError, match="BUILD"):
        load_pickle(po)


def test_outer_persistent_ids_are_refused():
    with pytest.raises(CheckpointError, match="persistent ids"):
        load_pickle(b"\x80\x02X\x03\x00\x00\x00abcQ.")


# ---------------------------------------------------------------------------------------------
# tensors and numpy values


@pytest.mark.parametrize("protocol", [3, 4, 5])  # protocol 2 would need _codecs.encode for bytes
def test_tensors_round_trip(protocol):
    torch.manual_seed(0)
    big = torch.randn(10)
    values = {
        "param": torch.nn.Parameter(torch.randn(3, 4)),
        "transposed": torch.arange(12.0).reshape(3, 4).t(),
        "slice": big[2:5],  # storage offset 2 into a 10-element storage
        "scalar": torch.tensor(2.5),
        "half": torch.randn(5).half(),
        "bf16": torch.randn(5).bfloat16(),
        "double": torch.randn(2, 2).double(),
        "long": torch.arange(5),
        "int": torch.arange(5, dtype=torch.int32),
        "byte": torch.arange(5, dtype=torch.uint8),
        "empty": torch.zeros(0, 3),
    }
    out = load_pickle(pickle.dumps(OrderedDict(values), protocol=protocol))
    assert isinstance(out, OrderedDict) and list(out) == list(values)
    for k, v in values.items():
        got = out[k]
        assert type(got) is torch.Tensor and not got.requires_grad, k
        assert got.dtype == v.dtype and got.shape == v.shape and got.is_contiguous(), k
        assert torch.equal(got, v.detach()), k


def test_genuine_storage_payload_round_trip():
    t = torch.arange(4.0)
    payload = _storage_payload(t)
    assert payload.startswith(pickle.dumps(LEGACY_MAGIC, 2))
    storage = load_pickle(pickle.dumps(_Reduce(torch.storage._load_from_bytes, payload), 4))
    assert torch.equal(storage, t)


@pytest.mark.parametrize("offset,size,stride", [
    (0, (10,), (1,)),  # larger than the storage
    (3, (2,), (1,)),  # runs past the end
    (4, (1,), (1,)),  # offset past the end
    (0, (2, 2), (2,)),  # size/stride rank mismatch
    (0, (4,), (-1,)),  # negative stride
    (0, (10**6, 10**6), (0, 0)),  # a huge broadcast view of four floats
    (-1, (1,), (1,)),
])
def test_tensor_views_must_fit_their_storage(offset, size, stride):
    storage = _Reduce(torch.storage._load_from_bytes, _storage_payload(torch.arange(4.0)))
    bad = _Reduce(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False, OrderedDict())
    with pytest.raises(CheckpointError, match="tensor"):
        load_pickle(pickle.dumps(bad, 4))


def test_corrupt_storage_payloads():
    payload = _storage_payload(torch.arange(4.0))
    cases = [
        ("truncated", payload[:-3]),
        ("truncated", payload[: len(payload) // 2]),
        ("bad magic", pickle.dumps(12345, 2) + payload[len(pickle.dumps(LEGACY_MAGIC, 2)):]),
        ("exactly one storage", _legacy_stream(pickle.dumps([1, 2], 2))),
    ]
    for match, bad in cases:
        with pytest.raises(CheckpointError, match=match):
            load_pickle(pickle.dumps(_Reduce(torch.storage._load_from_bytes, bad), 4))


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_numpy_values_round_trip(protocol):
    values = {"i": np.arange(6).reshape(2, 3), "fortran": np.asfortranarray(np.ones((2, 3), "f4")),
              "f": np.float64(1.5), "b": np.bool_(True), "size": np.array([36, 36], dtype=np.int64),
              "big_endian": np.arange(3, dtype=">f4")}
    data = pickle.dumps(values, protocol=protocol)
    out, expected = load_pickle(data), pickle.loads(data)  # numpy itself makes '>f4' native
    for k, v in values.items():
        assert type(out[k]) is type(v) and out[k].dtype == expected[k].dtype, k
        assert np.array_equal(out[k], v), k


def test_builtins_set_and_easydict():
    out = load_pickle(pickle.dumps({"s": {1, 2}, "o": OrderedDict(a=1)}, protocol=3))
    assert out == {"s": {1, 2}, "o": OrderedDict(a=1)}
    e = EasyDict(a=1)
    e.b = 2
    assert e.a == 1 and e["b"] == 2
    with pytest.raises(AttributeError):
        _ = e.missing


# ---------------------------------------------------------------------------------------------
# PersistentObject helpers


def test_persistent_object_helpers_and_cycles():
    w, b = torch.ones(2, 2), torch.zeros(2)
    leaf = PersistentObject("FullyConnectedLayer", {"_parameters": OrderedDict(weight=w, bias=None),
                                                    "_buffers": None, "_modules": {}, "activation": "lrelu"})
    root = PersistentObject("Net", {"_parameters": {}, "_buffers": {"f": b, "g": None},
                                    "_modules": OrderedDict(fc=leaf, empty=None)})
    leaf.state["_modules"]["back"] = root  # a cycle must not hang named_tensors
    assert root.params() == {} and leaf.buffers() == {}
    assert list(root.children()) == ["fc", "empty"]
    assert leaf.attr("activation") == "lrelu" and leaf.attr("missing") is None
    assert [n for n, _ in root.named_tensors()] == ["f", "fc.weight"]
    assert [n for n, _ in root.named_tensors("net")] == ["net.f", "net.fc.weight"]
    assert "state" not in repr(root)  # repr stays short on real networks


# ---------------------------------------------------------------------------------------------
# bad files


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty") as err:
        load_pickle(path)
    assert "empty.pkl" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pickle(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="folder"):
        load_pickle(tmp_path)


def test_truncated_fixture(tmp_path, fixtures_dir):
    raw = (fixtures_dir / "P1_sg2_res32.pkl").read_bytes()
    for n, cut in enumerate([len(raw) // 2, len(raw) - 1, 40]):
        path = tmp_path / f"half{n}.pkl"
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated") as err:
            load_pickle(path)
        assert f"half{n}.pkl" in str(err.value)


def test_truncated_self_made_pickle(tmp_path):
    raw = pickle.dumps({"w": torch.randn(50, 50), "n": np.arange(10)}, protocol=4)
    for cut in range(1, len(raw), 97):
        path = tmp_path / "cut.pkl"
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="cut.pkl"):
            load_pickle(path)


def test_random_bytes_and_text(tmp_path):
    rng = random.Random(1234)
    blobs = [rng.randbytes(rng.randint(1, 4096)) for _ in range(50)]
    blobs += [b"\x80\x04" + rng.randbytes(200) for _ in range(20)]
    blobs += [b"hello world, not a pickle\n", b"PK\x03\x04garbage", b"\x80\x02."]
    for i, blob in enumerate(blobs):
        path = tmp_path / f"junk{i}.pkl"
        path.write_bytes(blob)
        try:
            result = load_pickle(path)
        except CheckpointError as exc:
            assert f"junk{i}.pkl" in str(exc)
        else:  # a few random prefixes are valid tiny pickles; they must be inert data
            assert not callable(result)


# ----- structures that are allowed opcodes but hostile shapes (issue: hostile files) ---------------
def _run_isolated(payload: bytes, tmp_path) -> subprocess.CompletedProcess:
    """Load in a child process: a crash there fails the test instead of killing the runner."""
    path = tmp_path / "hostile.pkl"
    path.write_bytes(payload)
    code = ("import sys\nfrom explorer.checkpoints.safe_pickle import load_pickle\n"
            "from explorer.checkpoints.errors import CheckpointError\n"
            f"try:\n    load_pickle({str(path)!r})\nexcept CheckpointError as e:\n    print('clean:', e)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("payload", [
    b"\x80\x04}" + b")" + b"\x85" * 300_000 + b"Ns.",             # dict key: a tuple 300,000 deep
    b"\x80\x04\x8f(" + b")" + b"\x85" * 300_000 + b"\x90.",          # set item
    b"\x80\x04(" + b")" + b"\x85" * 300_000 + b"\x91.",              # frozenset item
])
def test_deeply_nested_hash_keys_are_refused_not_a_crash(payload, tmp_path):
    r = _run_isolated(payload, tmp_path)
    assert r.returncode == 0, r.stderr[-500:]
    assert "clean:" in r.stdout and "deep" in r.stdout


def test_deeply_nested_lists_are_refused():
    payload = b"\x80\x04" + b"]" * 5000 + b"a" * 4999 + b"."      # [[[[...]]]] 5,000 deep via APPEND
    with pytest.raises(CheckpointError, match="nests containers"):
        load_pickle(payload)


def test_container_opcodes_on_non_containers_are_refused():
    """ADDITEMS / APPEND(S) / SETITEM(S) call methods on whatever is on the stack (a tensor's
    .add broadcasts: a 240 KB file grew to 3.7 GB). Only real lists, dicts and sets take them."""
    base = _call("torch_utils.persistence", "_reconstruct_persistent_obj",
                 {"type": "class", "state": {}, "module_src": "", "class_name": "X"})
    for op in (b"(K\x01\x90", b"(K\x01e", b"K\x01a", b"(K\x01K\x02u", b"K\x01K\x02s"):
        with pytest.raises(UnsafePickleError, match="refused"):
            load_pickle(base[:-1] + op + b".")
    assert load_pickle(b"\x80\x04\x8f(K\x01K\x02\x90.") == {1, 2}          # on a real set: fine
    assert load_pickle(b"\x80\x04](K\x01K\x02e.") == [1, 2]
