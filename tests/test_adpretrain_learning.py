"ADPretrain learns: on a tiny case the objective falls, the held-out norm-AUROC does not get worse, the push-out term is active after scaling, and the scale buffer round-trips."
import math
import numpy as np
import pytest
import torch
from adnb.adpretrain import ADPretrain, pretrain, norm_loss, _Data, _batch, _level_tokens, compute_stats, pretrain_items, val_split
from adnb.datasets import make_embedded, mvtec_records, texture_images

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
    "Stated fraction: the objective on the fixed held-out set ends >= 4 % below its value at init (measured: 5.2 %); the mean training loss of the last 3 epochs is below that of the first 3; the held-out norm-AUROC is not below its value at init."
    m, h = trained; H = h['history']
    assert H[0]['epoch'] == 0 and H[0]['loss'] is None and len(H) == 7
    assert H[-1]['val_loss'] <= 0.96 * H[0]['val_loss'], [e['val_loss'] for e in H]
    tr = [e['loss'] for e in H[1:]]
    assert np.mean(tr[-3:]) < np.mean(tr[:3]), tr
    assert H[-1]['val_auroc'] >= H[0]['val_auroc'], [e['val_auroc'] for e in H]

def test_push_out_term_is_active_after_scaling(emb):
    "With residuals divided by the median normal norm, some anomalous features lie inside r + 0.75 (the term is non-zero); unscaled features of a trained backbone would not."
    m = ADPretrain(weights='random', n_ref=16); recs, _ = val_split(_recs(emb), 0.2, 0); items = pretrain_items(recs)
    data = _Data(m, items, 64, None, 'cpu', 16); data.textures = texture_images(size=64)
    sc, ce = compute_stats(m, data)
    for l in m.levels: m.scale(l).copy_(sc[l]); m.center(l).copy_(ce[l])
    rng = np.random.default_rng(0); batch = [i for i in items if i['kind'] != 'normal'][:8] + [i for i in items if i['kind'] == 'normal'][:8]
    x1, x2, ms, refs, _ = _batch(m, data, batch, rng, (4,), 'cpu', 32/196)
    with torch.no_grad(): f = (m.features(x1), m.features(x2))
    for l in m.levels:
        z1, _, lab = _level_tokens(m, l, *f, ms, refs, 32/196, project=False)
        normal_norms = z1[lab == 0].norm(dim=1)
        assert 0.5 < normal_norms.median().item() < 2.                        # the scale puts normal residuals near norm 1
        P = norm_loss(z1, lab, variant='code', parts=True)
        assert lab.sum() > 0 and P['n_anomalous'] > 0 and P['anomalous'].item() > 0, (l, P)

def test_scale_buffer_round_trips_through_save_load(trained, tmp_path):
    m, h = trained
    assert all(abs(m.scale(l).item() - h['scales'][l]) < 1e-6 and h['scales'][l] != 1. for l in m.levels)
    m.save(tmp_path/'adp.pt'); m2 = ADPretrain.load(tmp_path/'adp.pt')
    for l in m.levels: assert torch.equal(m2.scale(l), m.scale(l)) and torch.equal(m2.center(l), m.center(l))
    assert m2.meta['scales'] == h['scales']
    rf = m.reference_features(torch.rand(2, 3, 64, 64)); x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(m2.embed(x, rf)['blocks.4'], m.embed(x, rf)['blocks.4'])
