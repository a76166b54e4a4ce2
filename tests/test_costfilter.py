"CostFilter-AD (adnb.costfilter): cost volume, 3D U-Net blocks, class-aware gamma, losses, training, guard, save/load."
import numpy as np, pytest, torch
import torch.nn.functional as F
from adnb.costfilter import *
from adnb.costfilter import _load
from adnb.datasets import Record, make_embedded, mvtec_records, split

torch.set_num_threads(1)   # tiny tensors: one thread avoids oversubscription on a shared 2-core machine

LITE = ('efficientnet_lite0', LITE0_LAYERS)

# --- cost volume -----------------------------------------------------------------------------------------------------

def _hand_case():
    "One layer, test patches (1,0), (0,1); template patches (1,0), (1,1)/sqrt2 (unnormalised: (3,3)), (-1,0)."
    fs = [torch.tensor([[1., 0.], [0., 1.]]).T.reshape(1, 2, 1, 2)]
    ft = [torch.tensor([[1., 0.], [3., 3.], [-2., 0.]]).T.reshape(1, 2, 1, 3)]
    return fs, ft

def test_cost_volume_hand_values_and_trimming():
    fs, ft = _hand_case(); s = 1 - 2**-.5
    full, mb = cost_volume(fs, ft, D=3)
    torch.testing.assert_close(full[0, :, 0, 0, 0], torch.tensor([0., s, 2.]))     # all costs of patch 0, ascending
    torch.testing.assert_close(full[0, :, 0, 0, 1], torch.tensor([s, 1., 1.]))
    Cv, mb2 = cost_volume(fs, ft, D=2)                                               # top-D trimming keeps the 2 smallest
    torch.testing.assert_close(Cv[0, :, 0, 0, 0], torch.tensor([0., s])) and torch.testing.assert_close(Cv[0, :, 0, 0, 1], torch.tensor([s, 1.]))
    torch.testing.assert_close(mb2, Cv.amin(1)); torch.testing.assert_close(mb2[0, 0, 0], torch.tensor([0., s]))   # M-bar = min
    Ci, _ = cost_volume(fs, ft, D=2, order='index')
    torch.testing.assert_close(Ci[0, :, 0, 0, 1], torch.tensor([1., s]))            # patch 1 keeps template patches 0, 1 in index order
    with pytest.raises(ValueError, match='D=4 exceeds the 3 template patches'): cost_volume(fs, ft, D=4)
    with pytest.raises(ValueError, match="order must be one of"): cost_volume(fs, ft, order='random')

def test_cost_volume_shapes_templates_and_layers():
    "(B, D, L, h, w): N templates merged on the matching axis; per-image templates (B, N, C, h, w) match shared ones."
    g = torch.Generator().manual_seed(0)
    fs = [torch.randn(2, c, 4, 4, generator=g) for c in (3, 5)]
    ft = [torch.randn(3, c, 4, 4, generator=g) for c in (3, 5)]
    Cv, mb = cost_volume(fs, ft)
    assert Cv.shape == (2, 16, 2, 4, 4) and mb.shape == (2, 2, 4, 4)
    ref = 1 - F.normalize(fs[1][1, :, 2, 3], dim=0) @ F.normalize(ft[1].permute(0, 2, 3, 1).reshape(-1, 5), dim=1).T
    torch.testing.assert_close(Cv[1, :, 1, 2, 3], ref.sort().values[:16])           # image 1, layer 1, position (2, 3)
    Cb, _ = cost_volume(fs, [t[None].expand(2, -1, -1, -1, -1) for t in ft])
    torch.testing.assert_close(Cb, Cv)
    assert (Cv >= -1e-6).all() and (Cv <= 2 + 1e-6).all()

def test_on_grid_pools_and_upsamples():
    a, b = on_grid({'a': torch.arange(16.).view(1, 1, 4, 4), 'b': torch.ones(1, 2, 1, 1)}, ['a', 'b'], (2, 2))
    assert a[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]] and b.shape == (1, 2, 2, 2)

# --- network ---------------------------------------------------------------------------------------------------------

def test_unet_block_shapes():
    net = CostFilterNet(16, (3, 5, 7, 9), n_classes=3, width=4)
    Cv, mb, fs = torch.rand(2, 16, 4, 8, 8), torch.rand(2, 4, 8, 8), [torch.rand(2, c, 8, 8) for c in (3, 5, 7, 9)]
    enc, dec, gd = [], [], []
    hooks = [b.register_forward_hook(lambda m, i, o: enc.append(tuple(o.shape))) for b in net.enc]
    hooks += [b.register_forward_hook(lambda m, i, o: dec.append(tuple(o.shape))) for b in net.dec]
    hooks += [b.register_forward_hook(lambda m, i, o: gd.append(tuple(o.shape))) for b in net.guides.values()]
    o = net(Cv, mb, fs)
    for h in hooks: h.remove()
    assert enc == [(2, 4, 4, 8, 8), (2, 8, 4, 4, 4), (2, 8, 4, 2, 2), (2, 16, 4, 1, 1), (2, 24, 4, 1, 1), (2, 32, 4, 1, 1)]
    assert dec == [(2, 24, 4, 1, 1), (2, 16, 4, 1, 1), (2, 8, 4, 2, 2), (2, 8, 4, 4, 4), (2, 4, 4, 8, 8)]
    assert gd == [enc[0], enc[2], enc[3], enc[5]]                                    # guidance keeps each stage's shape
    assert o['logits'].shape == (2, 2, 8, 8) and o['class_logits'].shape == (2, 3)
    torch.testing.assert_close(o['M'], o['logits'].softmax(1)[:, 1])
    assert CostFilterNet(16, (3, 5, 7, 9), width=4, adaptor=False)(Cv, mb, fs)['class_logits'] is None

@pytest.mark.parametrize('guidance,n_streams', [('both', 3), ('spatial', 2), ('matching', 2), ('none', 0)])
def test_guidance_ablation_streams(guidance, n_streams):
    net = CostFilterNet(16, (3, 5), width=4, guidance=guidance)
    if not n_streams: assert len(net.guides) == 0
    else: assert all(gm.out.in_channels == n_streams * gm.out.out_channels for gm in net.guides.values())
    assert net(torch.rand(1, 16, 2, 4, 4), torch.rand(1, 2, 4, 4), [torch.rand(1, 3, 4, 4), torch.rand(1, 5, 4, 4)])['M'].shape == (1, 4, 4)
    with pytest.raises(ValueError, match="guidance must be one of"): CostFilterNet(16, (3,), guidance='sg')

def test_attention_is_residual():
    x = torch.rand(1, 8, 2, 3, 3); sa = SpatialAttention(3); nn_ = torch.nn
    nn_.init.zeros_(sa.conv.weight); nn_.init.constant_(sa.conv.bias, -1e4)
    torch.testing.assert_close(sa(x), x)                                             # sigma -> 0: x passes through
    nn_.init.constant_(sa.conv.bias, 1e4); torch.testing.assert_close(sa(x), 2 * x)   # sigma -> 1: x·1 + x

# --- class-aware gamma and losses ------------------------------------------------------------------------------------

def test_gamma_rules():
    z = torch.tensor([[2., 0.], [0., 1.], [0., .5]]); y = torch.tensor([0, 0, 1])
    sig = torch.sigmoid
    torch.testing.assert_close(focal_gamma(z, y), torch.stack([3 - sig(torch.tensor(2.)), torch.tensor(3.), 3 - sig(torch.tensor(.5))]))
    torch.testing.assert_close(focal_gamma(z, y, 'code'), torch.tensor([1.5, 3.5, 2.5]))
    torch.testing.assert_close(focal_gamma(z, y, 'code', difficult=(1,)), torch.tensor([1.5, 3.5, 3.5]))
    assert focal_gamma(None, y).tolist() == [3., 3., 3.]
    with pytest.raises(ValueError, match="gamma_rule must be one of"): focal_gamma(z, y, 'focal')

def test_losses_on_tiny_tensors():
    lg = torch.tensor([[[[0., 2.]], [[0., 0.]]]])                                    # (1, 2, 1, 2): p_anom = 1/2, 1/(1+e^2)
    m = torch.tensor([[[1., 0.]]])
    p1 = 1 / (1 + np.exp(-2.))                                                       # p_normal of pixel 2
    want = np.mean([-(.5)**2 * np.log(.5), -(1 - p1)**2 * np.log(p1)])
    assert abs(focal_loss(lg, m, torch.tensor([2.]), eps=0).item() - want) < 1e-6
    e = 1e-5; s = lambda p: p * (1 - 2 * e) + 2 * e                                  # the released code's label smoothing
    want = np.mean([-(1 - s(.5))**2 * np.log(s(.5)), -(1 - s(p1))**2 * np.log(s(p1))])
    assert abs(focal_loss(lg, m, torch.tensor([2.])).item() - want) < 1e-7
    M = torch.tensor([[[.5, .5]]]); assert abs(soft_iou_loss(M, m).item() - (1 - 1.5 / 2.5)) < 1e-6   # (I+1)/(P+G-I+1)
    assert ssim_loss(m, m).item() < 1e-6 and ssim_loss(torch.zeros(1, 16, 16), torch.ones(1, 16, 16)).item() > .9
    out = dict(logits=torch.zeros(2, 2, 4, 4), class_logits=torch.tensor([[5., 0.], [0., 5.]]))
    mk = torch.zeros(2, 4, 4); mk[:, :2] = 1; y = torch.tensor([0, 1])
    p, c = loss_terms(out, mk, y), loss_terms(out, mk, y, 'code')
    assert set(p) == {'focal', 'ce', 'softiou', 'ssim', 'total'} and set(c) == {'focal', 'ce', 'softiou', 'ssim', 'mse', 'total'}
    assert abs(c['mse'].item() - .25) < 1e-6 and abs(c['ce'].item() - .5 * F.cross_entropy(out['class_logits'], y).item()) < 1e-6
    assert abs(p['softiou'].item() - .1 * soft_iou_loss(torch.full((2, 4, 4), .5), mk).item()) < 1e-6
    assert abs(p['total'].item() - sum(v.item() for k, v in p.items() if k != 'total')) < 1e-6

# --- synthetic anomalies, model, training, guard -----------------------------------------------------------------------

def test_synthetic_anomaly_stays_in_foreground():
    img = np.zeros((64, 64, 3)); img[16:48, 16:48] = .8
    a, m = synth_anomaly(img, np.random.default_rng(0).random((64, 64, 3)), np.random.default_rng(2))
    assert m.any() and m[:16].sum() == 0 and (a[m == 0] == img[m == 0]).all() and (a[m == 1] != img[m == 1]).any()

@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = make_embedded(tmp_path_factory.mktemp('emb'), size=64, n_train=5, n_good=2, n_defect=1, categories=('brick', 'puck'))
    return {c: mvtec_records(root, c, 'embedded') for c in ('brick', 'puck')}

def _tiny(**kw): return CostFilter(*LITE, weights='random', img_size=64, classes=('brick', 'puck'), width=4, **kw)
TEX = [np.random.default_rng(0).random((64, 64, 3))]

def test_training_deterministic_for_seed(tiny_data):
    train = split(tiny_data['brick'], 'train') + split(tiny_data['puck'], 'train')
    a, b = _tiny(), _tiny()
    ra = fit_costfilter(a, train, epochs=2, textures=TEX, progress=False, seed=3)
    rb = fit_costfilter(b, train, epochs=2, textures=TEX, progress=False, seed=3)
    assert ra['losses'] == rb['losses'] and ra['n_images'] == 10 and ra['epoch'] == 2 and len(ra['lrs']) == 2
    assert all(torch.equal(p, q) for p, q in zip(a.net.state_dict().values(), b.net.state_dict().values()))
    assert fit_costfilter(b, train, epochs=2, textures=TEX, progress=False, seed=4)['losses'] != ra['losses']

def test_guard_refuses_test_split(tiny_data):
    train, test = split(tiny_data['brick'], 'train') + split(tiny_data['puck'], 'train'), split(tiny_data['puck'], 'test')
    m = _tiny()
    with pytest.raises(ProtocolError, match=r"training data: refusing 5 test-split record\(s\)"): fit_costfilter(m, train + test, 1, progress=False)
    with pytest.raises(ProtocolError, match="checkpoint selection: refusing 5 test-split"): fit_costfilter(m, train, 1, select_on=test, progress=False)
    with pytest.raises(ProtocolError, match="threshold: refusing"): pick_threshold([0., 1.], [0, 1], test[:2])
    with pytest.raises(ValueError, match=r"categories \['grass'\] are not among the model's classes"):
        fit_costfilter(m, [Record('x.png', 'grass', 'train', 0)], 1, progress=False)

def test_select_on_validation_keeps_an_epoch(tiny_data):
    "Selection on non-test records is allowed: the kept epoch is the one with the lowest validation loss."
    tr = split(tiny_data['brick'], 'train'); m = CostFilter(*LITE, weights='random', img_size=64, classes=('brick',), width=4, n_templates=2)
    r = fit_costfilter(m, tr[:4], epochs=3, textures=TEX, progress=False, select_on=tr[4:])
    assert len(r['val_losses']) == 3 and r['epoch'] == 1 + int(np.argmin(r['val_losses']))

def test_templates_fixed_and_forward_variants(tiny_data, tmp_path):
    t0, t1 = draw_templates(tiny_data['puck'], 3, 0), draw_templates(tiny_data['puck'], 3, 0)
    assert t0 == t1 and all(r.split == 'train' for r in t0) and t0 != draw_templates(tiny_data['puck'], 3, 1)
    m = _tiny().eval(); m.set_templates('puck', _load(t0, 64).float() / 255)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    o = m(x, 'puck')
    assert o['map'].shape == o['map_raw'].shape == o['map_fused'].shape == (2, 64, 64)
    torch.testing.assert_close(o['score'], o['map'].flatten(1).topk(250, 1).values.mean(1))   # mean of the top 250 (§3.4)
    torch.testing.assert_close(m(x, 'puck')['map'], o['map'])                                 # same templates every call
    assert torch.equal(m(x, 'puck', 'fused')['map'], o['map_fused'])
    p = m.save(tmp_path/'cf.pt'); m2 = CostFilter.load(p)
    assert torch.equal(m2(x, 'puck')['map'], o['map']) and m2.config == m.config and list(m2.templates) == ['puck']
    with pytest.raises(KeyError, match="no templates for category 'brick'"): m(x, 'brick')

def test_vit_paper_path_tiny():
    "DINO ViT-B/8 (random weights), blocks 3/6/9/12 at 64 px: 8x8 grid, D = 64, volume upsampled to 16x16."
    m = CostFilter('dino_vitb8', (3, 6, 9, 12), weights='random', img_size=64, width=4).eval()
    m.set_templates('object', torch.rand(3, 3, 64, 64))
    o = m(torch.rand(1, 3, 64, 64))
    assert m.D == 64 and o['m_bar'].shape == (1, 4, 16, 16) and o['map'].shape == (1, 64, 64)
