"ADPretrain learns: on a tiny case the objective falls, the held-out norm-AUROC does not get worse, the push-out term is active after scaling (each category by its own normals), and the scales round-trip."
import math
import numpy as np
import pytest
import torch
from adnb.adpretrain import ADPretrain, pretrain, norm_loss, _Data, _batch, _level_tokens, compute_stats, pretrain_items, val_split, pool_textures, ResidualFeatures
from adnb.datasets import make_embedded, mvtec_records

@pytest.fixture(scope='module')
def emb(tmp_path_factory):
    return make_embedded(tmp_path_factory.mktemp('emb'), size=64, n_train=10, n_good=2, n_defect=2, categories=('brick', 'grass', 'puck'))

def _recs(root): return [r for c in ('brick', 'grass') for r in mvtec_records(root, c, 'embedded')]

@pytest.fixture(scope='module')
def trained(emb):
    m = ADPretrain(weights='auto', n_ref=16)                                  # the offline ImageNet Lite0 weights, 64 px
    h = pretrain(m, _recs(emb), 'puck', epochs=6, batch_size=16, lr=3e-3, image_size=64, crop=None, variant='code',
                 max_anchors=256, progress=False)
    return m, h

def test_objective_falls_and_validation_norm_auroc_not_worse(trained):
    """Stated fraction: the objective on the fixed held-out set ends >= 4 % below its value at init; the mean training loss of the last
    3 epochs is below that of the first 3; the held-out norm-AUROC does not unlearn: at most 0.01 below its value at init (the house
    rule of STYLE.md; with each category scaled by its own normals it moved 0.693 -> 0.688 here, within its epoch-to-epoch wobble)."""
    m, h = trained; H = h['history']
    assert H[0]['epoch'] == 0 and H[0]['loss'] is None and len(H) == 7
    assert H[-1]['val_loss'] <= 0.96 * H[0]['val_loss'], [e['val_loss'] for e in H]
    tr = [e['loss'] for e in H[1:]]
    assert np.mean(tr[-3:]) < np.mean(tr[:3]), tr
    assert H[-1]['val_auroc'] >= H[0]['val_auroc'] - 0.01, [e['val_auroc'] for e in H]

@pytest.mark.parametrize('scale', ['category', 'pool'])
def test_push_out_term_is_active_after_scaling(emb, scale):
    "With residuals divided by the median normal norm (each category's own, or the pool's), some anomalous features lie inside r + 0.75 (the term is non-zero); unscaled features of a trained backbone would not."
    m = ADPretrain(weights='random', n_ref=16); recs, _ = val_split(_recs(emb), 0.2, 0); items = pretrain_items(recs)
    data = _Data(m, items, 64, None, 'cpu', 16); _, data.textures = pool_textures(['brick', 'grass'], 64)
    sc, per, ce = compute_stats(m, data, scale=scale)
    for l in m.levels: m.scale(l).copy_(sc[l]); m.center(l).copy_(ce[l])
    if scale == 'category': data.scales = per
    assert sorted(per) == ['brick', 'grass'] and (per['brick'] != per['grass']) == (scale == 'category')
    rng = np.random.default_rng(0); batch = [i for i in items if i['kind'] != 'normal'][:8] + [i for i in items if i['kind'] == 'normal'][:8]
    x1, x2, ms, refs, _ = _batch(m, data, batch, rng, (4,), 'cpu', 32/196)
    with torch.no_grad(): f = (m.features(x1), m.features(x2))
    for l in m.levels:
        z1, _, lab = _level_tokens(m, l, *f, ms, refs, 32/196, project=False)
        normal_norms = z1[lab == 0].norm(dim=1)
        assert 0.5 < normal_norms.median().item() < 2.                        # the scale puts normal residuals near norm 1
        P = norm_loss(z1, lab, variant='code', parts=True)
        assert lab.sum() > 0 and P['n_anomalous'] > 0 and P['anomalous'].item() > 0, (l, P)

def test_scales_round_trip_through_save_load(trained, tmp_path):
    "scale='category': each pool category has its own s_l (in meta), the stored pool buffer stays 1, and downstream features rebuild the same evaluation scale."
    m, h = trained
    assert m.scale_mode == 'category' and all(m.scale(l).item() == 1. for l in m.levels)
    assert sorted(h['category_scales']) == ['brick', 'grass'] and all(v > 0 and v != 1. for s in h['category_scales'].values() for v in s.values())
    m.save(tmp_path/'adp.pt'); m2 = ADPretrain.load(tmp_path/'adp.pt')
    for l in m.levels: assert torch.equal(m2.scale(l), m.scale(l)) and torch.equal(m2.center(l), m.center(l))
    assert m2.meta['category_scales'] == h['category_scales'] and m2.scale_mode == 'category'
    refs, x = torch.rand(3, 3, 64, 64), torch.rand(1, 3, 64, 64)
    a, b = ResidualFeatures(m, refs), ResidualFeatures(m2, refs)
    assert all(torch.equal(a.scales()[l], b.scales()[l]) for l in m.levels) and torch.allclose(a(x)['blocks.4'], b(x)['blocks.4'])
