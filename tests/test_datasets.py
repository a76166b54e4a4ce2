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

# --- issue 10: decoding ------------------------------------------------------------------------------------------------
from PIL import Image
import warnings
from conftest import SHARED
SCREW = SHARED/'screw_256'
needs_screw = pytest.mark.skipif(not (SCREW/'train'/'good').is_dir(), reason=f'shared screw not found at {SCREW}')

def test_read_image_16bit_gray_scaled_not_white(tmp_path):
    v = np.array([[0, 1, 128, 129, 257, 1000, 32768, 65535]], np.uint16)
    Image.fromarray(v).save(tmp_path/'g.png'); assert Image.open(tmp_path/'g.png').mode == 'I;16'
    a = read_image(tmp_path/'g.png')
    assert a.dtype == np.uint8 and a.shape == (1, 8, 3) and (a[..., 0] == a[..., 2]).all()
    assert a[0, :, 0].tolist() == [0, 0, 0, 1, 1, 4, 128, 255]          # round(v*255/65535)
    Image.fromarray((np.arange(256)*257).astype(np.uint16)[None]).save(tmp_path/'ramp.png')
    assert read_image(tmp_path/'ramp.png')[0, :, 1].tolist() == list(range(256))   # 8 -> 16 -> 8 bit is exact

def test_read_image_mode_I_and_big_endian(tmp_path):
    v = np.array([[0, 257, 65535]])
    Image.fromarray(v.astype(np.int32)).save(tmp_path/'i.tif'); assert Image.open(tmp_path/'i.tif').mode == 'I'
    Image.fromarray(v.astype('>u2')).save(tmp_path/'b.tif'); assert Image.open(tmp_path/'b.tif').mode == 'I;16B'
    for f in ('i.tif', 'b.tif'): assert read_image(tmp_path/f)[0, :, 0].tolist() == [0, 1, 255]
    Image.fromarray(np.array([[70000]], np.int32)).save(tmp_path/'o.tif')
    with pytest.raises(DatasetError, match=r'o.tif has integer pixels outside 0..65535'): read_image(tmp_path/'o.tif')
    Image.fromarray(np.array([[0.5]], np.float32)).save(tmp_path/'f.tif')
    with pytest.raises(DatasetError, match=r"f.tif has float pixels \(PIL mode 'F'\)"): read_image(tmp_path/'f.tif')

def test_read_image_8bit_rgb_rgba_la(tmp_path):
    Image.fromarray(np.array([[3, 250]], np.uint8)).save(tmp_path/'l.png')
    assert read_image(tmp_path/'l.png').tolist() == [[[3, 3, 3], [250, 250, 250]]]
    rgb = np.array([[[1, 2, 3], [250, 128, 0]]], np.uint8); Image.fromarray(rgb).save(tmp_path/'rgb.png')
    assert (read_image(tmp_path/'rgb.png') == rgb).all()
    Image.fromarray(np.array([[[1, 2, 3, 0], [250, 128, 0, 128]]], np.uint8), 'RGBA').save(tmp_path/'a.png')
    assert (read_image(tmp_path/'a.png') == rgb).all()                  # alpha dropped, colour under it kept
    Image.fromarray(np.array([[[9, 0], [99, 255]]], np.uint8), 'LA').save(tmp_path/'la.png')
    assert read_image(tmp_path/'la.png').tolist() == [[[9]*3, [99]*3]]
    Image.fromarray(np.array([[True, False]])).save(tmp_path/'b1.png'); assert Image.open(tmp_path/'b1.png').mode == '1'
    assert read_image(tmp_path/'b1.png')[0, :, 0].tolist() == [255, 0]

def test_read_image_palette_with_transparency(tmp_path):
    p = Image.new('P', (3, 1)); p.putpalette([0, 0, 0, 10, 20, 30, 200, 100, 50])
    for i in range(3): p.putpixel((i, 0), i)
    p.save(tmp_path/'p.png', transparency=1); assert Image.open(tmp_path/'p.png').info['transparency'] == 1
    with warnings.catch_warnings(): warnings.simplefilter('error'); a = read_image(tmp_path/'p.png')
    assert a.tolist() == [[[0, 0, 0], [10, 20, 30], [200, 100, 50]]]

@pytest.mark.parametrize('data', [b'garbage', b'\x89PNG\r\n\x1a\n' + b'\0'*30, 'truncated'])
def test_read_image_corrupt_names_file(tmp_path, data):
    f = tmp_path/'bad.png'
    if data == 'truncated':
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(f); data = f.read_bytes()[:-200]
    f.write_bytes(data)
    with pytest.raises(DatasetError, match=f'cannot read image {f}'): read_image(f)

# --- issue 10: masks ---------------------------------------------------------------------------------------------------
def test_mask_nonzero_is_defect(tmp_path):
    Image.fromarray(np.array([[0, 1, 127, 128, 255]], np.uint8)).save(tmp_path/'m.png')
    assert read_mask_file(tmp_path/'m.png').tolist() == [[0, 1, 1, 1, 1]]          # was > 127: [0, 0, 0, 1, 1]
    Image.fromarray(np.array([[0, 1, 300, 65535]], np.uint16)).save(tmp_path/'m16.png')
    assert read_mask_file(tmp_path/'m16.png').tolist() == [[0, 1, 1, 1]]
    p = Image.new('P', (3, 1)); p.putpalette([0, 0, 0, 1, 0, 0, 0, 0, 255])
    for i in range(3): p.putpixel((i, 0), i)
    p.save(tmp_path/'mp.png'); assert read_mask_file(tmp_path/'mp.png').tolist() == [[0, 1, 1]]
    Image.fromarray(np.array([[[0, 0, 0], [0, 0, 1]]], np.uint8)).save(tmp_path/'mrgb.png')
    assert read_mask_file(tmp_path/'mrgb.png').tolist() == [[0, 1]]
    (tmp_path/'x.png').write_bytes(b'x')
    with pytest.raises(DatasetError, match=f'cannot read mask {tmp_path}/x.png'): read_mask_file(tmp_path/'x.png')

def test_check_records_empty_mask_warns_by_name(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); _write_png(r/'toy/ground_truth/crack/000_mask.png', np.zeros((16, 16), np.uint8))
    with pytest.warns(UserWarning, match=r'1 anomalous image\(s\) have an empty mask .*crack/000.png'):
        c = check_records(mvtec_records(r, 'toy'))
    assert (c['n_masks'], c['n_empty_masks']) == (2, 1)

def test_check_records_all_masks_empty_is_error(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad')
    for i in range(2): _write_png(r/f'toy/ground_truth/crack/{i:03d}_mask.png', np.zeros((16, 16), np.uint8))
    with pytest.raises(DatasetError, match=r'every mask of the test split is empty \(no pixel != 0\), 2 masks'): check_records(mvtec_records(r, 'toy'))

# --- issue 10: protocols, folders, duplicates ---------------------------------------------------------------------------
def test_supervised_negative_n(tmp_path):
    recs = mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'toy')
    with pytest.raises(DatasetError, match=r'n=-1 anomalies asked for but the test split has 2 \(n must be in 0..2\)'): supervised_split(recs, -1)
    with pytest.raises(DatasetError, match=r'n=3 anomalies asked for but the test split has 2'): supervised_split(recs, 3)
    assert sum(r.label for r in supervised_split(recs, 0)[0]) == 0

def test_folder_mistyped_and_empty_abnormal_dir(tmp_path):
    r = write_layout_fixture(tmp_path, 'folder')
    with pytest.raises(DatasetNotFound, match=f"abnormal_dir {r}/abnormall does not exist"): folder_records(r/'normal', r/'abnormall', n_test_normal=1)
    (r/'empty').mkdir()
    with pytest.raises(DatasetError, match=f'abnormal_dir {r}/empty holds no images'): folder_records(r/'normal', r/'empty', n_test_normal=1)
    with pytest.raises(DatasetNotFound, match=f"mask_dir {r}/mask does not exist"): folder_records(r/'normal', r/'abnormal', r/'mask', n_test_normal=1)

@pytest.mark.parametrize('other', ['000.PNG', '000.jpg'])
def test_duplicate_stem_names_both_files(tmp_path, other):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); _write_png(r/'toy/test/crack'/other, np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(DatasetError, match=rf"two images with stem '000' in {r}/toy/test/crack: .*000\.(png|PNG|jpg) and .*000\.(png|PNG|jpg)"):
        mvtec_records(r, 'toy')

def test_duplicate_mask_stems(tmp_path):
    r = write_layout_fixture(tmp_path, 'folder'); _write_png(r/'masks/0.png', np.zeros((16, 16), np.uint8))
    with pytest.raises(DatasetError, match="two masks for image stem '0' in .*masks: 0.png and 0_mask.png"):
        folder_records(r/'normal', r/'abnormal', r/'masks', n_test_normal=1)

def test_test_image_copied_into_train_warns(tmp_path):
    import shutil
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); shutil.copy(r/'toy/test/crack/001.png', r/'toy/train/good/009.png')
    recs = mvtec_records(r, 'toy')
    assert [(Path(a.image).name, Path(b.image).name) for a, b in find_duplicates(recs)] == [('009.png', '001.png')]
    with pytest.warns(UserWarning, match=r'1 pair\(s\) of byte-identical .*train/good/009.png \(train, label 0\) == .*test/crack/001.png \(test, label 1\)'):
        assert len(check_records(recs)['duplicates']) == 1

def test_find_duplicates_hashes_only_equal_sizes(tmp_path, monkeypatch):
    import adnb.datasets as D
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); _write_png(r/'toy/train/good/005.png', np.zeros((5, 5, 3), np.uint8))
    sizes = {}
    for x in mvtec_records(r, 'toy'): sizes.setdefault(Path(x.image).stat().st_size, []).append(x)
    hashed = []; monkeypatch.setattr(D, '_digest', lambda f: hashed.append(f) or str(f))
    assert D.find_duplicates(mvtec_records(r, 'toy')) == []
    assert str(r/'toy/train/good/005.png') not in hashed                    # a unique size is never read

def test_check_records_corrupt_test_image_names_it(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad'); (r/'toy/test/crack/001.png').write_bytes(b'garbage')
    (r/'toy/ground_truth/crack/000_mask.png').write_bytes(b'garbage')
    with pytest.raises(DatasetError, match=r"2 bad file\(s\):\n  cannot read mask .*000_mask.png.*\n  cannot read image .*crack/001.png"):
        check_records(mvtec_records(r, 'toy'))
    recs = mvtec_records(r, 'toy')
    with pytest.raises(DatasetError, match=r'1 bad file\(s\) \(scan stopped after 1\)'): check_records(recs, max_errors=1)

def test_check_records_counts_and_train_flag(tmp_path):
    r = write_layout_fixture(tmp_path, 'btad'); recs = btad_records(r, '01')
    c = check_records(recs)
    assert {k: c[k] for k in ('n_train', 'n_test_normal', 'n_test_anomalous', 'n_masks', 'n_empty_masks', 'defects', 'has_masks', 'duplicates')} == \
        dict(n_train=2, n_test_normal=1, n_test_anomalous=2, n_masks=2, n_empty_masks=0, defects={'ko': 2}, has_masks=True, duplicates=[])
    (r/'01/train/ok/0000.bmp').write_bytes(b'x')
    check_records(btad_records(r, '01'))                                      # train not decoded by default
    with pytest.raises(DatasetError, match='cannot read image .*train/ok/0000.bmp'): check_records(btad_records(r, '01'), train=True)

def test_check_records_needs_both_labels(tmp_path):
    recs = [x for x in mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'toy') if not (x.split == 'test' and x.label == 0)]
    with pytest.raises(DatasetError, match='the test split needs normal and anomalous images: it has 0 normal, 2 anomalous'): check_records(recs)

# --- issue 10: your own data -------------------------------------------------------------------------------------------
def _own(tmp_path, mirrored=True, masks=True):
    for i in range(3): _write_png(tmp_path/f'good/{i}.png', np.full((8, 8, 3), i, np.uint8))
    for i in range(2): _write_png(tmp_path/f'good_test/{i}.png', np.full((8, 8, 3), 50 + i, np.uint8))
    for j, t in enumerate(('dent', 'hole')):
        _write_png(tmp_path/f'bad/{t}/{j}.png', np.full((8, 8, 3), 100 + j, np.uint8))
        m = np.zeros((8, 8), np.uint8); m[:j+1] = 255
        if masks: _write_png(tmp_path/(f'gt/{t}/{j}_mask.png' if mirrored else f'gt/{j}.png'), m)
    return tmp_path

@pytest.mark.parametrize('mirrored', [True, False])
def test_load_records_folder_with_subfolders_and_masks(tmp_path, mirrored):
    root = _own(tmp_path, mirrored)
    recs = load_records('folder', 'widget', root, normal_dir='good', test_normal_dir='good_test', abnormal_dir='bad', mask_dir='gt')
    assert [(r.split, r.label, r.defect) for r in recs] == [('train', 0, 'good')]*3 + [('test', 0, 'good')]*2 + [('test', 1, 'dent'), ('test', 1, 'hole')]
    assert {r.category for r in recs} == {'widget'} and has_masks(recs)
    hole = recs[-1]; assert read_mask(hole, (8, 8)).sum() == 16                # the 2-row mask of hole/1.png
    c = check_records(recs); assert (c['n_test_normal'], c['defects']) == (2, {'dent': 1, 'hole': 1})

def test_folder_without_masks(tmp_path):
    root = _own(tmp_path, masks=False)
    recs = load_records('folder', 'widget', root, normal_dir='good', abnormal_dir='bad', n_test_normal=1)
    assert not has_masks(recs) and not any(r.masks for r in recs) and len(split(recs, 'train')) == 2
    assert check_records(recs)['has_masks'] is False

def test_folder_flat_abnormal_and_refusals(tmp_path):
    r = write_layout_fixture(tmp_path, 'folder')
    recs = folder_records(r/'normal', r/'abnormal', r/'masks', n_test_normal=1)
    assert {x.defect for x in recs if x.label} == {'anomaly'} and has_masks(recs)
    with pytest.raises(DatasetError, match=r'no normal test images: pass test_normal_dir=<good test images> or n_test_normal=k'):
        folder_records(r/'normal', r/'abnormal')
    with pytest.raises(DatasetError, match='pass either test_normal_dir .* or n_test_normal \\(1\\), not both'):
        folder_records(r/'normal', r/'abnormal', test_normal_dir=r/'normal', n_test_normal=1)
    _write_png(r/'abnormal/sub/0.png', np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"holds both images and defect subfolders \['sub'\]"): folder_records(r/'normal', r/'abnormal', n_test_normal=1)

def test_folder_flat_masks_shared_by_two_types(tmp_path):
    root = _own(tmp_path, mirrored=False); _write_png(root/'bad/hole/0.png', np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match=r'mask .*gt/0.png matches two images, .*dent/0.png and .*hole/0.png'):
        load_records('folder', 'w', root, normal_dir='good', test_normal_dir='good_test', abnormal_dir='bad', mask_dir='gt')

def test_folder_root_mvtec_like(tmp_path):
    r = write_layout_fixture(tmp_path, 'mvtec_ad')
    recs = load_records('folder', 'toy', r)                                  # root/<category>/train/good, ground_truth used
    assert has_masks(recs) and [x.label for x in recs] == [0, 0, 0, 1, 1]
    import shutil; shutil.rmtree(r/'toy/ground_truth')
    recs = load_records('folder', 'anything', r/'toy')                       # root itself is the MVTec-like folder
    assert not has_masks(recs) and {x.category for x in recs} == {'anything'}
    with pytest.raises(DatasetNotFound, match=f'folder dataset root {tmp_path} has no train/good'): load_records('folder', 'nope', tmp_path)
    with pytest.raises(DatasetNotFound, match=r"settings.ini \[data\] folder"): load_records('folder', 'x')

def test_has_masks_mixed_is_error(tmp_path):
    recs = mvtec_records(write_layout_fixture(tmp_path, 'mvtec_ad'), 'toy')
    i = next(i for i, x in enumerate(recs) if x.label); recs[i] = Record(recs[i].image, 'toy', 'test', 1, 'crack')
    with pytest.raises(DatasetError, match='1 of 2 anomalous test images have no mask'): has_masks(recs)

@needs_screw
def test_shared_screw_as_folder():
    recs = load_records('folder', 'screw', SCREW)
    assert (len(split(recs, 'train')), sum(1 for r in recs if r.split == 'test' and not r.label), sum(r.label for r in recs)) == (320, 41, 119)
    assert {r.defect for r in recs if r.label} == {'defective'} and not has_masks(recs)
    assert all(Path(r.image).parent.name == ('defective' if r.label else 'good') for r in recs)
    a = read_image(recs[0].image); assert a.flags.writeable and a.shape == (256, 256, 3) and a.dtype == np.uint8 and (a[..., 0] == a[..., 1]).all()

@needs_bottle
def test_shared_bottle_check_records():
    c = check_records(mvtec_records(MVTEC_256, 'bottle'))
    assert (c['n_train'], c['n_test_normal'], c['n_test_anomalous'], c['n_masks'], c['n_empty_masks'], c['duplicates']) == (209, 20, 63, 63, 0, [])
    assert c['defects'] == dict(broken_large=20, broken_small=22, contamination=21) and c['has_masks']

@pytest.mark.parametrize('layout,cat', LAYOUTS)
def test_check_records_every_layout(tmp_path, layout, cat):
    c = check_records(load_records(layout, cat, write_layout_fixture(tmp_path, layout)))
    assert (c['n_train'], c['n_test_normal'], c['n_test_anomalous'], c['n_masks'], c['n_empty_masks']) == (2, 1, 2, 2, 0) and c['has_masks']
