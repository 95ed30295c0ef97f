"""upfirdn2d against a direct numpy reference (zero insertion, pad/crop, 2-D FIR, subsample).

The fast paths (one strided depthwise conv for short taps, per-axis strided convs for long
StyleGAN3 taps) must give the textbook result; tolerance 1e-5 absolute in float32.
"""
import numpy as np
import pytest
import torch

from explorer.generators.ops import upfirdn2d


def reference(x, f, up, down, pad, gain):
    x0, x1, y0, y1 = pad
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up))
    z[:, :, ::up, ::up] = x
    z = np.pad(z, ((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    z = z[:, :, max(-y0, 0): z.shape[2] - max(-y1, 0), max(-x0, 0): z.shape[3] - max(-x1, 0)]
    f2 = np.outer(f, f) * gain if f.ndim == 1 else f * gain
    fh, fw = f2.shape
    k = f2[::-1, ::-1]  # true convolution
    out = np.zeros((n, c, z.shape[2] - fh + 1, z.shape[3] - fw + 1))
    for i in range(fh):
        for j in range(fw):
            out += k[i, j] * z[:, :, i: i + out.shape[2], j: j + out.shape[3]]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 4, 3], list(range(1, 13))])
@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2, 1, 2)), (1, 2, (2, 2, 2, 2)), (1, 2, (1, 1, 1, 1)),
                                         (2, 1, (2, 1, 2, 1)), (2, 2, (5, 4, 5, 4)), (1, 2, (-1, 3, 2, 0))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_reference(taps, up, down, pad, channels_last):
    rng = np.random.default_rng(0)
    f = np.asarray(taps, dtype=np.float64)
    f = f / f.sum()
    x = rng.standard_normal((2, 3, 9, 10)) if down == 1 else rng.standard_normal((2, 3, 10, 12))
    xt = torch.tensor(x, dtype=torch.float32)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    got = upfirdn2d(xt, torch.tensor(f, dtype=torch.float32), up=up, down=down, padding=pad, gain=up * up)
    want = reference(x, f, up, down, pad, up * up)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last or got.shape[2] * got.shape[3] == 1


def test_two_dimensional_filter_and_gradients():
    rng = np.random.default_rng(1)
    f = rng.random((3, 4))
    x = rng.standard_normal((1, 2, 8, 8))
    got = upfirdn2d(torch.tensor(x, dtype=torch.float32), torch.tensor(f, dtype=torch.float32),
                    down=2, padding=(1, 2, 1, 1))
    np.testing.assert_allclose(got.numpy(), reference(x, f, 1, 2, (1, 2, 1, 1), 1.0), atol=1e-5)
    got = upfirdn2d(torch.tensor(x, dtype=torch.float32), torch.tensor(f, dtype=torch.float32),
                    up=2, padding=(2, -1, 1, 3), gain=4.0)
    np.testing.assert_allclose(got.numpy(), reference(x, f, 2, 1, (2, -1, 1, 3), 4.0), atol=1e-5)
    # the strided path is linear: its gradient is the adjoint, checked numerically in double
    xt = torch.tensor(x, requires_grad=True)
    ft = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 8
    assert torch.autograd.gradcheck(lambda t: upfirdn2d(t, ft, down=2, padding=(2, 2, 2, 2)), (xt,))
    assert torch.autograd.gradcheck(lambda t: upfirdn2d(t, ft, up=2, padding=(2, 1, 2, 1), gain=4.0), (xt,))


@pytest.mark.parametrize("channels_last", [False, True])
def test_rgb_upsampling_by_polyphase_sums_matches_reference(channels_last):
    """upsample2d's path for a few channels and a symmetric 4-tap filter (the skip architecture's
    RGB picture): two polyphase sums per axis instead of the transposed convs; same numbers."""
    from explorer.generators.ops import upsample2d

    rng = np.random.default_rng(2)
    f = np.asarray([1.0, 3.0, 3.0, 1.0]) / 8
    x = rng.standard_normal((2, 3, 5, 7))
    xt = torch.tensor(x, dtype=torch.float32)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    got = upsample2d(xt, torch.tensor(f, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), reference(x, f, 2, 1, (2, 1, 2, 1), 4.0), atol=1e-5)
    xd = torch.tensor(x[:1], requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: upsample2d(t, torch.tensor(f)), (xd,))
