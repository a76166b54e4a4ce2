import json, numpy as np, pytest, torch
from PIL import Image
from adnb.fbft import *
from adnb.datasets import transform, mvtec_records, split, make_loader
from adnb.metrics import full_resolution, evaluate
from adnb.run import run_experiment
from conftest import needs_bottle, MVTEC_256

LITE = ('efficientnet_lite0', ('blocks.2', 'blocks.4'))

def _pair_models():
    a = FBFT(*LITE, weights='random'); b = FBFT(*LITE, weights='random'); b.teacher.load_state_dict(a.teacher.state_dict())
    return a, b

def _imgs(): return [dict(image=torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))]

def test_student_shapes_and_layers():
    s = student(40, 112, 112)
    assert s(torch.rand(7, 40)).shape == (7, 112)
    assert [type(m).__name__ for m in s] == ['Linear', 'GELU', 'Linear', 'GELU', 'Linear']

def test_vit_default_width():
    m = FBFT('dino_vitb8', (4, 8), weights='random')
    assert m.s_f[0].out_features == 768 and m.j == 'block4' and m.k == 'block8' and m.infer_dist == 'l2norm'

def test_distances_hand_values():
    a, b = torch.tensor([[3., 4.], [1., 0.], [1., 0.], [1., 1.]]), torch.tensor([[-8., 6.], [5., 0.], [-2., 0.], [0., 3.]])
    cos = torch.tensor([0., 1., -1., 2**-.5])                                          # cos(a, b) by hand
    torch.testing.assert_close(patch_distance(a, b, 'cosine'), 1 - cos)
    torch.testing.assert_close(patch_distance(a, b, 'l2norm'), (2 - 2*cos).sqrt())      # ||a/|a| - b/|b|||^2 = 2 - 2cos
    torch.testing.assert_close(patch_distance(a, b, 'l2'), torch.tensor([125**.5, 4., 3., 5**.5]))
    assert patch_distance(torch.tensor([[3., 4.]]), torch.tensor([[30., 40.]]), 'l2norm').item() == 0.   # norm ignored
    with pytest.raises(ValueError, match=r"one of \('l2norm', 'l2', 'cosine'\), got 'l1'"): patch_distance(a, b, 'l1')

def test_bad_distance_or_cache_named_before_work():
    with pytest.raises(ValueError, match="infer_dist must be one of .* got 'auto'"): FBFT(*LITE, weights='random', infer_dist='auto')
    m = FBFT(*LITE, weights='random')
    with pytest.raises(ValueError, match="train_dist must be one of .* got 'l1'"): fit_fbft(m, _imgs(), 1, train_dist='l1', progress=False)
    with pytest.raises(ValueError, match="cache must be one of .* got 'gpu'"): fit_fbft(m, _imgs(), 1, cache='gpu', progress=False)
    with pytest.raises(ValueError, match='yielded no images'): fit_fbft(m, [], 1, progress=False)

def test_fusion_and_topm():
    dj, dk = torch.tensor([1., 2.]), torch.tensor([3., 4.])
    assert fuse(dj, dk).tolist() == [3., 8.] and fuse(dj, dk, 'sum').tolist() == [4., 6.]
    assert fuse(dj, dk, 'forward').tolist() == [3., 4.] and fuse(dj, dk, 'backward').tolist() == [1., 2.]
    m = torch.zeros(2, 100, 100); m[0, 0, :10] = 1.; m[1, 50, :5] = 2.
    assert top_mean(m).tolist() == [1., 1.]                                   # M = 10: 5 twos + 5 zeros
    valid = torch.zeros(2, 100, 100, dtype=torch.bool); valid[:, :10] = True   # 1000 valid pixels -> M = 1
    assert top_mean(m, valid=valid).tolist() == [1., 0.]

def test_teacher_cache_rows_are_patches():
    "Row r of the cache is patch r of the flattened (image, y, x) grid; the disk cache holds the same values in float16."
    m = FBFT(*LITE, weights='random'); x = _imgs()[0]['image']
    fj, fk = m.pair(x)                                                        # (2, 4, 4, 40), (2, 4, 4, 112)
    Fj, Fk, grid = teacher_cache(m, _imgs(), 'cpu')
    assert grid == (4, 4) and Fj.shape == (32, 40) and Fk.shape == (32, 112)
    assert torch.equal(Fj[21], fj[1, 1, 1]) and torch.equal(Fk, fk.flatten(0, 2))   # 21 = 1·16 + 1·4 + 1
    Dj, Dk, _ = teacher_cache(m, _imgs(), 'disk')
    assert Dj.dtype == np.float16 and np.array_equal(Dk, fk.flatten(0, 2).half().numpy())
    i = torch.tensor([3, 21])
    assert torch.equal(take_rows(Fj, i), fj.flatten(0, 2)[i]) and torch.equal(take_rows(Dj, i), fj.flatten(0, 2)[i].half().float())

def test_training_deterministic_for_seed():
    a, b = _pair_models()
    ra, rb = fit_fbft(a, _imgs(), epochs=3, progress=False, seed=4), fit_fbft(b, _imgs(), epochs=3, progress=False, seed=4, cache='device')
    assert ra['losses'] == rb['losses'] and ra['n_patches'] == 32 and ra['grid'] == (4, 4)
    assert all(torch.equal(p, q) for p, q in zip([*a.s_f.parameters(), *a.s_b.parameters()], [*b.s_f.parameters(), *b.s_b.parameters()]))
    rc = fit_fbft(b, _imgs(), epochs=3, progress=False, seed=5); assert rc['losses'] != ra['losses']
    d1 = fit_fbft(a, _imgs(), epochs=3, progress=False, seed=4, cache='disk'); w1 = a.s_b[4].weight.clone()
    d2 = fit_fbft(a, _imgs(), epochs=3, progress=False, seed=4, cache='disk')
    assert d1['losses'] == d2['losses'] and torch.equal(w1, a.s_b[4].weight)
    assert np.allclose(d1['losses'], ra['losses'], atol=1e-2) and ra['losses'][-1] < ra['losses'][0]

def test_padding_removed_from_maps_and_score():
    x, g = transform(np.zeros((60, 30, 3), np.uint8), 64, square=True)
    v = valid_mask([g], 64)[0]
    assert v[:, :16].sum() == 0 and v[:, 48:].sum() == 0 and v[:, 16:48].all()
    assert full_resolution([torch.rand(64, 64)], [g])[0].shape == (60, 30)

@pytest.mark.slow
def test_vit_1036_end_to_end_tiny():
    "The paper's configuration at tiny scale: DINOv2 ViT-B/14 (random init) at 1036 px -> 74x74 tokens."
    m = FBFT('dinov2_vitb14', (8, 12), weights='random', img_size=1036)
    x, g = transform(np.zeros((900, 700, 3), np.uint8), 1036, square=True)
    r = fit_fbft(m, [dict(image=x[None])], epochs=1, progress=False)
    o = m(x[None], valid_mask([g], 1036))
    assert r['n_patches'] == 74*74 and o['delta_k'].shape == (1, 74, 74) and full_resolution(o['map'], [g])[0].shape == (900, 700)

@pytest.mark.slow
@needs_bottle
def test_fbft_real_bottle():
    "Lite0 blocks 2+4 at 256 px, every 3rd training image, 10 epochs, default l2norm inference; full test set (83 images)."
    recs = mvtec_records(MVTEC_256, 'bottle'); train, test = split(recs, 'train')[::3], split(recs, 'test')
    m = FBFT(*LITE)
    fit_fbft(m, make_loader(train, 256, square=True, batch_size=16), epochs=10, progress=False)
    S, Y, M, K = [], [], [], []
    for b in make_loader(test, 256, square=True, batch_size=16):
        o = m(b['image'], valid_mask(b['geometry'], 256)); S += o['score'].tolist(); Y += b['label'].tolist()
        M += full_resolution(o['map'], b['geometry']); K += [k.numpy() for k in b['mask']]
    r = evaluate(S, Y, M, K, limits=(0.3,))
    assert r['image_auroc'] >= 0.98 and r['pixel_auroc'] >= 0.95 and r['aupro_30'] >= 0.85, r

@pytest.mark.slow
def test_fbft_experiment_distances_tiny(tmp_path):
    "Table 7 path: 2 training x 3 inference distances; students trained once per training distance."
    out = run_experiment('fbft', dict(image_size=64, epochs=1, ablation='distances', n_gallery=2, category='brick', tsne_points=0), reports=tmp_path, progress=False)
    rows = json.loads((out/'results.json').read_text())['results']
    assert [(r['train_dist'], r['infer_dist']) for r in rows] == [(t, i) for t in ('cosine', 'l2') for i in DISTANCES]
    assert len({r['train_s'] for r in rows[:3]}) == 1 and len({r['final_loss'] for r in rows[3:]}) == 1
    assert rows[0]['final_loss'] != rows[3]['final_loss']
    assert all(r['rho_30'] <= r['aupro_30_qmean'] + 1e-12 for r in rows)                    # eq. 5: rho = w(1 - s) <= w

# --- save / load (checkpoint with the teacher's weights identity) -------------------------------------------------------

def _fitted():
    m = FBFT(*LITE, weights='random', infer_dist='cosine'); fit_fbft(m, _imgs(), epochs=2, progress=False); return m

def test_save_load_round_trip_identical_maps(tmp_path):
    a = _fitted(); p = a.save(tmp_path/'sub'/'fbft.pt')
    b = FBFT.load(p); x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    oa, ob = a(x), b(x)
    assert torch.equal(oa['map'], ob['map']) and torch.equal(oa['score'], ob['score'])
    assert b.config == a.config and b.infer_dist == 'cosine' and b.config['hidden'] == 112 and b.config['layers'] == ['blocks.2', 'blocks.4']
    assert FBFT.load(p, infer_dist='l2').infer_dist == 'l2'                                    # saved config, overridable

def test_load_refuses_another_teacher(tmp_path):
    from adnb.backbones import BackboneError
    p = _fitted().save(tmp_path/'fbft.pt')
    with pytest.raises(BackboneError, match=r"was fitted with efficientnet_lite0 weights 'random' seed 0 .* but the backbone now has "
                                            r"efficientnet_lite0 weights 'random' seed 1 .* Reload with load\(.*fbft.pt', weights='random'\)"):
        FBFT.load(p, weights='random:1')
    with pytest.raises(BackboneError, match=r"fitted with efficientnet_lite0 .* now has resnet18 "):
        FBFT.load(p, backbone='resnet18', layers=['layer2', 'layer3'])

# --- the experiment notebook: profiles, folder data without masks, parameter checks ---------------------------------------

def _results(out): return json.loads((out/'results.json').read_text())

@pytest.mark.slow
def test_fbft_experiment_profile_ci(tmp_path):
    "Profile ci on the embedded dataset: 128 px, 5 epochs, every metric incl. quartile AUPRO; rows say what ran."
    out = run_experiment('fbft', dict(profile='ci', category='brick', n_gallery=2, tsne_points=60), reports=tmp_path, progress=False); r = _results(out)
    assert r['profile'] == 'ci' and (r['params']['image_size'], r['params']['epochs']) == (128, 5)
    row = r['results'][0]
    assert {k: row[k] for k in ('method', 'train_dist', 'infer_dist', 'backbone', 'image_size', 'profile')} == dict(
        method='fbft', train_dist='cosine', infer_dist='l2norm', backbone='efficientnet_lite0', image_size=128, profile='ci')
    assert 0 <= row['pixel_auroc'] <= 1 and row['rho_30'] <= row['aupro_30_qmean'] + 1e-12 and row['n_test'] == 15
    assert r['data_checks']['brick']['has_masks'] is True
    nb = (out/'fbft.ipynb').read_text()                                                      # the standard report sections
    assert all(h in nb for h in ('<h3>Gallery: 1 test image(s) per defect type', 'pixel scores · AUROC', '<h3>t-SNE of patch features', '<h3>Threshold explorer'))

def _png(p, a): p.parent.mkdir(parents=True, exist_ok=True); Image.fromarray(a).save(p)

@pytest.mark.slow   # a full experiment run with training (~13 s); the default run keeps PatchCore's folder-without-masks run
def test_fbft_experiment_folder_without_masks(tmp_path):
    "A plain folder dataset without masks: image metrics only, pixel metrics skipped with a printed sentence (no zeros)."
    g = np.random.default_rng(0); img = lambda: (100 + g.integers(0, 20, (64, 64, 3))).astype(np.uint8)
    for i in range(6): _png(tmp_path/'data'/'good'/f'{i}.png', img())
    for i in range(3): _png(tmp_path/'data'/'good_test'/f'{i}.png', img())
    for i in range(3): a = img(); a[20:40, 20:40] = 255; _png(tmp_path/'data'/'bad'/f'{i}.png', a)
    d = {k: str(tmp_path/'data'/v) for k, v in dict(normal_dir='good', test_normal_dir='good_test', abnormal_dir='bad').items()}
    out = run_experiment('fbft', dict(dataset='folder', category='widget', image_size=64, epochs=1, n_gallery=2, **d),
                         reports=tmp_path/'rep', progress=False)
    r = _results(out); row = r['results'][0]
    assert r['profile'] == 'paper' and row['n_train'] == 6 and row['n_test'] == 6
    assert {'image_auroc', 'image_ap', 'image_f1max'} <= set(row) and 0 <= row['image_auroc'] <= 1
    assert not [k for k in row if k.startswith(('pixel_', 'aupro', 'rho'))]
    assert r['data_checks']['widget']['has_masks'] is False
    nb = (out/'fbft.ipynb').read_text()
    assert 'no ground-truth masks, so only image metrics' in nb and 'the quartile AUPRO table and rho are skipped' in nb
    assert '<h3>Threshold explorer' in nb and 'pixel scores · AUROC' not in nb
    assert 'Skipped: the t-SNE of patch features: no patch is anomalous' in nb          # the section says why it is empty

@pytest.mark.parametrize('name,value,msg', [
    ('epochs', 0, 'parameter epochs must be a positive integer (got 0)'),
    ('train_dist', 'l2norm', "parameter train_dist must be one of cosine | l2 (got 'l2norm')"),
    ('layers', 'blocks.2', "parameter layers must be a non-empty list of strings or integers (got 'blocks.2', a str; write ['blocks.2'])")])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main(['run', 'fbft', '-p', name, repr(value) if name == 'epochs' else str(value), '--reports', str(tmp_path/'rep')])
    assert str(e.value) == f'adnb: {msg}' and not (tmp_path/'rep').exists()                 # one line, no report folder, no kernel
