import dataclasses
import numpy as np, torch, pytest
from adnb.datasets import load_records, split, make_loader
from adnb.patchcore import PatchCore, fit_patchcore
from adnb.scoring import score_split, patch_labels

@pytest.fixture
def fitted():
    recs = load_records('embedded', 'puck')
    pc = PatchCore(layers=['blocks.2'], coreset_ratio=.5, num_neighbors=1, sigma=1.)
    fit_patchcore(pc, make_loader(split(recs, 'train')[:4], 64, batch_size=4), progress=False)
    return pc, split(recs, 'test')

def test_patch_labels_hand_case():
    m = torch.zeros(6, 6); m[3:, 3:] = 1
    lab, yx = patch_labels(m, (2, 2))
    assert lab.tolist() == [False, False, False, True] and yx.tolist() == [[1, 1], [1, 4], [4, 1], [4, 4]]

def test_score_split_matches_model_and_records(fitted):
    pc, test = fitted
    r = score_split(pc, test, 64, batch_size=5, embeddings=True, progress=False)
    assert r['labels'].tolist() == [t.label for t in test] and r['defects'] == [t.defect for t in test]
    b = next(iter(make_loader(test[:5], 64)))
    np.testing.assert_allclose(pc(b['image'])['score'].numpy(), r['scores'][:5], rtol=1e-5)
    assert all(m.shape == k.shape == (128, 128) for m, k in zip(r['maps'], r['masks']))   # embedded images are 128 px
    n_cells = len(r['embeddings']) // len(test)
    assert len(r['embeddings']) == len(r['patch_labels']) == len(r['patch_index']) == n_cells * len(test)
    i, y, x = r['patch_index'][r['patch_labels']].T                                        # anomalous patches lie on defects
    assert all(r['masks'][a].any() for a in i.unique().tolist())
    assert r['timings']['n_images'] == len(test) and r['timings']['ms_per_image'] > 0

def test_score_split_no_masks_and_custom_forward(fitted):
    pc, test = fitted
    calls = []
    def fwd(model, x, batch): calls.append(len(x)); return model(x)
    r = score_split(pc, [dataclasses.replace(t, masks=()) for t in test[:3]], 64, batch_size=2, forward=fwd, progress=False)
    assert r['masks'] is None and r['embeddings'] is None and calls == [2, 1]
    with pytest.raises(KeyError, match="'score' and 'map'"):
        score_split(pc, test[:1], 64, forward=lambda m, x, b: dict(score=m(x)['score']), progress=False)
    with pytest.raises(ValueError, match='no records'): score_split(pc, [], 64)
