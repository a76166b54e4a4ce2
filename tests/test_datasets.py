import numpy as np, pytest, torch
from pathlib import Path
from adnb.datasets import *
from adnb.datasets import _write_png
from conftest import needs_bottle, needs_xs, MVTEC_256, MVTEC_XS

LAYOUTS = [('mvtec_ad', 'toy'), ('mpdd', 'toy'), ('btad', '01'), ('mvtec_loco', 'toy'), ('visa', 'toy'), ('real_iad', 'toy')]

@pytest.mark.parametrize('layout,cat', LAYOUTS)
def test_loader_reads_layout(tmp_path, layout, cat):
    recs = load_records(layout, cat, write_layout_fixture(tmp_path, layout))
    assert len(split(recs, 'train')) == 2 and sum(r.label for r in recs) == 2
    assert all(r.masks for r in recs if r.label) and not any(r.masks for r in recs if not r.label)
    item = ADDataset([r for r in recs if r.label], size=8)[0]
    assert item['image'].shape == (3, 8, 8) and item['mask'].shape == (16, 16) and item['mask'].max() == 1

def test_loader_settings_root(tmp_path, monkeypatch):
    monkeypatch.setenv('ADNB_MVTEC_AD', str(write_layout_fixture(tmp_path/'m', 'mvtec_ad')))
    assert len(load_records('mvtec_ad', 'toy')) == 5

def test_loco_union_and_types(tmp_path):
    recs = loco_records(write_layout_fixture(tmp_path, 'mvtec_loco'), 'toy')
    assert {r.defect for r in recs if r.label} == {'logical_anomalies', 'structural_anomalies'}
    assert len(split(recs, 'val')) == 1
    r = [r for r in recs if r.defect == 'logical_anomalies'][0]
    assert read_mask(r, (16, 16)).sum() == 16 + 8          # 4x4 square + 2x4 strip, unioned

def test_btad_mixed_extensions(tmp_path):
    recs = btad_records(write_layout_fixture(tmp_path, 'btad'), '01')
    assert {Path(r.image).suffix for r in recs} == {'.bmp', '.png'}

def test_visa_keeps_only_object(tmp_path):
    recs = visa_records(write_layout_fixture(tmp_path, 'visa'), 'toy')
    assert {r.category for r in recs} == {'toy'} and len(recs) == 5

def test_realiad_views(tmp_path):
    recs = realiad_records(write_layout_fixture(tmp_path, 'real_iad'), 'toy')
    assert [r.view for r in split(recs, 'train')] == ['C1', 'C2'] and {r.defect for r in recs if r.label} == {'AK'}

def test_folder(tmp_path):
    r = write_layout_fixture(tmp_path, 'folder')
    recs = folder_records(r/'normal', r/'abnormal', r/'masks', n_test_normal=1)
    assert [x.label for x in recs] == [0, 0, 0, 1, 1] and len(split(recs, 'train')) == 2

# --- bad input -------------------------------------------------------------------------------------------------
def test_missing_root_names_settings_key(monkeypatch):
    with pytest.raises(DatasetNotFound, match=r"settings.ini \[data\] visa"): load_records('visa', 'candle')

def test_missing_root_dir(tmp_path):
    with pytest.raises(DatasetNotFound, match='does not exist.*Expected layout'): mvtec_records(tmp_path/'nope', 'toy')

def test_unknown_category(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"no mvtec_ad category 'bottle'.*\['toy'\]"):
        mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'bottle')

def test_unknown_dataset():
    with pytest.raises(DatasetError, match="unknown dataset 'kolektor'"): load_records('kolektor', 'x')

def test_image_without_mask(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); (r/'toy/ground_truth/crack/000_mask.png').unlink()
    with pytest.raises(DatasetError, match='crack/000.png has no mask.*000_mask.png'): mvtec_records(r, 'toy')

def test_mask_of_other_size(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); _write_png(r/'toy/ground_truth/crack/000_mask.png', np.zeros((4, 5), np.uint8))
    rec = [x for x in mvtec_records(r, 'toy') if x.image.endswith('crack/000.png')]
    with pytest.raises(DatasetError, match='000_mask.png is 5x4 but its image .* is 16x16'): ADDataset(rec)[0]

def test_unreadable_image(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); (r/'toy/train/good/000.png').write_bytes(b'garbage')
    with pytest.raises(DatasetError, match='cannot read image .*000.png'): ADDataset(split(mvtec_records(r, 'toy'), 'train'))[0]

def test_empty_train_split(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad')
    for f in (r/'toy/train/good').iterdir(): f.unlink()
    with pytest.raises(DatasetError, match='empty train split'): mvtec_records(r, 'toy')

def test_k_larger_than_shots(tmp_path):
    recs = mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'toy')
    with pytest.raises(DatasetError, match='k=3 shots asked for but the train split has 2'): kshot(recs, 3)

def test_visa_row_without_mask(tmp_path):
    r = write_layout_fixture(tmp_path, 'visa'); (r/'toy/Data/Masks/Anomaly/001.png').unlink()
    with pytest.raises(DatasetError, match='1cls.csv row 6: anomalous image'): visa_records(r, 'toy')

# --- geometry ----------------------------------------------------------------------------------------------------
def test_padding_roundtrip():
    img = np.zeros((40, 100, 3), np.uint8); img[:, :50] = 255
    x, g = transform(img, 64, square=True)
    assert g.pad == (30, 0, 30, 0)
    back = to_original(x[0], g)                      # the image itself as a "map"
    assert back.shape == (40, 100)
    assert back[8:-8, :45].min() > .9 and back[8:-8, 55:].max() < .1   # content lands where it came from

def test_crop_geometry_agrees_with_mask():
    m = np.zeros((100, 100), np.uint8); m[40:60, 40:60] = 1
    x, g = transform(np.zeros((100, 100, 3), np.uint8), 64, crop=32)
    mv = mask_in_view(m, g)
    assert mv.shape == to_original(torch.zeros(8, 8), g).shape == (50, 50) and mv.sum() == 400

# --- protocols ---------------------------------------------------------------------------------------------------
def _many(tmp_path, n=10):
    r = write_layout_fixture(tmp_path, 'mvtec_ad')
    for i in range(2, n): _write_png(r/f'toy/train/good/{i:03d}.png', np.zeros((16, 16, 3), np.uint8))
    return mvtec_records(r, 'toy')

def test_kshot_deterministic_nested(tmp_path):
    recs = _many(tmp_path)
    a, b = split(kshot(recs, 4, seed=1), 'train'), split(kshot(recs, 4, seed=1), 'train')
    assert a == b and len(a) == 4
    assert set(r.image for r in split(kshot(recs, 2, seed=1), 'train')) <= set(r.image for r in a)
    assert split(kshot(recs, 4, seed=2), 'train') != a
    assert split(kshot(recs, 4, 1), 'test') == split(recs, 'test')

def test_supervised_disjoint_deterministic(tmp_path):
    recs = mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'toy')
    tr, te = supervised_split(recs, 1, seed=0)
    assert supervised_split(recs, 1, seed=0) == (tr, te)
    assert not {r.image for r in tr} & {r.image for r in te}
    assert sum(r.label for r in tr) == 1 and sum(r.label for r in te) == 1 and all(r.split == 'train' for r in tr)
    with pytest.raises(DatasetError, match='n=5 anomalies'): supervised_split(recs, 5)

def test_continual_order(tmp_path):
    root = tmp_path/'m'
    for c in ('bottle', 'cable'):
        write_layout_fixture(tmp_path/c, 'mvtec_ad'); (root).mkdir(exist_ok=True); (tmp_path/c/'toy').rename(root/c)
    tasks = continual_tasks('mvtec_ad', root, MVTEC_CATEGORIES[:2])
    assert [t['category'] for t in tasks] == ['bottle', 'cable'] and MVTEC_CATEGORIES[0] == 'bottle' and len(MVTEC_CATEGORIES) == 15
    assert not {r.image for r in tasks[0]['test']} & {r.image for r in tasks[1]['test']}

# --- synthetic anomalies ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scar', [False, True])
def test_cutpaste_mask_is_altered_pixels(scar):
    img = np.random.default_rng(0).random((64, 64, 3))
    for s in range(5):
        out, m = cutpaste(img, np.random.default_rng(s), scar=scar)
        assert np.array_equal(m.astype(bool), np.abs(out - img).max(-1) > 0) and m.sum() > 0

def test_cutpaste_deterministic():
    img = np.random.default_rng(0).random((32, 32, 3))
    a, b = cutpaste(img, np.random.default_rng(7)), cutpaste(img, np.random.default_rng(7))
    assert np.array_equal(a[0], b[0])

def test_perlin_mask_is_altered_pixels():
    img, tex = np.random.default_rng(0).random((64, 64, 3)), np.random.default_rng(1).random((64, 64, 3))
    for s in range(5):
        out, m = perlin_anomaly(img, tex, np.random.default_rng(s))
        assert np.array_equal(m.astype(bool), np.abs(out - img).max(-1) > 0) and m.sum() > 0

def test_default_textures_are_real_photos():
    t = texture_images(size=32)
    assert len(t) >= 3 and all(x.shape == (32, 32, 3) for x in t) and min(np.std(x) for x in t) > .02

# --- embedded ----------------------------------------------------------------------------------------------------------
def test_embedded_generator(tmp_path):
    import time
    t0 = time.time(); root = make_embedded(tmp_path/'e'); dt = time.time() - t0
    assert dt < 30
    for c in EMBEDDED_CATEGORIES:
        recs = load_records('embedded', c, root)
        assert len(split(recs, 'train')) == 16 and sum(r.label for r in recs) == 9
        for r in (x for x in recs if x.label):
            m = read_mask(r, (128, 128)); assert m.sum() >= 4
    # deterministic: a second root with the same seed holds identical files
    root2 = make_embedded(tmp_path/'e2')
    a = (root/'puck/test/missing/000.png').read_bytes(); assert a == (root2/'puck/test/missing/000.png').read_bytes()

def test_embedded_default_location(tmp_path):
    recs = load_records('embedded', 'brick')       # ADNB_EMBEDDED points into tmp (conftest)
    assert str(tmp_path) in recs[0].image

# --- real data ---------------------------------------------------------------------------------------------------------
@needs_bottle
def test_shared_bottle_counts():
    recs = mvtec_records(MVTEC_256, 'bottle')
    assert len(split(recs, 'train')) == 209 and len(split(recs, 'test')) == 83 and sum(r.label for r in recs) == 63
    assert {r.defect for r in recs if r.label} == {'broken_large', 'broken_small', 'contamination'}

@needs_xs
def test_shared_xs_masks_full_resolution():
    recs = mvtec_records(MVTEC_XS, 'bottle')
    assert (len(split(recs, 'train')), len(split(recs, 'test')), sum(r.label for r in recs)) == (5, 10, 5)
    it = ADDataset([r for r in recs if r.label], size=64)[0]
    assert it['mask'].shape == (900, 900) and it['image'].shape == (3, 64, 64)
