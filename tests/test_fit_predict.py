"`adnb fit` / `adnb predict` on the embedded puck (128 px images, models at 64 px): thresholds from held-out good images only."
import csv, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from adnb.predict import *
from adnb.datasets import make_embedded, read_image, transform
from adnb.cli import main

@pytest.fixture(scope='module', params=['patchcore', 'padim'])
def fitted(request, puck, tmp_path_factory):
    "One `adnb fit` per method through the command line entry point, then `adnb predict` on the whole test folder."
    d = tmp_path_factory.mktemp(request.param)
    extra = ['--d', '50'] if request.param == 'padim' else []
    main(['fit', request.param, '--normal', str(puck/'train'/'good'), '--image-size', '64', '--out', str(d/'m.pt'), *extra])
    main(['predict', str(d/'m.pt'), str(puck/'test'), '--out', str(d/'pred')])
    rows = list(csv.DictReader(open(d/'pred'/'scores.csv')))
    return request.param, d, rows

def test_csv_rows_and_pngs(fitted, puck):
    method, d, rows = fitted
    assert list(rows[0])[:4] == ['path', 'score', 'is_anomalous', 'threshold']
    assert len(rows) == 15 and {Path(r['path']).parent.name for r in rows} == {'good', 'crack', 'missing', 'scratch'}
    for r in rows:
        for k in ('anomaly_map', 'overlay'):
            im = Image.open(d/'pred'/r[k]); assert im.size == (128, 128) and im.mode == 'RGB'   # original resolution, not 64
        assert r['is_anomalous'] == str(float(r['score']) > float(r['threshold']))
    assert (d/'pred'/'missing'/'000_overlay.png').exists()

def test_threshold_is_quantile_of_independently_scored_holdout(fitted, puck):
    method, d, rows = fitted
    model = load_fitted(d/'m.pt'); t = model.meta['threshold']
    good = sorted((puck/'train'/'good').glob('*.png'))                          # the split, recomputed: seed 0, 20 % of 16
    hold = [good[i] for i in sorted(np.random.default_rng(0).permutation(16)[:3])]
    assert t['files'] == [str(p) for p in hold] and model.meta['n_fit'] == 13
    with torch.no_grad(): s = [model(transform(read_image(p), 64)[0][None])['score'].item() for p in hold]
    assert t['image'] == pytest.approx(np.quantile(s, 0.99), rel=1e-5)
    assert float(rows[0]['threshold']) == pytest.approx(t['image'], rel=1e-6)
    assert t['provenance'].startswith('holdout normal images, n=3, quantile=0.99')

def test_anomalous_score_higher_on_average(fitted):
    "A sanity check, not a floor: defective test images score higher on average than good ones."
    method, d, rows = fitted
    good = [float(r['score']) for r in rows if Path(r['path']).parent.name == 'good']
    bad = [float(r['score']) for r in rows if Path(r['path']).parent.name != 'good']
    assert np.mean(bad) > np.mean(good)

def test_split_seeded_and_disjoint(puck):
    files = list_images(puck/'train'/'good', recursive=False)
    a, b = holdout_split(files, 0.2, 0), holdout_split(files, 0.2, 1)
    assert a == holdout_split(files, 0.2, 0) and a[1] != b[1] and not set(a[0]) & set(a[1]) and len(a[1]) == 3

def test_crop_maps_back_to_original_size(puck, tmp_path):
    fit_folder('padim', puck/'train'/'good', tmp_path/'c.pt', image_size=64, crop=48, d=30, weights='random')
    m = load_fitted(tmp_path/'c.pt'); assert (m.meta['image_size'], m.meta['crop']) == (64, 48) and m.grid.tolist() == [12, 12]
    predict_images(tmp_path/'c.pt', puck/'test'/'good'/'000.png', tmp_path/'p')
    heat = np.asarray(Image.open(tmp_path/'p'/'000_map.png'))
    assert heat.shape == (128, 128, 3) and (heat[0, 0] == 128).all() and not (heat[64, 64] == 128).all()   # grey outside the crop

def test_no_label_option():
    p = subprocess.run([sys.executable, '-c', 'from adnb.cli import main; main()', 'fit', '--help'], capture_output=True, text=True)
    assert p.returncode == 0 and '--normal' in p.stdout and 'label' not in p.stdout.lower() and '--abnormal' not in p.stdout

def err(argv):
    with pytest.raises(SystemExit) as e: main(argv)
    return e.value.code

def test_errors_empty_folder_and_corrupt_image(tmp_path, puck):
    (tmp_path/'empty').mkdir()
    assert err(['fit', 'padim', '--normal', str(tmp_path/'empty')]) == f"adnb: normal folder {tmp_path/'empty'} holds no images directly (extensions .bmp, .jfif, .jpe, .jpeg, .jpg, .png, .tif, .tiff, .webp)"
    assert err(['fit', 'padim', '--normal', str(tmp_path/'missing')]) == f"adnb: normal path {tmp_path/'missing'} does not exist"
    bad = tmp_path/'good'; bad.mkdir()
    for i in range(4): Image.open(puck/'train'/'good'/f'{i:03d}.png').save(bad/f'{i}.png')
    (bad/'2.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    assert err(['fit', 'padim', '--normal', str(bad), '--out', str(tmp_path/'m.pt')]).startswith(f"adnb: 1 unreadable image(s):\n  cannot read image {bad/'2.png'}")
    assert not (tmp_path/'m.pt').exists()

def test_predict_errors_before_scoring(tmp_path, puck, fitted):
    method, d, rows = fitted
    (tmp_path/'x.png').write_text('not an image')
    assert err(['predict', str(d/'m.pt'), str(puck/'test'/'good'), str(tmp_path/'x.png'), '--out', str(tmp_path/'o')]).startswith(
        f"adnb: 1 unreadable image(s):\n  cannot read image {tmp_path/'x.png'}")
    assert not (tmp_path/'o').exists()                                             # nothing written: refused before scoring
    assert 'is not a readable adnb checkpoint' in err(['predict', str(tmp_path/'x.png'), str(puck/'test')])

def test_bad_parameters(puck, tmp_path):
    assert err(['fit', 'padim', '--normal', str(puck/'train'/'good'), '--quantile', '0']) == 'adnb: quantile must be in (0, 1], got 0.0'
    assert err(['fit', 'padim', '--normal', str(puck/'train'/'good'), '--holdout', '1']) == 'adnb: holdout must be in (0, 1), got 1.0'
    assert err(['fit', 'padim', '--normal', str(puck/'train'/'good'), '--out', str(tmp_path)]).startswith(f'adnb: --out {tmp_path} is a folder')
    assert err(['fit', 'padim', '--normal', str(puck/'train'/'good'), '--crop', '300']) == 'adnb: crop must be in 1..image_size (256), got 300'
    assert err(['fit', 'fapm', '--normal', str(puck/'train'/'good')]) == 2                           # argparse: invalid choice

def test_random_weights_round_trip_and_unfitted_checkpoint(puck, tmp_path):
    "A model fitted on random weights is reloaded with them; a checkpoint without thresholds is refused with what to do."
    fit_folder('padim', puck/'train'/'good', tmp_path/'r.pt', image_size=64, d=30, weights='random:3')
    m = load_fitted(tmp_path/'r.pt'); assert m.features.weights_id['random_seed'] == 3
    from adnb.padim import PaDiM
    m.meta = {}; m.save(tmp_path/'plain.pt')
    with pytest.raises(ValueError, match='holds no decision threshold'): load_fitted(tmp_path/'plain.pt')
