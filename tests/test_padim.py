import numpy as np, pytest, torch
from adnb.padim import *
from adnb.datasets import transform

def test_mahalanobis_identity_is_euclidean():
    g = torch.Generator().manual_seed(0)
    E, mu = torch.randn(3, 4, 2, 5, generator=g), torch.randn(10, 4, generator=g)
    icov = torch.eye(4).expand(10, 4, 4)
    expect = (E.permute(0, 2, 3, 1).reshape(3, 10, 4) - mu).norm(dim=-1).reshape(3, 2, 5)
    assert torch.allclose(mahalanobis(E, mu, icov), expect, atol=1e-5)

def test_mahalanobis_hand_case_with_eps():
    E = torch.tensor([-1., 1., -1., 1.]).view(4, 1, 1, 1)                  # mean 0, sample variance 4/3
    mu, ic = gaussian_fit(E)                                               # eps = 0.01 by default
    assert mu.item() == 0 and ic.item() == pytest.approx(1 / (4/3 + 0.01), rel=1e-6)
    assert mahalanobis(torch.full((1, 1, 1, 1), 2.), mu, ic).item() == pytest.approx(2 / (4/3 + 0.01)**.5, rel=1e-6)

@pytest.mark.parametrize('eps', [0.01, 0.5])
def test_gaussian_fit_matches_numpy(eps):
    rng = np.random.default_rng(1); E = rng.normal(size=(7, 3, 2, 2)).astype(np.float32)
    mu, ic = gaussian_fit(torch.from_numpy(E), eps)
    for p, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):           # positions in row-major order
        X = E[:, :, i, j].astype(np.float64)
        assert np.allclose(mu[p].numpy(), X.mean(0), atol=1e-6)
        cov = np.cov(X, rowvar=False) + eps * np.eye(3)                      # 1/(N-1) and the eps*I of PaDiM eq. 1
        assert np.allclose(ic[p].numpy(), np.linalg.inv(cov), rtol=1e-4, atol=1e-5)

def test_gaussian_fit_needs_two_images():
    with pytest.raises(ValueError, match='at least 2 training images'): gaussian_fit(torch.zeros(1, 2, 1, 1))

def test_embed_nearest_copies_blocks():
    fine, coarse = torch.zeros(1, 1, 4, 4), torch.arange(4.).view(1, 1, 2, 2)
    e = padim_embed({'a': fine, 'b': coarse})
    assert e.shape == (1, 2, 4, 4)
    assert torch.equal(e[0, 1], coarse[0, 0].repeat_interleave(2, 0).repeat_interleave(2, 1))

def test_map_shapes_and_state():
    pd = PaDiM(weights='random', d=20)
    info = fit_padim(pd, [dict(image=torch.rand(3, 3, 64, 64))])
    assert info['grid'] == (16, 16) and info['positions'] == 256 and info['d'] == 20
    o = pd(torch.rand(2, 3, 64, 64))
    assert o['map'].shape == (2, 64, 64) and o['patch_scores'].shape == (2, 16, 16) and o['score'].shape == (2,)
    assert torch.equal(o['score'], o['map'].flatten(1).max(1).values)
    assert pd.mean.shape == (256, 20) and pd.inv_cov.shape == (256, 20, 20)
    pd2 = PaDiM(weights='random', d=20); pd2.load_state_dict(pd.state_dict())
    assert pd2.grid.tolist() == [16, 16] and torch.equal(pd2.inv_cov, pd.inv_cov)

def test_channels_seeded():
    a, b, c = (PaDiM(weights='random', d=20, seed=s).channels for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c) and len(a.unique()) == 20

def test_crop_grid_and_mismatch():
    img = (np.random.default_rng(0).random((80, 80, 3)) * 255).astype(np.uint8)
    x, _ = transform(img, 64, crop=56)
    pd = PaDiM(weights='random', d=20)
    assert fit_padim(pd, [dict(image=torch.stack([x, x.flip(-1), x.flip(-2)]))])['grid'] == (14, 14)
    assert pd(x[None])['map'].shape == (1, 56, 56)
    with pytest.raises(ValueError, match='fitted on a 14x14 grid of positions but a 64x64 input gives 16x16'):
        pd(transform(img, 64)[0][None])
    with pytest.raises(ValueError, match=r'training batches give grids \[\(14, 14\), \(16, 16\)\]'):
        fit_padim(PaDiM(weights='random', d=20), [dict(image=x[None].repeat(2, 1, 1, 1)), dict(image=torch.rand(2, 3, 64, 64))])

# --- save / load with the backbone weights identity (issue 10) -----------------------------------------------------
from adnb.backbones import BackboneError

def _fitted(**kw):
    pd = PaDiM(weights='random', d=20, **kw)
    fit_padim(pd, [dict(image=torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))]); return pd

def test_save_load_round_trip_identical_maps(tmp_path):
    pd = _fitted(seed=3, eps=0.05, sigma=2.); pd.meta['note'] = 'kept'
    pd.save(tmp_path/'p.pt'); pd2 = PaDiM.load(tmp_path/'p.pt')             # weights=None: the saved ('random') ones
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    a, b = pd(x), pd2(x)
    assert torch.equal(a['map'], b['map']) and torch.equal(a['score'], b['score'])
    assert torch.equal(pd2.channels, pd.channels) and pd2.grid.tolist() == [16, 16]
    assert pd2.config == dict(backbone='efficientnet_lite0', layers=['blocks.1', 'blocks.2', 'blocks.4'], d=20, eps=0.05, sigma=2., seed=3)
    assert pd2.meta == {'note': 'kept'}

def test_load_refuses_other_weights(tmp_path):
    _fitted().save(tmp_path/'p.pt')
    with pytest.raises(BackboneError, match=r"fitted with efficientnet_lite0 weights 'random' seed 0.*Reload with load\(.*weights='random'\)"):
        PaDiM.load(tmp_path/'p.pt', weights='random:1')

def test_load_non_checkpoint_and_unfitted(tmp_path):
    (tmp_path/'x.pt').write_text('not a checkpoint')
    with pytest.raises(BackboneError, match='is not a readable adnb checkpoint'): PaDiM.load(tmp_path/'x.pt')
    with pytest.raises(RuntimeError, match='not fitted: nothing to save'): PaDiM(weights='random', d=20).save(tmp_path/'y.pt')

def test_fit_records_image_size_and_crop_from_dataset(tmp_path):
    from adnb.datasets import make_loader, Record
    from PIL import Image
    for i in range(3): Image.fromarray((np.random.default_rng(i).random((80, 80, 3)) * 255).astype(np.uint8)).save(tmp_path/f'{i}.png')
    recs = [Record(str(tmp_path/f'{i}.png'), 'c', 'train', 0) for i in range(3)]
    pd = PaDiM(weights='random', d=20); fit_padim(pd, make_loader(recs, 64, crop=56))
    assert pd.meta == dict(image_size=64, crop=56)
    pd.save(tmp_path/'p.pt'); assert PaDiM.load(tmp_path/'p.pt').meta == dict(image_size=64, crop=56)
