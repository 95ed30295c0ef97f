"""Render precision 'auto': bfloat16 on a CPU only where it keeps the pictures (explorer/precision.py)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from explorer import load_generator
from explorer import precision as prec
from explorer import render as render_mod
from explorer.render import RenderService, Status


def test_decide_keeps_float32_when_pictures_change_or_no_gain():
    assert prec.decide(45.0, 2.0).dtype == "bfloat16"
    lossy = prec.decide(prec.TOLERANCE_DB - 0.5, 3.0)
    assert lossy.dtype == "float32" and "dB" in lossy.reason
    slow = prec.decide(50.0, 1.05)
    assert slow.dtype == "float32" and "not faster" in slow.reason


def test_psnr_u8_is_the_worst_picture():
    a = np.zeros((2, 8, 8, 3), np.uint8)
    b = a.copy()
    assert prec.psnr_u8(a, b) == float("inf")
    b[1, 0, 0, 0] = 16  # mse = 256 / 192 in picture 1 only
    assert prec.psnr_u8(a, b) == pytest.approx(10 * np.log10(255 ** 2 / (256 / 192)))


def test_memory_round_trip_and_bad_file(tmp_path):
    mem = prec.PrecisionMemory(tmp_path)
    key = mem.key("abc", "cpu", 2)
    assert mem.get(key) is None
    choice = prec.decide(44.0, 1.9)
    mem.put(key, choice)
    assert prec.PrecisionMemory(tmp_path).get(key) == choice
    (tmp_path / "precision.json").write_text("{not json")
    assert mem.get(key) is None           # a damaged file is an empty memory
    mem.put(key, choice)                   # and is replaced whole
    assert json.loads((tmp_path / "precision.json").read_text())[key]["dtype"] == "bfloat16"


def _service(gen, tmp_path, monkeypatch, fast=True):
    monkeypatch.setattr(render_mod, "cpu_has_fast_bf16", lambda: fast)
    return RenderService(gen, device="cpu", precision="auto", precision_memory=tmp_path, max_batch=4,
                         num_threads=1)


def _render(svc, ws, size):
    res = svc.submit(ws, size=size).wait(timeout=120)
    assert res.status is Status.OK, res.error
    return res.images


def test_auto_measures_on_the_first_batch_then_remembers(fixtures_dir, tmp_path, monkeypatch):
    gen = load_generator(str(fixtures_dir / "P1_sg2_res32.pkl"), device="cpu")
    ws = gen.map(torch.randn(4, gen.info.z_dim, generator=torch.Generator().manual_seed(3)), psi=0.7).numpy()
    exact = RenderService(gen, device="cpu", precision="float32", num_threads=1)
    try:
        ref = _render(exact, ws, 32)
    finally:
        exact.close()
    calls = []
    with _service(gen, tmp_path, monkeypatch) as svc:
        orig = svc._calibrate_precision
        monkeypatch.setattr(svc, "_calibrate_precision", lambda *a: (calls.append(1), orig(*a))[1])
        first = _render(svc, ws, 32)
        # the first batch is delivered in float32, exactly
        assert np.array_equal(first, ref)
        assert svc.precision_choice is not None and len(calls) == 1
        # the modulated-conv forms are timed once the worker has nothing else to do
        deadline = time.monotonic() + 60
        while not svc.precision_choice.forms_measured and time.monotonic() < deadline:
            time.sleep(0.02)
        choice = svc.precision_choice
        assert choice.forms_measured
        assert svc.precision == choice.dtype
        assert np.isfinite(choice.speedup) and choice.speedup > 0
        # the decision follows the rule from the measured figures
        assert choice.dtype == prec.decide(choice.psnr_db, choice.speedup).dtype
        layers = prec.modconv_layers(svc._model)
        assert layers and all(m.fused_at_batch1 == (n in choice.fused_layers) for n, m in layers)
        _render(svc, ws[::-1].copy(), 24)
        assert len(calls) == 1  # measured once per model
    saved = json.loads((tmp_path / "precision.json").read_text())
    assert [v["dtype"] for v in saved.values()] == [choice.dtype]
    # a new session on the same model starts with the remembered choice, without measuring
    with _service(gen, tmp_path, monkeypatch) as svc2:
        monkeypatch.setattr(svc2, "_calibrate_precision", lambda *a: pytest.fail("measured again"))
        _render(svc2, ws, 32)
        assert svc2.precision_choice == choice


@pytest.mark.parametrize("name", ["P1_sg2_res32", "P2_sg3t_res32"])
def test_bfloat16_renders_stay_within_the_tolerance(fixtures_dir, tmp_path, monkeypatch, name):
    """A model remembered as bfloat16 renders in bfloat16, within TOLERANCE_DB of float32 (SG2:
    autocast; SG3: its convolutions only)."""
    gen = load_generator(str(fixtures_dir / f"{name}.pkl"), device="cpu")
    ws = gen.map(torch.randn(6, gen.info.z_dim, generator=torch.Generator().manual_seed(5)), psi=0.8).numpy()
    with RenderService(gen, device="cpu", precision="float32", num_threads=1) as exact:
        ref = _render(exact, ws, 32)
    mem = prec.PrecisionMemory(tmp_path)
    mem.put(mem.key(str(gen.fingerprint), "cpu", 1), prec.PrecisionChoice("bfloat16", 50.0, 2.0, "test",
                                                                         forms_measured=True))
    with _service(gen, tmp_path, monkeypatch) as svc:
        out = _render(svc, ws, 32)
        assert svc.precision == "bfloat16"
        # exports ask for exact pictures: float32 whatever 'auto' chose, never bfloat16 from the cache
        exact = svc.submit(ws, size=32, exact=True).wait(timeout=120)
        job = svc.submit_job(iter(ws), size=32, total=len(ws), collect=True, exact=True).wait(timeout=120)
    assert not np.array_equal(out, ref)  # really another precision
    assert prec.psnr_u8(out, ref) >= prec.TOLERANCE_DB
    for got in (np.stack(exact.images), np.stack(job.images)):  # float32: equal but for batch-order rounding
        assert np.abs(got.astype(int) - ref).max() <= 1 and prec.psnr_u8(got, ref) > 60


def test_auto_without_native_bf16_is_float32(fixtures_dir, tmp_path, monkeypatch):
    gen = load_generator(str(fixtures_dir / "P1_sg2_res32.pkl"), device="cpu")
    with _service(gen, tmp_path, monkeypatch, fast=False) as svc:
        _render(svc, gen.map(torch.randn(2, gen.info.z_dim), psi=0.7).numpy(), 32)
        assert svc.precision == "float32" and svc.precision_choice is None
    assert not (tmp_path / "precision.json").exists()


def test_modconv_forms_per_layer(fixtures_dir, monkeypatch):
    """Both forms give the same picture at batch 1; the choice keeps the layers whose fused form was
    clearly faster in the timed renders (here made so for one layer by a slow unfused path)."""
    import time as _time

    from explorer.generators import ops

    gen = load_generator(str(fixtures_dir / "P1_sg2_res32.pkl"), device="cpu").eval()
    ws = gen.map(torch.randn(1, gen.info.z_dim, generator=torch.Generator().manual_seed(2)), psi=0.7)
    layers = prec.modconv_layers(gen)
    with torch.no_grad():
        prec.apply_modconv_forms(gen, [])
        unfused = gen.synthesize(ws)
        prec.apply_modconv_forms(gen, [n for n, _ in layers])
        fused = gen.synthesize(ws)
    assert torch.allclose(unfused, fused, atol=1e-5)
    slow_name, slow_layer = layers[2]
    real = ops.modulated_conv2d

    def slowed(x, *a, fused=True, **k):
        if not fused and x.shape[1] == slow_layer.weight.shape[1] and slow_layer.fused_at_batch1 is False \
                and getattr(slowed, "layer", None) is slow_layer:
            _time.sleep(0.05)
        return real(x, *a, fused=fused, **k)

    import explorer.generators.stylegan2 as sg2
    monkeypatch.setattr(sg2, "modulated_conv2d", slowed)
    hook = slow_layer.register_forward_pre_hook(lambda m, i: setattr(slowed, "layer", m))
    post = slow_layer.register_forward_hook(lambda m, i, o: setattr(slowed, "layer", None))
    try:
        with torch.no_grad():
            chosen = prec.choose_modconv_forms(gen, lambda: gen.synthesize(ws))
    finally:
        hook.remove()
        post.remove()
    assert slow_name in chosen
    assert slow_layer.fused_at_batch1 and all(m.fused_at_batch1 == (n in chosen) for n, m in layers)
    with torch.no_grad():  # batch 4 never takes the fused form on a CPU
        from explorer.generators.stylegan2 import use_fused_modconv
        assert not use_fused_modconv(slow_layer, torch.zeros(4, 1, 1, 1))
        assert use_fused_modconv(slow_layer, torch.zeros(1, 1, 1, 1))


def test_window_auto_precision_in_the_status_bar(qtbot, settings, fixtures_dir, monkeypatch):
    """The window renders with precision 'auto': after its first batch the status bar names the
    precision measured for the model, and the tooltip says why; exporting a still stays exact."""
    from explorer.user_data import cache_dir
    from tests.window_support import open_window

    monkeypatch.setenv("LATENT_EXPLORER_PRECISION", "auto")
    monkeypatch.setattr(render_mod, "cpu_has_fast_bf16", lambda: True)
    gen = load_generator(str(fixtures_dir / "P1_sg2_res32.pkl"), device="cpu")
    w = open_window(qtbot, gen, settings)
    try:
        svc = w.bridge.service
        qtbot.waitUntil(lambda: svc.precision_choice is not None, timeout=30_000)
        choice = svc.precision_choice
        qtbot.waitUntil(lambda: w.status_device.text() == f"CPU · {choice.dtype}"
                        and choice.reason in w.status_device.toolTip(), timeout=10_000)
        assert (cache_dir() / "precision.json").is_file()
    finally:
        w.close()


def test_forms_measured_later_when_the_last_session_closed_first(fixtures_dir, tmp_path, monkeypatch):
    gen = load_generator(str(fixtures_dir / "P1_sg2_res32.pkl"), device="cpu")
    mem = prec.PrecisionMemory(tmp_path)
    key = mem.key(str(gen.fingerprint), "cpu", 1)
    mem.put(key, prec.PrecisionChoice("float32", 60.0, 1.0, "test"))   # forms not measured yet
    with _service(gen, tmp_path, monkeypatch) as svc:
        _render(svc, gen.map(torch.randn(2, gen.info.z_dim), psi=0.7).numpy(), 32)
        deadline = time.monotonic() + 60
        while not (mem.get(key) or prec.PrecisionChoice("", 0, 0, "")).forms_measured and time.monotonic() < deadline:
            time.sleep(0.02)
    assert mem.get(key).forms_measured and mem.get(key).dtype == "float32"
