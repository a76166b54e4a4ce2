import json
from pathlib import Path
import numpy as np, pytest, torch
import torch.nn.functional as F
from adnb.anomalydino import *
from adnb.backbones import BackboneError
from adnb.datasets import Record, DatasetError, kshot, folder_records, split
from adnb.scoring import score_split
from adnb.metrics import evaluate
from conftest import needs_bottle, MVTEC_256, squares_folder

ROOT = Path(__file__).resolve().parents[1]
G = lambda s: torch.Generator().manual_seed(s)

@pytest.fixture(scope='module')
def refs(): return torch.rand(3, 3, 64, 64, generator=G(0))

@pytest.fixture(scope='module')
def _base(): return AnomalyDINO(weights='random')      # built once (backbone builds dominate this file's runtime)

@pytest.fixture
def rnd(_base):
    "A fresh copy of the random-weights Lite0 model (seed 0), empty bank."
    import copy; return copy.deepcopy(_base)

# ---------------------------------------------------------------- 1-NN cosine, score, map
def test_nn_cosine_hand_case():
    bank = F.normalize(torch.tensor([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]), dim=1)
    q = F.normalize(torch.tensor([[3., 4., 0.], [0., 0., -1.], [1., 1., 1.]]), dim=1)
    for use_faiss in (True, False):
        d, i = nn_cosine(bank, q, use_faiss=use_faiss)
        # (3,4,0)/5 is nearest to e2 (cos 0.8); -e3 is orthogonal to e1, e2 (cos 0); (1,1,1)/sqrt3: cos 1/sqrt3 to each, first index
        assert torch.allclose(d, torch.tensor([0.2, 1.0, 1 - 3**-.5]), atol=1e-6) and i.tolist() == [1, 0, 0]

def test_nn_cosine_faiss_matches_bruteforce():
    b, q = F.normalize(torch.randn(700, 24, generator=G(1)), dim=1), F.normalize(torch.randn(90, 24, generator=G(2)), dim=1)
    d1, i1 = nn_cosine(b, q); d2, i2 = nn_cosine(b, q, use_faiss=False)
    ref = 1 - (q @ b.T).max(1).values
    assert torch.equal(i1, i2) and torch.allclose(d1, ref, atol=1e-5) and torch.allclose(d2, ref, atol=1e-6)
    assert torch.equal(nn_cosine(b, q, index=flat_ip_index(b))[1], i1)

def test_nn_cosine_errors():
    with pytest.raises(ValueError, match='reference bank is empty'): nn_cosine(torch.zeros(0, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='reference patches have 4 dims, queries 5'): nn_cosine(torch.ones(3, 4), torch.ones(2, 5))

def test_top_frac_mean_is_authors_mean_top1p():
    d = torch.arange(1024.)[None]                 # 32x32 grid: floor(10.24) = 10 largest: 1014..1023
    assert top_frac_mean(d).item() == 1018.5
    assert top_frac_mean(torch.arange(256.)[None]).item() == 254.5    # floor(2.56) = 2
    assert top_frac_mean(torch.tensor([[5., 1., 2.]])).item() == 5.   # floor(0.03) = 0 -> the maximum
    assert top_frac_mean(torch.arange(10.)[None], 0.5).item() == 7.     # top 5 of 0..9

def test_distance_map_upsamples_then_smooths():
    from adnb.metrics import gaussian_blur
    d = torch.zeros(1, 4, 4); d[0, 1, 1] = 1.
    m0 = distance_map(d, (32, 32), sigma=0)
    assert torch.equal(m0, F.interpolate(d[:, None], size=(32, 32), mode='bilinear', align_corners=False)[:, 0])
    assert m0.shape == (1, 32, 32) and m0[0, :, 20:].abs().max() == 0 and m0[0, 11, 11] > 0.8    # the peak cell's pixels
    m4 = distance_map(d, (32, 32))
    assert torch.equal(m4, gaussian_blur(m0, 4.)) and m4.max() < 0.5 * m0.max()

# ---------------------------------------------------------------- model
def test_shapes_grids_and_unit_norm(refs, rnd):
    ad = rnd
    assert ad.patch_features(refs).shape == (3, 8, 8, 152)
    assert torch.allclose(ad.patch_features(refs).norm(dim=-1), torch.ones(3, 8, 8), atol=1e-5)
    ad.grid = 'coarsest'; assert ad.patch_features(refs).shape == (3, 4, 4, 152)
    ad.grid = 6; assert ad.patch_features(refs).shape == (3, 6, 6, 152)
    assert AnomalyDINO(weights='random', layers=['blocks.4']).patch_features(refs).shape == (3, 4, 4, 112)

def test_cosine_is_mean_of_per_stage_cosines(refs):
    "Each stage is normalised before concatenation: the cosine of the concatenation is the mean of the stages' cosines."
    ad = AnomalyDINO(weights='random')
    f = ad.features(refs[:2]); a = F.normalize(f['blocks.2'], dim=1); b = F.normalize(F.interpolate(f['blocks.4'], size=(8, 8), mode='bilinear'), dim=1)
    e = ad.patch_features(refs[:2])
    cos = (e[0] * e[1]).sum(-1); per = 0.5 * ((a[0] * a[1]).sum(0) + (b[0] * b[1]).sum(0))
    assert torch.allclose(cos, per, atol=1e-5)

def test_fit_and_forward(refs, rnd):
    ad = rnd
    with pytest.raises(RuntimeError, match='reference bank is empty: call fit_anomalydino'): ad(refs)
    info = fit_anomalydino(ad, refs)
    assert (info['n_images'], info['n_rotations'], info['bank_size'], info['dim'], info['grid']) == (3, 1, 192, 152, [8, 8])
    x = torch.cat([refs[1:2], torch.rand(2, 3, 64, 64, generator=G(5))])
    o = ad(x, return_embeddings=True)
    assert o['score'].shape == (3,) and o['map'].shape == (3, 64, 64) and o['patch_scores'].shape == (3, 8, 8)
    assert o['embeddings'].shape == (3, 8, 8, 152) and 'foreground' not in o
    assert torch.allclose(o['patch_scores'][0], torch.zeros(8, 8), atol=1e-5)            # a reference matches itself
    assert set(o['nn_index'][0].flatten().tolist()) == set(range(64, 128))                 # ... patch by patch, image 1's rows
    assert torch.allclose(o['score'], top_frac_mean(o['patch_scores'].flatten(1)))          # 64 patches: floor(0.64) = 0 -> max
    assert torch.allclose(o['score'], o['patch_scores'].flatten(1).max(1).values)
    assert torch.allclose(o['map'], distance_map(o['patch_scores'], (64, 64), 4.))
    b = ad.reference_bank; d = 1 - (o['embeddings'][1].reshape(-1, 152) @ b.T).max(1).values    # brute force 1-NN
    assert torch.allclose(o['patch_scores'][1].flatten(), d, atol=1e-5)

def test_index_follows_the_bank(refs, rnd):
    "A refit with a bank of the same shape, or an in-place change, must not reuse the old faiss index."
    fit_anomalydino(rnd, refs[:1]); assert rnd(refs[:1])['score'].item() < 1e-5
    fit_anomalydino(rnd, refs[1:2]); assert rnd(refs[:1])['score'].item() > 1e-3 and rnd(refs[1:2])['score'].item() < 1e-5
    rnd.reference_bank.mul_(-1); assert rnd(refs[1:2])['score'].item() > 1.     # every patch now opposite its match

def test_rotations_count_and_match(refs, rnd):
    import copy; ad = rnd
    info = fit_anomalydino(ad, refs[:2], rotations=True)
    assert info['n_rotations'] == 8 and info['bank_size'] == 2 * 8 * 64 and ad.meta['rotations'] == list(ROTATIONS)
    o = ad(rotate(refs[:1], 270))                     # a rotated copy is in the bank: every patch matches exactly
    assert o['patch_scores'].abs().max() < 1e-5
    plain = copy.deepcopy(rnd); fit_anomalydino(plain, refs[:2])
    assert plain(rotate(refs[:1], 270))['score'] > 1e-3
    assert fit_anomalydino(ad, refs[:1], rotations=(0, 180))['bank_size'] == 128

def test_rotate_direction_and_size():
    x = torch.zeros(1, 3, 9, 9); x[..., 4, 8] = 1.   # right of centre
    assert rotate(x, 90)[0, 0, 0, 4] == 1. and rotate(x, 180)[0, 0, 4, 0] == 1. and rotate(x, 270)[0, 0, 8, 4] == 1.
    y = torch.rand(1, 3, 8, 12, generator=G(3))
    assert rotate(y, 45).shape == y.shape and rotate(y, 90).shape == y.shape
    assert torch.allclose(rotate(rotate(y, 180), 180), y, atol=1e-5)    # non-square: general path, 180 twice is identity

# ---------------------------------------------------------------- masking
def test_pca_mask_toy_image():
    "A bright disc on a dark background as a token grid: the disc (grown by one patch) is foreground, whichever PC1 sign."
    yy, xx = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')
    disc = ((yy - 7.5)**2 + (xx - 7.5)**2) < 25           # 80 cells, 69 of the 81 centre cells
    t = torch.zeros(16, 16, 3); t[disc] = torch.tensor([4., -4., 2.]); t += 0.01 * torch.randn(16, 16, 3, generator=G(0))
    grown = F.max_pool2d(disc.float()[None, None], 3, 1, 1)[0, 0] > 0
    assert torch.equal(pca_mask(t, threshold=0.), grown) and torch.equal(pca_mask(-t, threshold=0.), grown)
    assert pca_mask(t, threshold=100.).sum() == 0          # nothing clears the threshold, whichever sign
    small = ((yy - 7.5)**2 + (xx - 7.5)**2) < 4; ts = torch.zeros(16, 16, 3); ts[small] = 5.
    assert pca_mask(ts, 0.).sum() > 200                     # the authors' rule: a small object (< 35 % of the centre) flips to the background

def test_masking_in_forward_and_references(refs, rnd):
    ad = rnd
    fit_anomalydino(ad, refs, masking=True)
    assert ad.masking and ad.config['masking'] and ad.mask_threshold == 0.
    x = refs[:1].clone(); x[..., :, :32] = 0.5
    o = ad(x); raw = ad.raw_features(x)
    assert torch.equal(o['foreground'][0], pca_mask(raw[0], 0.)) and (o['patch_scores'][~o['foreground']] == 0).all()
    fg = ad.foreground(ad.raw_features(refs))
    info = fit_anomalydino(ad, refs, mask_references=True)
    assert info['bank_size'] == int(fg.sum()) < 192 and ad.meta['mask_references']

# ---------------------------------------------------------------- determinism, save/load, errors
def test_seeded_determinism(refs, rnd):
    a, b, c = rnd, AnomalyDINO(weights='random', seed=0), AnomalyDINO(weights='random', seed=1)
    for m in (a, b, c): fit_anomalydino(m, refs[:2], rotations=(0, 45))
    x = torch.rand(2, 3, 64, 64, generator=G(9))
    assert torch.equal(a.reference_bank, b.reference_bank) and torch.equal(a(x)['score'], b(x)['score'])
    assert not torch.equal(a.reference_bank, c.reference_bank)

def test_save_load_round_trip(refs, tmp_path):
    ad = AnomalyDINO(weights='random', masking=True, top_frac=0.05, grid='coarsest'); fit_anomalydino(ad, refs, rotations=(0, 90))
    ad.meta['image_size'] = 64; ad.save(tmp_path/'ad.pt')
    ad2 = AnomalyDINO.load(tmp_path/'ad.pt'); x = torch.rand(2, 3, 64, 64, generator=G(4))
    o1, o2 = ad(x), ad2(x)
    assert torch.equal(o1['score'], o2['score']) and torch.equal(o1['map'], o2['map']) and torch.equal(ad2.reference_bank, ad.reference_bank)
    assert (ad2.masking, ad2.top_frac, ad2.grid, ad2.meta['rotations'], ad2.meta['image_size']) == (True, 0.05, 'coarsest', [0, 90], 64)
    with pytest.raises(BackboneError, match=r"Reload with load\("): AnomalyDINO.load(tmp_path/'ad.pt', weights='random:3')
    torch.save({'x': 1}, tmp_path/'bad.pt')
    with pytest.raises(BackboneError, match='was not written by save_checkpoint'): AnomalyDINO.load(tmp_path/'bad.pt')
    ad.reference_bank = torch.empty(0, 0)
    with pytest.raises(RuntimeError, match='nothing to save'): ad.save(tmp_path/'e.pt')

def test_constructor_errors():
    for kw, msg in [(dict(top_frac=0), r'top_frac must be in \(0, 1\]'), (dict(top_frac=1.5), 'top_frac must be'),
                    (dict(grid='mid'), "grid must be 'finest', 'coarsest' or a positive int, got 'mid'"),
                    (dict(morphology='cv2'), "morphology must be 'grid' or 'raster'"), (dict(sigma=-1), 'sigma must be >= 0')]:
        with pytest.raises(ValueError, match=msg): AnomalyDINO(weights='random', **kw)

def test_fit_without_images(rnd):
    with pytest.raises(ValueError, match='got no reference images'): fit_anomalydino(rnd, [])

# ---------------------------------------------------------------- references, presets
def _recs(n=10):
    return [Record(f'/d/train/good/{i:03d}.png', 'c', 'train', 0) for i in reversed(range(n))] + [Record('/d/test/a/0.png', 'c', 'test', 1)]

def test_reference_records_protocols():
    recs = _recs(); st = lambda rs: [int(Path(r.image).stem) for r in rs]
    assert st(reference_records(recs, 3)) == [0, 1, 2] and st(reference_records(recs, 3, seed=2)) == [6, 7, 8]
    assert st(reference_records(recs, 4, seed=1, protocol='authors')) == [4, 5, 6, 7]
    assert reference_records(recs, 3, seed=5, protocol='kshot') == [r for r in kshot(recs, 3, 5) if r.split == 'train']
    assert st(reference_records(recs, None)) == list(range(10)) and all(r.split == 'train' for r in reference_records(recs, None))
    with pytest.raises(DatasetError, match=r"\[9:12\], but the train split has 10 images: use 0 <= seed <= 2 for k=3"): reference_records(recs, 3, seed=3)
    with pytest.raises(ValueError, match='k must be a positive int or None'): reference_records(recs, 0)
    with pytest.raises(ValueError, match="protocol must be one of"): reference_records(recs, 1, protocol='random')
    with pytest.raises(DatasetError, match='no train records'): reference_records(recs[-1:], 1)

def test_authors_presets():
    assert authors_preset('bottle') == dict(masking=False, rotations=True)                 # 'agnostic' default
    assert authors_preset('hazelnut', 'informed') == dict(masking=True, rotations=True)
    assert authors_preset('capsule', 'informed') == dict(masking=True, rotations=False)
    assert authors_preset('pill', 'agnostic_no_mask') == dict(masking=False, rotations=True)
    assert authors_preset('pcb1', 'masking_only', 'visa') == dict(masking=True, rotations=False)
    with pytest.raises(ValueError, match="the authors' tables cover"): authors_preset('bottle', dataset='btad')

# ---------------------------------------------------------------- paper ViT path, real Lite0 on a folder dataset
def _vit_end_to_end(size):
    vit = AnomalyDINO('dinov2_vits14', weights='random', img_size=size); g = size // 14
    r = torch.rand(1, 3, size, size, generator=G(0))
    info = fit_anomalydino(vit, r, masking=True)
    assert info['grid'] == [g, g] and vit.reference_bank.shape == (g * g, 384) and vit.mask_threshold == 10.
    o = vit(torch.cat([r, torch.rand(1, 3, size, size, generator=G(1))]))
    assert o['patch_scores'].shape == (2, g, g) and o['patch_scores'][0].abs().max() < 1e-4 and o['foreground'].shape == (2, g, g)
    tok = vit.features(r)['block12'].permute(0, 2, 3, 1)           # final LayerNorm applied, as get_intermediate_layers(norm=True)
    assert torch.allclose(vit.raw_features(r), vit.features.body.norm(tok), atol=1e-5)
    with pytest.raises(BackboneError, match='divisible by its patch size 14'): vit(torch.rand(1, 3, size + 2, size + 2))

def test_vit_path_random_weights():
    "DINOv2 ViT-S/14 (random weights) at 224 px: 16x16 grid, 384-d normed tokens, threshold 10, self-match 0."
    _vit_end_to_end(224)

@pytest.mark.slow
def test_vit_path_448_random_weights():
    "The paper's resolution: 448 px, 32x32 tokens."
    _vit_end_to_end(448)

def test_score_split_on_folder_squares(tmp_path):
    "Real Lite0, 4 references, white squares on grey noise: the anomalies outscore the good images."
    d = squares_folder(tmp_path/'data', n_train=4)
    recs = folder_records(normal_dir=d/'normal', abnormal_dir=d/'bad', test_normal_dir=d/'good', category='squares')
    ad = AnomalyDINO(img_size=64); fit_anomalydino(ad, reference_records(recs, None))
    s = score_split(ad, split(recs, 'test'), 64, progress=False)
    assert s['masks'] is None and len(s['maps']) == 6 and s['maps'][0].shape == (64, 64)
    assert evaluate(s['scores'], s['labels'])['image_auroc'] == 1.0

@pytest.mark.slow
@needs_bottle
def test_bottle_one_shot_reproduces_record():
    "Real Lite0, bottle, 1 reference (authors' protocol, seed 0): the numbers recorded by benchmarks/anomalydino_kshot.py."
    from adnb.datasets import load_records
    rec = json.loads((ROOT/'reports/records/anomalydino_bottle_kshot.json').read_text())
    want = next(r for r in rec['results'] if (r['setting'], r['protocol'], r['shots'], r['seed']) == ('masking_only', 'authors', 1, 0))
    recs = load_records('mvtec_ad', 'bottle', MVTEC_256); refs = reference_records(recs, 1, 0)
    assert [Path(r.image).name for r in refs] == want['references'] == ['000.png']
    ad = AnomalyDINO(); info = fit_anomalydino(ad, refs)
    assert info['bank_size'] == 1024 == want['bank_size']
    s = score_split(ad, split(recs, 'test'), 256, progress=False)
    m = evaluate(s['scores'], s['labels'], s['maps'], s['masks'])
    for k in ('image_auroc', 'pixel_auroc', 'pixel_ap', 'aupro_30'): assert m[k] == pytest.approx(want[k], abs=1e-6), k
