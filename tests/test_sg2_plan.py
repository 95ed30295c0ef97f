"""The StyleGAN2 inference plan (explorer/generators/sg2_plan.py): the same pictures as the modules'
path (to float rounding, 2e-5 on values of about 1), taken only where it may stand in for them,
rebuilt when the parameters change, and calling the render services' between-layers checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import Generator, load_generator, stylegan2_config
from explorer.generators import sg2_plan
from explorer.generators.sg2_plan import between_layers, synthesis_plan
from explorer.precision import apply_modconv_forms, modconv_layers

ATOL = 2e-5


def modules_path(g, ws, **kw):
    g.synthesis.disable_plan = True
    try:
        return g.synthesize(ws, **kw)
    finally:
        g.synthesis.disable_plan = False


@pytest.fixture
def plan_calls(monkeypatch):
    """How many renders went through the plan."""
    calls = []
    orig = sg2_plan.SynthesisPlan.__call__

    def counted(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)
    monkeypatch.setattr(sg2_plan.SynthesisPlan, "__call__", counted)
    return calls


def clamped_generator(arch="skip", seed=1):
    torch.manual_seed(seed)
    g = Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=32,
                                   mapping_layers=1, architecture=arch, conv_clamp=0.5))
    with torch.no_grad():
        for layer in g.synthesis.noise_layers():
            layer.noise_strength.fill_(0.7)
    return g.eval()


@pytest.mark.parametrize("arch", ["skip", "orig"])
@pytest.mark.parametrize("batch", [1, 3])
def test_plan_matches_the_modules(arch, batch, plan_calls):
    g = clamped_generator(arch)
    ws = g.map(torch.randn(batch, 16, generator=torch.Generator().manual_seed(2)), None).detach()
    explicit = [torch.randn(batch, 1, n.resolution, n.resolution) for n in g.noise_inputs()]
    cases = [{}, {"noise_mode": "random", "noise_seed": 4}, {"noise_mode": "none"},
             {"noise": explicit}, {"noise_strength": 0.3}, {"noise_mode": "random", "noise_seed": 5,
                                                            "noise_layers": range(2, 5)},
             {"preview_size": 8}]
    with torch.inference_mode():
        for kw in cases:
            want = modules_path(g, ws, **kw)
            n = len(plan_calls)
            got = g.synthesize(ws, **kw)
            assert len(plan_calls) == n + 1, kw
            assert got.shape == want.shape, kw
            torch.testing.assert_close(got, want, atol=ATOL, rtol=0, msg=str(kw))
        assert float(modules_path(g, ws).abs().max()) > 0.3       # pictures, not zeros
    # the clamp is really in play: unclamped the maps would be far larger
    assert max(layer.conv_clamp for layer in g.synthesis.noise_layers()) == 0.5


def test_plan_beside_modules_with_the_styles_folded_into_some_weights(plan_calls):
    """The render services' per-layer form choice steers the modules' path only: the plan keeps
    its one form (no rebuild) and the same picture as the modules in either form."""
    g = clamped_generator()
    ws = g.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(3)), None).detach()
    names = [n for n, _ in modconv_layers(g)]
    const = g.synthesis.b4.const.detach().clone()
    with torch.no_grad():
        first = g.synthesize(ws)
        plan = synthesis_plan(g.synthesis)
        for chosen in (names[::2], names[1::2], names):
            apply_modconv_forms(g, chosen)
            torch.testing.assert_close(g.synthesize(ws), modules_path(g, ws), atol=ATOL, rtol=0)
            assert synthesis_plan(g.synthesis) is plan
        assert torch.equal(g.synthesize(ws), first)
    assert torch.equal(g.synthesis.b4.const, const)              # the first map is scaled in a copy
    assert len(plan_calls) == 5


def test_nvidia_fixture_through_the_plan_matches_the_reference(fixtures_dir, plan_calls):
    """The original authors' pictures (tests/test_parity.py's tolerance) with the plan in the path."""
    for name in ("P1_sg2_res32", "P4_sg2ada_res32"):
        gen = load_generator(fixtures_dir / f"{name}.pkl")
        ref = dict(np.load(fixtures_dir / f"{name}.ref.npz"))
        n = len(plan_calls)
        with torch.no_grad():
            img = gen.synthesize(torch.from_numpy(ref["ws_psi07"]), noise_mode="const")
        assert len(plan_calls) == n + 1
        assert float((img - torch.from_numpy(ref["img_psi07"])).abs().max()) <= 1e-4, name


def test_plan_follows_parameter_changes(make_generator, plan_calls):
    g = make_generator(res=16).eval()
    ws = g.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(1)), None).detach()
    with torch.no_grad():
        before = g.synthesize(ws)
        plan = synthesis_plan(g.synthesis)
        g.synthesis.b8.conv1.weight.mul_(1.5)                  # in place: a new version
        g.synthesis.b16.torgb.bias.add_(0.25)
        after = g.synthesize(ws)
        assert synthesis_plan(g.synthesis) is not plan
        torch.testing.assert_close(after, modules_path(g, ws), atol=ATOL, rtol=0)
        assert float((after - before).abs().max()) > 0.2
        g.synthesis.b4.conv1.weight = torch.nn.Parameter(torch.randn_like(g.synthesis.b4.conv1.weight))
        torch.testing.assert_close(g.synthesize(ws), modules_path(g, ws), atol=ATOL, rtol=0)
        g.synthesis.b8.conv0.weight.data = torch.randn_like(g.synthesis.b8.conv0.weight)   # new storage
        torch.testing.assert_close(g.synthesize(ws), modules_path(g, ws), atol=ATOL, rtol=0)


def test_plan_steps_aside_for_gradients_training_hooks_and_other_precisions(make_generator, plan_calls):
    g = make_generator(res=16).eval()
    ws = g.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(1)), None).detach()
    img = g.synthesize(ws.clone().requires_grad_())               # autograd on: the modules
    assert img.requires_grad and not plan_calls
    g.synthesize(ws)                            # grad mode on, nothing to record: the modules still
    assert not plan_calls
    with torch.no_grad():
        g.train()
        g.synthesize(ws)
        g.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            g.synthesize(ws)
        seen = []
        handle = g.synthesis.b8.conv0.register_forward_hook(lambda m, i, o: seen.append(o.shape))
        g.synthesize(ws)
        handle.remove()
        assert seen == [torch.Size([1, 16, 8, 8])]              # an ordinary hook still sees its layer
        assert not plan_calls
        g.synthesize(ws)
    assert len(plan_calls) == 1


def test_between_layers_checks_run_before_every_block_and_layer(make_generator, plan_calls):
    g = make_generator(res=16).eval()
    ws = g.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(1)), None).detach()
    seen = []

    class Stop(Exception):
        pass

    def check(module, args):
        seen.append(module)
        if getattr(module, "stop_here", False):
            raise Stop

    between_layers(check)
    mods = [m for child in g.synthesis.children() for m in (child, *child.children())]
    handles = [m.register_forward_pre_hook(check) for m in mods]
    with torch.no_grad():
        g.synthesize(ws)
        assert len(plan_calls) == 1 and set(map(id, seen)) == set(map(id, mods))
        assert seen.index(g.synthesis.b8) < seen.index(g.synthesis.b8.conv0) < seen.index(g.synthesis.b16)
        g.synthesis.b8.conv1.stop_here = True
        seen.clear()
        with pytest.raises(Stop):
            g.synthesize(ws)
        assert g.synthesis.b16 not in seen                       # stopped between layers
    for h in handles:
        h.remove()


def test_render_service_renders_through_the_plan_and_stops_it_between_layers(plan_calls):
    """The window's service: its single faces and batches go through the plan (its shutdown check
    is a between-layers hook), with the modules' pictures; a shutdown stops a long batch inside
    the plan before its last block, on the worker and on the helper rendering the other part."""
    import threading

    from explorer.generators.generator import to_uint8
    from explorer.render import RenderService
    from explorer.render_queue import Status

    g = clamped_generator()
    ws = g.map(torch.randn(3, 16, generator=torch.Generator().manual_seed(8)), None).detach()
    with RenderService(g, device="cpu", precision="float32", num_threads=1) as svc:
        res = svc.submit(ws[:1].numpy(), size=32, cache=False).wait(60)
        assert res.status is Status.OK and plan_calls
        with torch.inference_mode():
            want = to_uint8(modules_path(g, ws[:1]))[0]
        assert np.abs(res.images[0].astype(int) - want.astype(int)).max() <= 1

    torch.manual_seed(0)
    slow = Generator(stylegan2_config(256, z_dim=32, w_dim=32, channel_base=8192, channel_max=128,
                                      mapping_layers=1))
    started, late = threading.Event(), []
    first, last = slow.synthesis.b4, slow.synthesis.b256
    first.register_forward_pre_hook(between_layers(lambda *_a: started.set()))
    last.register_forward_pre_hook(between_layers(lambda *_a: late.append(1)))
    svc = RenderService(slow, device="cpu", max_batch=64, num_threads=1, cpu_workers=2)
    before = len(plan_calls)
    z = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
    ticket = svc.submit(slow.map(z, None).detach().numpy(), cache=False)
    assert started.wait(60), "the batch started"
    assert svc.shutdown(timeout=60), "the worker exited"
    assert ticket.wait(5).status == Status.CANCELLED
    assert len(plan_calls) > before, "the batch went through the plan"
    assert not late, "the batch stopped before its last block"


def test_plan_steps_aside_for_filters_it_does_not_cover(plan_calls):
    """Other resample filters than 4 taps: the modules render (the plan's blur pads for 4 taps)."""
    torch.manual_seed(2)
    cfg = stylegan2_config(16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=1)
    cfg["synthesis"]["resample_taps"] = [1, 2, 1]
    g = Generator(cfg).eval()
    ws = g.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(2)), None).detach()
    with torch.no_grad():
        img = g.synthesize(ws)
    assert img.shape == (1, 3, 16, 16) and not plan_calls
