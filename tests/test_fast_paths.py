"""The fast paths of issue 32 give the same numbers as the plain ones: map smoothing bit for bit, AnomalyDINO's pruned
search bit for bit against the exhaustive one, PaDiM's batched Mahalanobis against the einsum definition."""
import pytest, torch
import torch.nn.functional as F
from adnb.metrics import gaussian_blur

def _blur_reference(x, sigma=4., border='reflect'):
    "gaussian_blur as it was before the depthwise rewrite (one single-channel conv per map, 2-D padding)."
    if sigma <= 0: return x
    r = int(4*sigma + 0.5); k = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-k**2 / (2*sigma**2)); k = (k / k.sum()).to(x.dtype)
    y = x[None, None] if x.ndim == 2 else x[:, None]
    lim = 1 if border == 'reflect' else 0
    ph, pw = min(r, y.shape[-2] - lim), min(r, y.shape[-1] - lim)
    if border == 'reflect': y = F.pad(y, (pw, pw, ph, ph), mode='reflect')
    else:
        H, W = y.shape[-2:]
        ih = torch.cat([torch.arange(ph - 1, -1, -1), torch.arange(H), torch.arange(H - 1, H - 1 - ph, -1)])
        iw = torch.cat([torch.arange(pw - 1, -1, -1), torch.arange(W), torch.arange(W - 1, W - 1 - pw, -1)])
        y = y.index_select(-2, ih).index_select(-1, iw)
    kh, kw = k[r-ph:r+ph+1], k[r-pw:r+pw+1]
    y = F.conv2d(y, (kh / kh.sum()).view(1, 1, -1, 1)); y = F.conv2d(y, (kw / kw.sum()).view(1, 1, 1, -1))
    return y[0, 0] if x.ndim == 2 else y[:, 0]

@pytest.mark.parametrize('shape', [(16, 256, 256), (3, 64, 48), (256, 256), (2, 7, 9), (4, 33, 200), (1, 300, 300)])
@pytest.mark.parametrize('border', ['reflect', 'symmetric'])
def test_blur_bit_identical(shape, border):
    g = torch.Generator().manual_seed(len(shape) * 100 + shape[-1])
    x = torch.rand(*shape, generator=g)
    for sigma in (4., 2.5, 0.5):
        assert torch.equal(gaussian_blur(x, sigma, border), _blur_reference(x, sigma, border)), (shape, border, sigma)

def test_pruned_search_identical():
    from adnb.anomalydino import PrunedIP, nn_cosine, flat_ip_index
    g = torch.Generator().manual_seed(1)
    centres = F.normalize(torch.randn(60, 48, generator=g), dim=1)
    bank = F.normalize(centres.repeat_interleave(200, 0) + 0.05 * torch.randn(12000, 48, generator=g), dim=1)
    q = F.normalize(torch.cat([centres.repeat_interleave(20, 0) + 0.06 * torch.randn(1200, 48, generator=g),
                               torch.randn(200, 48, generator=g)]), dim=1)          # in-distribution and anomalous-like queries
    d0, i0 = nn_cosine(bank, q, use_faiss=False)
    px = PrunedIP(bank)
    d1, i1 = nn_cosine(bank, q, index=px)
    assert torch.equal(i1, i0) and torch.equal(d1, d0)
    assert px.work < 0.5 * len(q) * len(bank)                # it did prune
    d2, _ = nn_cosine(bank, q, index=flat_ip_index(bank))
    assert (d2 - d0).abs().max() < 1e-6

def test_pruned_search_only_k1():
    from adnb.anomalydino import PrunedIP
    px = PrunedIP(F.normalize(torch.randn(500, 8), dim=1), clusters=4)
    with pytest.raises(ValueError, match='1 nearest'): px.search(torch.randn(3, 8).numpy(), 2)

def _gaussian_reference(E, eps=0.01):
    "PaDiM's Gaussians all in float64 (the definition)."
    N, C, h, w = E.shape
    X = E.permute(2, 3, 0, 1).reshape(h * w, N, C).double()
    mu = X.mean(1); Xc = X - mu[:, None]
    cov = Xc.transpose(1, 2) @ Xc / (N - 1) + eps * torch.eye(C, dtype=X.dtype)
    return mu.float(), torch.linalg.inv(cov).float()

def test_padim_gaussians_match_float64():
    from adnb.padim import gaussian_fit, mahalanobis
    g = torch.Generator().manual_seed(2)
    E = 3 * torch.randn(40, 24, 6, 5, generator=g) + 5 * torch.randn(1, 24, 1, 1, generator=g)
    mu0, ic0 = _gaussian_reference(E); mu1, ic1 = gaussian_fit(E, chunk=7)
    assert torch.equal(mu1, mu0)
    assert ((ic1 - ic0).abs().max() / ic0.abs().max()) < 1e-5
    x = 3 * torch.randn(3, 24, 6, 5, generator=g)
    torch.testing.assert_close(mahalanobis(x, mu1, ic1), mahalanobis(x, mu0, ic0), rtol=1e-5, atol=1e-5)

def test_padim_embed_selects_before_upsampling():
    from adnb.padim import PaDiM, padim_embed
    m = PaDiM(weights='random', d=50)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad(): assert torch.equal(m.embed(x), padim_embed(m.features(x))[:, m.channels])
