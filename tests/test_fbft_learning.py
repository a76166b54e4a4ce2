"FBFT learns: on a tiny case the transfer loss falls and a validation metric from held-out images with synthetic anomalies does not get worse."
import numpy as np, pytest, torch
from adnb.fbft import FBFT, fit_fbft, synthetic_validation

torch.set_num_threads(1)

def _normal(n=12, seed=0):
    g = torch.Generator().manual_seed(seed); return (.5 + .02 * torch.randn(n, 3, 64, 64, generator=g)).clamp(0, 1)

def test_fbft_learns_on_a_tiny_case():
    "Real Lite0 teacher (blocks.2 -> blocks.4), 8 grey noisy normals at 64 px, 4 held out for validation, 10 epochs (~1 s)."
    x = _normal(); m = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'))
    h = fit_fbft(m, [dict(image=x[:8])], epochs=10, progress=False, val=synthetic_validation(x[8:], seed=0))['history']
    assert h['epoch'] == list(range(11)) and h['loss'][0] is None and len(h['val_pixel_auroc']) == 11
    assert h['loss'][-1] < .5 * h['loss'][1]                                # the objective falls by more than half (1.99 -> 0.73)
    assert h['val_pixel_auroc'][-1] >= h['val_pixel_auroc'][0]              # held-out validation not worse than untrained (0.38 -> 0.66)
    assert h['val_pixel_ap'][-1] > h['val_pixel_ap'][0] and h['val_image_auroc'][-1] > h['val_image_auroc'][0]

def test_synthetic_validation_is_fixed_and_measures_the_map():
    "The anomalies are drawn once: two calls on the same model agree; a map that equals the mask scores AP 1."
    x = _normal(4); val = synthetic_validation(x, seed=3)
    m = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random').eval()
    assert val(m) == val(m) and set(val(m)) == {'pixel_ap', 'pixel_auroc', 'image_auroc'}
    class Oracle(torch.nn.Module):   # returns the image's own deviation from grey: the synthetic anomaly shows up exactly
        s_f = torch.nn.Linear(1, 1)
        def forward(self, b):
            d = (b - .5).abs().amax(1); d = torch.where(d > .1, d, torch.zeros_like(d)); return dict(map=d, score=d.flatten(1).amax(1))
    r = val(Oracle()); assert r['image_auroc'] == 1. and r['pixel_auroc'] > .9

def test_validation_does_not_change_training():
    "fit_fbft with a validation callback trains exactly as without one (same seed, same losses and student weights)."
    x = _normal(8); out = []
    for v in (None, synthetic_validation(x[6:], seed=0)):
        m = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random')
        r = fit_fbft(m, [dict(image=x[:6])], epochs=3, progress=False, val=v); out.append((r['losses'], m.s_f[0].weight.clone()))
    assert out[0][0] == out[1][0] and torch.equal(out[0][1], out[1][1])

def test_bad_validation_callback_is_refused():
    m = FBFT('efficientnet_lite0', ('blocks.2', 'blocks.4'), weights='random')
    with pytest.raises(TypeError, match='val must be a callable'): fit_fbft(m, [dict(image=_normal(2))], epochs=1, progress=False, val=[1])
