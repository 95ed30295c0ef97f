"""Generator API behaviour beyond parity: groups, noise, precision, fused/unfused conv, uint8."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import Generator, stylegan2_config, stylegan3_config, to_uint8
from explorer.generators import layer_groups


@pytest.fixture(scope="module")
def sg2():
    torch.manual_seed(0)
    g = Generator(stylegan2_config(64, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2))
    with torch.no_grad():
        for name, p in g.named_parameters():
            if "noise_strength" in name:
                p.fill_(0.5)
    return g


def test_layer_groups_follow_the_paper():
    # StyleGAN2 1024 px: 18 ws; coarse 4-8 px = 0-3, medium 16-32 px = 4-7, fine = 8-17
    g = layer_groups([min(4 * 2 ** (i // 2), 1024) for i in range(18)])
    assert g == {"coarse": range(0, 4), "medium": range(4, 8), "fine": range(8, 18)}
    g = layer_groups([4, 4, 8, 8, 16, 16, 32, 32])  # a 32 px model has no fine group
    assert g["fine"] == range(0) and g["medium"] == range(4, 8)


def test_info_for_both_architectures(sg2):
    assert sg2.info.num_ws == 10 and sg2.info.resolution == 64
    assert (sg2.info.coarse, sg2.info.medium, sg2.info.fine) == (range(0, 4), range(4, 8), range(8, 10))
    g3 = Generator(stylegan3_config(64, z_dim=16, w_dim=16, channel_base=256, channel_max=16))
    assert g3.info.num_ws == 16 and g3.info.arch == "stylegan3"
    assert list(g3.info.coarse) + list(g3.info.medium) + list(g3.info.fine) == list(range(16))
    assert g3.noise_inputs() == []


def test_noise_modes_and_seeds(sg2):
    ws = sg2.map(torch.randn(3, 16))
    with torch.no_grad():
        const = sg2.synthesize(ws, noise_mode="const")
        none = sg2.synthesize(ws, noise_mode="none")
        r1 = sg2.synthesize(ws, noise_mode="random", noise_seed=[7, 8, 9])
        r2 = sg2.synthesize(ws, noise_mode="random", noise_seed=[7, 8, 9])
        r3 = sg2.synthesize(ws, noise_mode="random", noise_seed=[7, 8, 10])
        alone = sg2.synthesize(ws[1:2], noise_mode="random", noise_seed=[8])
        weak = sg2.synthesize(ws, noise_mode="random", noise_seed=[7, 8, 9], noise_strength=0.0)
    assert not torch.equal(const, none)
    assert torch.equal(r1, r2), "a noise seed reproduces"
    assert torch.equal(r1[:2], r3[:2]) and not torch.equal(r1[2], r3[2]), "per-sample seeds are independent"
    assert (alone[0] - r1[1]).abs().max() < 1e-5, "a sample's noise does not depend on its batch"
    assert (weak - none).abs().max() < 1e-6, "strength 0 equals no noise"
    with pytest.raises(ValueError, match="noise_mode"):
        sg2.synthesize(ws, noise_mode="bogus")
    with pytest.raises(ValueError, match="ws must be"):
        sg2.synthesize(ws[:, :3])


def test_fused_and_unfused_modulated_conv_agree(sg2):
    from explorer.generators.ops import modulated_conv2d

    torch.manual_seed(0)
    x, w, s = torch.randn(3, 8, 6, 6), torch.randn(5, 8, 3, 3), torch.randn(3, 8)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    for up in (1, 2):
        for demod in (True, False):
            a = modulated_conv2d(x, w, s, demodulate=demod, padding=1, up=up, resample_filter=f, fused=True)
            b = modulated_conv2d(x, w, s, demodulate=demod, padding=1, up=up, resample_filter=f, fused=False)
            assert a.shape == b.shape == (3, 5, 6 * up, 6 * up)
            assert (a - b).abs().max() < 1e-5


def test_reduced_precision_path_runs_on_cpu(sg2):
    # float16 is for CUDA; the same autocast path is exercised here with bfloat16.
    ws = sg2.map(torch.randn(2, 16))
    with torch.no_grad():
        full = sg2.synthesize(ws)
        low = sg2.synthesize(ws, dtype=torch.bfloat16)
    assert low.dtype == torch.float32 and low.shape == full.shape
    assert (low - full).abs().max() < 0.1 * full.abs().max()


def test_truncation_and_cutoff(sg2):
    z = torch.randn(2, 16)
    ws = sg2.map(z)
    t = sg2.map(z, psi=0.0)
    assert torch.allclose(t, sg2.w_avg.expand_as(t))
    c = sg2.map(z, psi=0.5, cutoff=4)
    assert torch.equal(c[:, 4:], ws[:, 4:])
    assert torch.allclose(c[:, :4], sg2.w_avg + 0.5 * (ws[:, :4] - sg2.w_avg))
    anti = sg2.map(z, psi=-1.0)  # the "antiface": reflection about w_avg
    assert torch.allclose(anti, 2 * sg2.w_avg - ws, atol=1e-6)


def test_to_uint8():
    x = torch.tensor([-1.0, 0.0, 1.0, 5.0]).reshape(1, 1, 2, 2).repeat(1, 3, 1, 1)
    u = to_uint8(x)
    assert u.dtype == np.uint8 and u.shape == (1, 2, 2, 3)
    assert u[0, :, :, 0].tolist() == [[0, 128], [255, 255]]


def test_conditional_model_requires_label():
    g = Generator(stylegan2_config(8, z_dim=4, w_dim=4, c_dim=2, channel_base=32, channel_max=4, mapping_layers=1))
    with pytest.raises(ValueError, match="conditional"):
        g.map(torch.randn(1, 4))
    assert g.map(torch.randn(1, 4), torch.tensor([[0.0, 1.0]])).shape == (1, g.info.num_ws, 4)


def test_noise_resampled_in_one_layer_group_only(sg2):
    ws = sg2.map(torch.randn(2, 16))
    fine = sg2.info.fine
    with torch.no_grad():
        const = sg2.synthesize(ws, noise_mode="const")
        only_fine = sg2.synthesize(ws, noise_mode="random", noise_seed=[1, 2], noise_layers=(fine.start, fine.stop))
        noise = sg2.make_noise(2, [1, 2], range(fine.start, fine.stop))
    assert all((t is None) == (ni.ws_index not in fine) for t, ni in zip(noise, sg2.noise_inputs()))
    assert not torch.equal(const, only_fine)
    # coarse structure unchanged: the 8x8 means barely move when only fine noise changes
    pool = torch.nn.functional.avg_pool2d
    assert (pool(const, 8) - pool(only_fine, 8)).abs().mean() < (const - only_fine).abs().mean()


def test_preview_stops_a_skip_generator_at_the_thumbnails_block():
    """synthesize(preview_size=S): skip models stop at the first block >= S (the same picture as the
    full render up to the finer blocks' detail); resnet / orig and StyleGAN3 render in full."""
    torch.manual_seed(0)
    skip = Generator(stylegan2_config(64, channel_base=512, channel_max=32, z_dim=16, w_dim=16)).eval()
    ws = skip.map(torch.randn(3, 16))
    assert skip.preview_resolution(20) == 32 and skip.preview_resolution(64) == 64
    prev = skip.synthesize(ws, preview_size=20)
    assert prev.shape == (3, 3, 32, 32)
    assert torch.equal(skip.synthesize(ws, preview_size=64), skip.synthesize(ws))
    # the 32 px preview is exactly the skip image before the 64 px block: with that block's RGB
    # switched off, the full render is the preview upsampled
    from explorer.generators.ops import upsample2d

    last = skip.synthesis.b64
    with torch.no_grad():
        last.torgb.weight.zero_()
        last.torgb.bias.zero_()
    assert torch.allclose(skip.synthesize(ws), upsample2d(prev, last.resample_filter), atol=1e-5)
    cfg = stylegan2_config(64, channel_base=512, channel_max=32, z_dim=16, w_dim=16, architecture="resnet")
    resnet = Generator(cfg).eval()
    assert resnet.preview_resolution(20) == 64
    assert resnet.synthesize(resnet.map(torch.randn(1, 16)), preview_size=20).shape[-1] == 64
    sg3 = Generator(stylegan3_config(16, channel_base=128, channel_max=16, z_dim=16, w_dim=16)).eval()
    assert sg3.preview_resolution(8) == 16


def test_generate_size_writes_pictures_of_that_size(tmp_path, make_generator):
    from PIL import Image

    from explorer.checkpoints import save_native
    from explorer.cli import main

    def pair(model: str, name: str):
        out = tmp_path / name
        assert main(["generate", "--model", model, "--seeds", "0", "--size", "32", "--outdir", str(out / "p")]) == 0
        assert main(["generate", "--model", model, "--seeds", "0", "--size", "32", "--full",
                     "--outdir", str(out / "f")]) == 0
        a = np.asarray(Image.open(out / "p" / "seed0000.png"))
        b = np.asarray(Image.open(out / "f" / "seed0000.png"))
        assert a.shape == b.shape == (32, 32, 3)
        return np.abs(a.astype(np.float32) - b).mean()

    # a skip generator stops at the first block of the size: a preview, not the full render
    skip = save_native(make_generator(res=64, seed=3), tmp_path / "skip.safetensors")
    assert pair(str(skip), "skip") > 0
    # the default model's card turns previews off (its fine blocks carry the colours): the same picture
    assert pair("default", "default") == 0


def test_inference_renders_in_place_and_draws_what_autograd_draws(sg2):
    """Without autograd the layers' epilogue (demodulation, noise, bias, leaky ReLU, gain) is two
    passes over the conv's own output, the weights wait in the activations' layout and the RGB
    picture is upsampled by polyphase sums: the same pictures to float rounding (1e-5 on [-1, 1]),
    in both layouts, at batch 1 and 3, and the caller's tensors untouched."""
    ws = sg2.map(torch.randn(3, sg2.info.z_dim, generator=torch.Generator().manual_seed(4)), None).detach()
    kept = ws.clone()
    for channels_last in (False, True):
        sg2.synthesis.set_channels_last(channels_last)
        try:
            for mode in ("random", "const"):
                with torch.inference_mode():
                    fast = sg2.synthesize(ws, noise_mode=mode, noise_seed=3)
                    one = sg2.synthesize(ws[:1], noise_mode=mode, noise_seed=3)
                with torch.enable_grad():
                    slow = sg2.synthesize(ws.clone().requires_grad_(True), noise_mode=mode, noise_seed=3)
                    slow1 = sg2.synthesize(ws[:1].clone().requires_grad_(True), noise_mode=mode, noise_seed=3)
                torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=0)
                torch.testing.assert_close(one, slow1.detach(), atol=1e-5, rtol=0)
        finally:
            sg2.synthesis.set_channels_last(False)
    assert torch.equal(ws, kept)


def test_inference_caches_follow_edits_of_the_weights_and_noise(sg2):
    """The kept inference tensors (weights in the conv's layout, (noise * strength + bias) * gain of
    the constant noise) are rebuilt when a parameter or a noise buffer is edited in place, and the
    random noise of each call is never taken for the constant one."""
    ws = sg2.map(torch.randn(2, sg2.info.z_dim, generator=torch.Generator().manual_seed(5)), None).detach()
    layer = sg2.synthesis.noise_layers()[-1]
    saved = {k: v.clone() for k, v in sg2.state_dict().items()}

    def render(**kw):
        with torch.inference_mode():
            return sg2.synthesize(ws, **kw)
    try:
        before = render()
        assert torch.equal(render(), before)
        a, b = render(noise_mode="random", noise_seed=1), render(noise_mode="random", noise_seed=2)
        assert not torch.equal(a, b) and not torch.equal(a, before)
        for edit in (lambda: layer.noise_const.mul_(-1), lambda: layer.noise_strength.add_(1.0),
                     lambda: layer.bias.add_(0.5), lambda: layer.weight[0].add_(1.0)):
            with torch.no_grad():
                edit()
            after = render()
            assert not torch.equal(after, before)
            with torch.enable_grad():
                torch.testing.assert_close(after, sg2.synthesize(ws).detach(), atol=1e-5, rtol=0)
            before = after
    finally:
        sg2.load_state_dict(saved)


def test_a_generator_made_under_inference_mode_renders(make_generator):
    """Parameters created under torch.inference_mode keep no version counter: the inference caches
    step aside for them and the pictures are the usual ones."""
    ws_gen = make_generator(res=32, dim=16)
    ws = ws_gen.map(torch.randn(2, ws_gen.info.z_dim, generator=torch.Generator().manual_seed(6)), None).detach()
    with torch.inference_mode():
        want = ws_gen.synthesize(ws)
        made = make_generator(res=32, dim=16)
        got = made.synthesize(ws)
    assert torch.is_inference(next(made.parameters()))           # the case the caches must survive
    # (`want` comes through the inference plan, `got` through the modules: float rounding apart)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=0)
