import re
import numpy as np, pytest, torch
from adnb.backbones import BackboneError
from adnb.patchcore import *
from adnb.padim import *
from adnb.datasets import mvtec_records, split, make_loader
from adnb.metrics import evaluate, full_resolution
from conftest import needs_bottle, MVTEC_256

@pytest.mark.parametrize('seed', [0, 1, 2])
def test_coreset_matches_naive(seed):
    g = torch.Generator().manual_seed(seed)
    Z = torch.cat([torch.randn(300, 6, generator=g, dtype=torch.float64) + 5*torch.randn(1, 6, generator=g, dtype=torch.float64) for _ in range(5)])
    assert torch.equal(greedy_coreset(Z, 150, start=seed), greedy_coreset_naive(Z, 150, start=seed))

def test_coreset_pruned_matches_naive_clustered(monkeypatch):
    "40 clusters x 600 points in 16-d, float32, 300 centres: N*n is above `dense_below`, so the pruned loop runs."
    g = torch.Generator().manual_seed(3)
    Z = (torch.randn(40, 16, generator=g) * 4).repeat_interleave(600, 0) + torch.randn(24000, 16, generator=g) * torch.rand(24000, 1, generator=g)
    ref = greedy_coreset_naive(Z, 300, start=7)
    import adnb.patchcore as pcm
    monkeypatch.setattr(pcm, 'greedy_coreset_naive', lambda *a: pytest.fail('dense fallback used'))
    assert len(Z) * 300 > 2_000_000 and torch.equal(greedy_coreset(Z, 300, start=7), ref)

def test_coreset_ties_pick_first_index():
    "Every point twice: all distances tie in pairs; like argmax, the loop must take the first copy, never the second."
    X = torch.randn(3000, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64); Z = torch.cat([X, X])
    idx = greedy_coreset(Z, 300, start=0, dense_below=0)
    assert torch.equal(idx, greedy_coreset_naive(Z, 300, start=0)) and (idx < 3000).all()

def test_coreset_hand_case():
    Z = torch.tensor([[0.], [1.], [10.], [4.]])
    assert greedy_coreset(Z, 3, start=0).tolist() == [0, 2, 3]     # farthest from 0 is 10, then 4 (|4-0|=4 > |1-0|)

def test_coreset_bad_size():
    with pytest.raises(ValueError, match='coreset size must be in 1..4'): greedy_coreset(torch.zeros(4, 2), 5)

def test_patch_embed_aggregates_and_aligns():
    f = {'a': torch.arange(16.).view(1, 1, 4, 4), 'b': torch.ones(1, 2, 2, 2)}
    e = patch_embed(f)
    assert e.shape == (1, 4, 4, 3) and e[0, 1, 1, 0] == torch.tensor([0., 1, 2, 4, 5, 6, 8, 9, 10]).mean()

def test_reweighting_bounds_and_plain_max():
    pc = PatchCore(weights='random', num_neighbors=1, coreset_ratio=1.0)
    pc.memory_bank = torch.zeros(4, 3); pc.memory_bank[1:, 0] = torch.tensor([1., 2., 3.])
    emb = torch.zeros(1, 1, 2, 3); emb[0, 0, 1, 0] = 5.
    ps, s = pc.patch_scores(emb)
    assert ps.tolist() == [[[0., 2.]]] and s.item() == 2.            # nearest bank point to 5 is 3
    pc.num_neighbors = 3; _, s3 = pc.patch_scores(emb)
    d = torch.tensor([2., 3., 4.]); w = 1 - torch.softmax(d, 0)[0]      # N_3(m*=3) = {3, 2, 1}
    assert torch.isclose(s3[0], w * 2.)

def test_fit_deterministic_and_empty_bank():
    torch.manual_seed(0); imgs = [dict(image=torch.rand(2, 3, 64, 64)) for _ in range(2)]
    a, b = PatchCore(weights='random'), PatchCore(weights='random')
    b.features.load_state_dict(a.features.state_dict())
    with pytest.raises(RuntimeError, match='memory bank is empty'): a(torch.rand(1, 3, 64, 64))
    fit_patchcore(a, imgs, progress=False); fit_patchcore(b, imgs, progress=False)
    assert torch.equal(a.memory_bank, b.memory_bank)

def _fitted_pc(**kw):
    pc = PatchCore(**{'weights': 'random', 'coreset_ratio': .5, **kw})
    fit_patchcore(pc, [dict(image=torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))], progress=False); return pc

def test_save_load_roundtrip(tmp_path):
    "Fitted on random weights: load() rebuilds those weights from the checkpoint; identical bank, maps and config."
    pc = _fitted_pc(weights='random:5', num_neighbors=3, sigma=2., use_faiss=False); pc.meta['image_size'] = 32
    pc.save(tmp_path/'m.pt'); pc2 = PatchCore.load(tmp_path/'m.pt')
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pc2.memory_bank, pc.memory_bank) and torch.equal(pc2(x)['map'], pc(x)['map'])
    assert pc2.features.weights_id == pc.features.weights_id and pc2.features.weights_id['random_seed'] == 5
    assert pc2.config == dict(backbone='efficientnet_lite0', layers=None, patch_size=3, pad='zeros', pre_dim=None, target_dim=None, coreset_ratio=.5,
                              proj_dim=128, num_neighbors=3, sigma=2., map_border='symmetric', seed=0, use_faiss=False)
    assert pc2.use_faiss is False and pc2.num_neighbors == 3 and pc2.meta == {'image_size': 32}

def test_load_refuses_other_weights(tmp_path):
    _fitted_pc().save(tmp_path/'m.pt')
    with pytest.raises(BackboneError, match=r"fitted with efficientnet_lite0 weights 'random' seed 0 .*but the backbone now has "
                                            r"efficientnet_lite0 weights 'random' seed 1 .*Reload with load\(.*weights='random'\)"):
        PatchCore.load(tmp_path/'m.pt', weights='random:1')

def test_load_non_checkpoint_files(tmp_path):
    (tmp_path/'a.txt').write_text('hello')
    with pytest.raises(BackboneError, match=f"{tmp_path/'a.txt'} is not a readable adnb checkpoint"): PatchCore.load(tmp_path/'a.txt')
    torch.save({'config': {}, 'memory_bank': torch.zeros(1)}, tmp_path/'old.pt')             # the format before weights identity
    with pytest.raises(BackboneError, match='was not written by save_checkpoint'): PatchCore.load(tmp_path/'old.pt')
    with pytest.raises(FileNotFoundError, match='does not exist'): PatchCore.load(tmp_path/'nope.pt')
    pd = PaDiM(weights='random', d=20); fit_padim(pd, [dict(image=torch.rand(3, 3, 32, 32))]); pd.save(tmp_path/'padim.pt')
    with pytest.raises(ValueError, match=r"is not a PatchCore checkpoint: its state holds \['channels', 'grid', 'inv_cov', 'mean'\]"):
        PatchCore.load(tmp_path/'padim.pt')
    with pytest.raises(RuntimeError, match='memory bank is empty: nothing to save'): PatchCore(weights='random').save(tmp_path/'e.pt')

@pytest.mark.parametrize('r', [0, 0.0, -0.1, 1.5, 2, True, '0.1', None])
def test_coreset_ratio_validated_at_construction(r):
    with pytest.raises(ValueError, match=rf"coreset_ratio must be in \(0, 1\] \(the share of training patches kept in the memory bank\), got {re.escape(repr(r))}$"):
        PatchCore(weights='random', coreset_ratio=r)

def test_coreset_ratio_one_keeps_every_patch():
    pc = _fitted_pc(coreset_ratio=1)
    assert pc.memory_bank.shape == (2 * 4 * 4, 152)                                        # 2 images x 4x4 grid (stride 8) at 32 px, all kept

def test_padim_hand_case_and_errors():
    E = torch.tensor([-1., 1., -1., 1.]).view(4, 1, 1, 1)
    mu, ic = gaussian_fit(E, eps=0.)
    assert torch.isclose(mahalanobis(torch.full((1, 1, 1, 1), 2.), mu, ic)[0, 0, 0], torch.tensor(2 / (4 / 3)**.5))
    with pytest.raises(ValueError, match='at least 2 training images'): gaussian_fit(E[:1])
    with pytest.raises(RuntimeError, match='not fitted'): PaDiM(weights='random')(torch.rand(1, 3, 32, 32))

def _run(model, fit, recs):
    fit(model, make_loader(split(recs, 'train'), 256, batch_size=16))
    S, Y, M, K = [], [], [], []
    for b in make_loader(split(recs, 'test'), 256, batch_size=16):
        o = model(b['image']); S += o['score'].tolist(); Y += b['label'].tolist()
        M += full_resolution(o['map'], b['geometry']); K += [m.numpy() for m in b['mask']]
    return evaluate(S, Y, M, K, limits=(0.3,))

@pytest.mark.slow
@needs_bottle
def test_patchcore_real_bottle():
    "Issue target: EfficientNet-Lite0 blocks 2+4, 256 px, coreset 10 %: image AUROC >= 0.99, pixel AUROC >= 0.97."
    r = _run(PatchCore('efficientnet_lite0', coreset_ratio=0.1), lambda m, l: fit_patchcore(m, l, progress=False), mvtec_records(MVTEC_256, 'bottle'))
    assert r['image_auroc'] >= 0.99 and r['pixel_auroc'] >= 0.97, r

@pytest.mark.slow
@needs_bottle
def test_padim_real_bottle():
    r = _run(PaDiM('efficientnet_lite0'), fit_padim, mvtec_records(MVTEC_256, 'bottle'))
    assert r['image_auroc'] >= 0.98 and r['pixel_auroc'] >= 0.96, r
