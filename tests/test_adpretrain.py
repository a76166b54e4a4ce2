"ADPretrain (adnb.adpretrain): residuals, projector, losses with known values, guards, determinism, save/load, ViT path."
import math
import numpy as np
import pytest
import torch
from adnb.adpretrain import (nearest_reference, residual, head_count, Projector, projector_cost, angle_loss, norm_loss, level_loss,
                             pseudo_huber, code_norm, norm_loss_per_feature, check_pretrain_categories, check_selection_records, LeakError, ADPretrain, pretrain,
                             ResidualFeatures, FeatureNorm, with_features, grid_labels, pretrain_items, pool_textures, TEXTURE_PHOTOS,
                             scale_mode, AlignedReferences)
from adnb.backbones import weights_sha256, BackboneError
from adnb.datasets import Record, make_embedded, mvtec_records, split, kshot, ADDataset, make_loader
from adnb.padim import PaDiM, fit_padim

sp = lambda d: math.log1p(math.exp(d))   # softplus = −logsig(−d)
con = lambda d: sp(d) * math.exp(d)      # eqs. 3, 5: softplus(d)·e^d

def test_residual_both_matching_rules_by_hand():
    "K = 2 one-position references (3,3), (1.2,.9); queries (1,1), (0,2): L2 takes (1.2,.9) twice, cosine (3,3) twice."
    x = torch.tensor([[1., 1.], [0., 2.]]).T.reshape(1, 2, 1, 2)
    refs = torch.tensor([[3., 3.], [1.2, 0.9]]).reshape(2, 2, 1, 1)
    assert torch.allclose(residual(x, refs, 'l2')[0, :, 0].T, torch.tensor([[-0.2, 0.1], [-1.2, 1.1]]), atol=1e-6)
    assert residual(x, refs, 'cosine')[0, :, 0].T.tolist() == [[-2., -2.], [-3., -1.]]
    q, b = torch.randn(300, 7), torch.randn(500, 7)
    assert torch.equal(nearest_reference(q, b, 'l2', chunk=64), torch.cdist(q, b).argmin(1))     # chunked = plain argmin
    with pytest.raises(ValueError, match="metric must be 'l2' \\(paper\\) or 'cosine' \\(released code\\), got 'dot'"): nearest_reference(q, b, 'dot')
    with pytest.raises(ValueError, match='reference bank is empty'): nearest_reference(q, b[:0])

def test_projector_shapes_heads_and_cost():
    assert [head_count(c) for c in (24, 40, 80, 112, 768)] == [8, 8, 16, 16, 16]
    p = Projector(40, n_ref=32)
    assert p(torch.randn(3, 10, 40)).shape == (3, 10, 40) and p.attn.num_heads == 8 and p.R.shape == (1, 32, 40)
    with pytest.raises(ValueError, match='heads=16 must divide the channel width C=40'): Projector(40, heads=16)
    c = projector_cost([768], [256])
    per = 2048*768 + (768*768 + 768) + (4*768*768 + 4*768) + (768*3072 + 3072) + (3072*192 + 192) + (192*3072 + 3072) + (3072*768 + 768)
    assert c['params'] == per == 10_431_168                                  # the notes' ≈10.4 M per level
    mac = 2048*768*768 + 256*768*768 + 2*2048*768*768 + 2*256*2048*768 + 256*768*768 + 2*256*768*3072 + 2*192*3072
    assert c['flops'] == 2 * mac                                             # matrix products only, 2 FLOPs per MAC

def test_angle_loss_known_values():
    z, m = torch.eye(2), torch.tensor([0, 1])
    assert torch.allclose(angle_loss(z, z, m, tau=1.), torch.full((2,), math.log(2) - 1))
    zz, mm = torch.tensor([[2., 0.], [0., 1.], [0., -1.]]), torch.tensor([0, 1, 1])
    L = angle_loss(zz, zz, mm, tau=0.5)                                      # anchor order: normal anchors, then anomalous
    assert torch.allclose(L, torch.tensor([math.log(4) - 2, math.log(2) - 2, math.log(2) - 2]))
    c = torch.tensor([1., 1.]); zc = torch.tensor([[2., 1.], [1., 2.]])       # centre-shifted: (1,0) and (0,1) again
    assert torch.allclose(angle_loss(zc, zc, m, c, tau=1.), torch.full((2,), math.log(2) - 1))
    assert len(angle_loss(z, z, torch.tensor([1, 1]))) == 0 and len(angle_loss(z, z, m, anchors='both')) == 4
    with pytest.raises(ValueError, match="anchors must be 'view1'"): angle_loss(z, z, m, anchors='all')

def test_norm_loss_known_values_paper():
    z, m = torch.tensor([[0., 0.], [0., 0.], [3., 0.], [0.6, 0.8]]), torch.tensor([0, 1, 1, 0])
    n4 = math.sqrt(2) - 1                                                    # ‖(0.6, 0.8)‖ = 1: pseudo-Huber √2 − 1 ≈ 0.414 (the paper's r ≈ 0.4)
    want = [con(-0.4), con(1.15), 0., con(n4 - 0.4)]
    assert np.allclose(norm_loss_per_feature(z, m).tolist(), want, atol=1e-6)
    assert abs(norm_loss(z, m).item() - sum(want) / 4) < 1e-6 and norm_loss(z, m).dtype == torch.float32
    assert abs(pseudo_huber(torch.tensor([0.6, 0.8])).item() - n4) < 1e-7
    with pytest.raises(ValueError, match="variant must be 'paper' or 'code'"): norm_loss(z, m, variant='x')

def test_norm_loss_code_each_hinge_over_its_active_subset():
    "Compressed norms n chosen by hand (‖x‖ = (n+1)² − 1): r = min(0.9·0.5, 0.4) = 0.4; each hinge is a mean over its own violators."
    n = torch.tensor([0.5, 1., 3., 0.5, 1., 0.2, 0.398]); m = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    z = torch.stack([(n + 1) ** 2 - 1, torch.zeros(7)], 1)                  # two channels, the norm in the first
    assert torch.allclose(code_norm(z), n, atol=1e-6)
    P = norm_loss(z, m, variant='code', parts=True)
    assert abs(P['radius'] - 0.4) < 1e-6 and (P['n_anomalous'], P['n_normal'], P['n_normal_low']) == (2, 2, 1)
    assert abs(P['anomalous'].item() - (con(0.65) + con(0.15)) / 2) < 1e-4    # n = 3 lies beyond r + 0.75 = 1.15: not averaged in
    assert abs(P['normal'].item() - (con(0.1) + con(0.6)) / 2) < 1e-4
    assert abs(P['normal_low'].item() - con(0.396 - 0.2)) < 1e-4             # below 0.99 r; n = 0.398 sits in the band: 0
    assert abs(norm_loss(z, m, variant='code').item() - (P['anomalous'] + P['normal'] + P['normal_low']).item()) < 1e-6
    Q = norm_loss(z * torch.tensor([[1.], [0.], [1.], [1.], [1.], [1.], [1.]]), m, variant='code', parts=True)   # an anomalous n = 0
    assert Q['radius'] == 0. and abs(Q['anomalous'].item() - (con(0.75) + con(0.25)) / 2) < 1e-4
    zr = z.clone().requires_grad_(); norm_loss(zr, m, variant='code').backward()   # detached e^d: d/dn = sigmoid(d)·e^d only
    g = zr.grad[3, 0].item(); d = 0.1; dn_dx = 1 / (2 * (0.5 + 1))
    assert abs(g - 0.5 * (1 / (1 + math.exp(-d))) * math.exp(d) * dn_dx) < 1e-4
    for variant in ('paper', 'code'):                                        # no anomalous feature: the push-out term is 0, r stays 0.4
        assert norm_loss(z[3:], m[3:], variant=variant, parts=True)['anomalous'].item() == 0.

def test_grid_labels_share_of_defect_pixels():
    mk = torch.zeros(14, 14); mk[:6, :6] = 1                                 # 36 > 32 of 196 pixels
    assert grid_labels(mk, (1, 1)).item() == 1
    mk[:, 5] = 0; assert grid_labels(mk, (1, 1)).item() == 0                 # 30 pixels
    assert grid_labels(torch.ones(8, 8).triu(), (2, 2)).tolist() == [1, 1, 0, 1]

def test_leak_and_selection_guards():
    assert check_pretrain_categories(['embedded/brick', 'grass'], 'bottle') == ['embedded/brick', 'grass']
    with pytest.raises(LeakError, match=r"pretraining categories \['mvtec_ad/Bottle'\] include the evaluation category \['bottle'\]"):
        check_pretrain_categories(['embedded/brick', 'mvtec_ad/Bottle'], 'bottle')
    with pytest.raises(LeakError, match='selecting epochs or checkpoints on test data is refused'):
        check_selection_records([Record('a.png', 'brick', 'train', 0), Record('b.png', 'brick', 'test', 1)])

def test_leave_one_category_out_pool_refused_when_it_holds_the_evaluation_category():
    "The LOCO pool of bottle is the other real categories; the same pool evaluated on transistor (or with bottle added) is refused."
    pool = ['mvtec_ad/transistor', 'mvtec_ad/toothbrush', 'magnetic_tile/tile', 'folder/screw']
    assert check_pretrain_categories(pool, 'bottle') == pool
    for ev, p in (('transistor', pool), ('bottle', pool + ['mvtec_ad/bottle'])):
        with pytest.raises(LeakError, match=f"include the evaluation category \\['{ev}'\\]"): check_pretrain_categories(p, ev)

def test_pool_textures_never_a_pool_photo():
    "Embedded brick/grass/gravel are scikit-image's photos and puck lies on gravel: they are dropped from a pool of them; real categories keep all eight."
    names, ims = pool_textures(['embedded/brick', 'puck'], size=16)
    assert names == ['grass', 'rocket', 'coffee', 'chelsea', 'astronaut', 'immunohistochemistry'] and len(ims) == 6 and ims[0].shape == (16, 16, 3)
    assert pool_textures(['bottle', 'transistor', 'toothbrush', 'tile', 'screw'], size=16)[0] == list(TEXTURE_PHOTOS)
    assert pool_textures(['brick', 'grass', 'gravel', 'puck'], size=16)[0] == ['rocket', 'coffee', 'chelsea', 'astronaut', 'immunohistochemistry']

def test_scale_rule_names():
    assert [scale_mode(s) for s in ('category', 'pool', 'median', 'none')] == ['category', 'pool', 'pool', 'none']
    with pytest.raises(ValueError, match="scale must be 'category'.*got 'mean'"): scale_mode('mean')

def test_category_scale_from_the_evaluation_normals_by_hand():
    "s_l = median residual norm of the category's own normals against its references; images that are a reference are skipped; without images, each reference against the others."
    m = ADPretrain(weights='random', n_ref=8); ims = torch.rand(7, 3, 32, 32)
    rf = ResidualFeatures(m, ims[:3], project=False, scale_images=ims)          # images 0-2 are the references: skipped
    R = m.reference_features(ims)
    for l in m.levels:
        want = residual(R[l][3:], R[l][:3]).norm(dim=1).median()
        assert torch.allclose(rf.scales()[l], want) and torch.allclose(rf(ims[3:5])[l], residual(R[l][3:5], R[l][:3]) / want, atol=1e-5)
        loo = torch.cat([residual(R[l][i:i+1], R[l][[j for j in range(3) if j != i]]).norm(dim=1).flatten() for i in range(3)]).median()
        assert torch.allclose(ResidualFeatures(m, ims[:3]).scales()[l], loo)
    assert float(ResidualFeatures(m, ims[:3], scale='none').scales()['blocks.2']) == 1.
    with pytest.raises(ValueError, match='every scale image is one of the references'): ResidualFeatures(m, ims[:3], scale_images=ims[:2])

def test_old_pool_scaled_checkpoint_keeps_its_frozen_scale(tmp_path):
    "A checkpoint whose meta says scale 'median' (the earlier name) is read as 'pool': downstream uses its stored buffers, not the category's."
    m = ADPretrain(weights='random', n_ref=8); m.meta['scale'] = 'median'
    for l, v in zip(m.levels, (3., 5.)): m.scale(l).fill_(v)
    m.save(tmp_path/'old.pt'); m2 = ADPretrain.load(tmp_path/'old.pt')
    assert m2.scale_mode == 'pool' and {l: float(v) for l, v in ResidualFeatures(m2, torch.rand(2, 3, 32, 32)).scales().items()} == {'blocks.2': 3., 'blocks.4': 5.}

def test_aligned_references_by_hand():
    "App. C with S = 1, N_c = 2: D_align is the largest position-wise KL(h_i || h) over the image; the image itself (D = 0) is never its own reference."
    g = AlignedReferences(weights='random', S=1, n_clusters=2, k=2, seed=0)
    gen = torch.Generator().manual_seed(0)                                    # fixed draws: the test never depends on other tests' RNG use
    ims = torch.rand(4, 3, 32, 32, generator=gen); g.fit(ims)
    q = ims[:1] + 0.05 * torch.rand(1, 3, 32, 32, generator=gen)               # changed enough to be above topk's 'itself' cut (1e-3 x median D)
    H = g.H; hq = g.histograms(g._feats(q))[0]
    want = (H * (H.log() - hq.log())).sum(-1).max(1).values                   # KL per position, max over the one cell
    assert torch.allclose(g.distances(q)[0], want, rtol=1e-3, atol=1e-6)
    assert g.topk(q)[0].tolist()[0] == 0                                       # the slightly changed image 0 aligns with image 0
    assert 0 not in g.topk(ims[:1])[0].tolist() and len(g.topk(ims[:1], k=5)[0]) == 3   # itself excluded; only 3 others exist
    fa = ResidualFeatures(ADPretrain(weights='random', n_ref=8), ims, project=False, align=g, scale='none')
    assert fa(ims[:1])['blocks.2'].abs().amax() > 0                            # a training image never gets zero residuals
    with pytest.raises(ValueError, match='align was fitted on 4 images but 2 references'): ResidualFeatures(fa.model, ims[:2], align=g)

@pytest.fixture(scope='module')
def emb(tmp_path_factory):
    return make_embedded(tmp_path_factory.mktemp('emb'), size=64, n_train=6, n_good=2, n_defect=1, categories=('brick', 'puck'))

def _tiny(root, seed=42, **kw):
    m = ADPretrain(weights='random', n_ref=8)
    h = pretrain(m, mvtec_records(root, 'brick', 'embedded'), 'puck', epochs=1, batch_size=6, image_size=32, crop=None,
                 max_steps=2, seed=seed, progress=False, **kw)
    return m, h

def test_pretrain_refuses_leak_and_test_selection_before_work(emb):
    m = ADPretrain(weights='random', n_ref=8); recs = mvtec_records(emb, 'brick', 'embedded')
    with pytest.raises(LeakError, match=r"include the evaluation category \['brick'\]"): pretrain(m, recs, 'brick')
    with pytest.raises(LeakError, match='selecting epochs or checkpoints on test data is refused'):
        pretrain(m, recs, 'puck', keep='best_val', val_records=split(recs, 'test'))
    with pytest.raises(ValueError, match="keep must be 'last' or 'best_val'"): pretrain(m, recs, 'puck', keep='best')
    assert m.meta['epochs'] == 0                                             # nothing trained

def test_pretraining_items_and_deterministic_training(emb):
    recs = mvtec_records(emb, 'brick', 'embedded')
    kinds = [i['kind'] for i in pretrain_items(recs)]
    assert kinds.count('normal') == 6 and kinds.count('real') == 3 and kinds.count('cutpaste') == 3 and kinds.count('perlin') == 3
    a, h = _tiny(emb); b, _ = _tiny(emb); c, _ = _tiny(emb, seed=1)
    assert h['steps'] == 2 and [e['epoch'] for e in h['history']] == [0, 1] and math.isfinite(h['history'][1]['loss'])   # epoch 0: at init
    assert weights_sha256(a.projectors) == weights_sha256(b.projectors) != weights_sha256(c.projectors)
    assert weights_sha256(a.projectors) != weights_sha256(ADPretrain(weights='random', n_ref=8).projectors)   # it did train
    assert a.meta['pretrain_categories'] == ['brick'] and a.meta['epochs'] == 1

def test_best_val_selects_on_a_validation_split(emb):
    recs = mvtec_records(emb, 'brick', 'embedded')
    val = [r for r in split(recs, 'test') if r.label]; val = [Record(r.image, r.category, 'val', 1, r.defect, r.masks) for r in val]
    m, h = _tiny(emb, keep='best_val', val_records=val)
    assert all(math.isfinite(e['val_loss']) for e in h['history']) and m.meta['keep'] == 'best_val'

def test_save_load_and_downstream_features(emb, tmp_path):
    m, _ = _tiny(emb)
    m.save(tmp_path/'adp.pt'); m2 = ADPretrain.load(tmp_path/'adp.pt')
    assert weights_sha256(m2.projectors) == weights_sha256(m.projectors) and m2.meta['pretrain_categories'] == ['brick']
    with pytest.raises(BackboneError, match='Reload with load\\('): ADPretrain.load(tmp_path/'adp.pt', weights='random:3')
    puck = mvtec_records(emb, 'puck', 'embedded'); tr = split(kshot(puck, 4, 0), 'train')
    refs = torch.stack([ADDataset(tr, 32)[i]['image'] for i in range(4)])
    rf, rf2 = ResidualFeatures(m, refs), ResidualFeatures(m2, refs)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(rf(x)['blocks.4'], rf2(x)['blocks.4']) and rf.weights_id['sha256'] == rf2.weights_id['sha256']
    pd = with_features(PaDiM(weights='random', layers=('blocks.2', 'blocks.4'), d=20), rf)
    fit_padim(pd, make_loader(split(puck, 'train'), 32, batch_size=6))
    assert pd(x)['map'].shape == (2, 32, 32)
    with pytest.raises(ValueError, match='feature channels differ'): with_features(PaDiM(weights='random', d=20), rf)  # 3 default layers
    fn = FeatureNorm(rf, sigma=0)(x)
    want = torch.stack([torch.nn.functional.interpolate(f.norm(dim=1)[:, None], size=(32, 32), mode='bilinear')[:, 0] for f in rf(x).values()]).mean(0)
    assert torch.allclose(fn['map'], want, atol=1e-5) and torch.allclose(fn['score'], want.flatten(1).max(1).values)

@pytest.mark.slow
def test_vit_path_end_to_end(emb):
    "DINOv2-B blocks 3/6/9/12 at 224 px, random weights: one pretraining step, PatchCore on the pretrained features."
    from adnb.patchcore import PatchCore, fit_patchcore
    m = ADPretrain('dinov2_vitb14', (3, 6, 9, 12), weights='random', img_size=224, n_ref=2048)
    assert {k: p.attn.num_heads for k, p in m.projectors.items()} == {f'block{b}': 16 for b in (3, 6, 9, 12)}
    h = pretrain(m, mvtec_records(emb, 'brick', 'embedded'), 'puck', epochs=1, batch_size=4, image_size=224, crop=None, max_steps=1,
                 max_anchors=256, progress=False)
    assert h['steps'] == 1 and math.isfinite(h['history'][1]['loss'])
    puck = mvtec_records(emb, 'puck', 'embedded'); tr = split(kshot(puck, 2, 0), 'train')
    rf = ResidualFeatures(m, torch.stack([ADDataset(tr, 224)[i]['image'] for i in range(2)]))
    pc = with_features(PatchCore('dinov2_vitb14', (3, 6, 9, 12), 'random', coreset_ratio=0.05), rf)
    fit_patchcore(pc, make_loader(tr, 224, batch_size=2), progress=False)
    out = pc(torch.rand(1, 3, 224, 224))
    assert out['map'].shape == (1, 224, 224) and pc.memory_bank.shape[1] == 4 * 768
