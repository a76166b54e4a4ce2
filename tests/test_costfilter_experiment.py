"The CostFilter-AD experiment (nbs/experiments/costfilter.ipynb) at tiny size on the embedded dataset."
import json
import pytest
from adnb.cli import main
from adnb.run import run_experiment, resolve_params, find_experiment

def _results(out): return json.loads((out/'results.json').read_text())

def test_profiles_resolve_before_the_kernel():
    ci, name = resolve_params(find_experiment('costfilter'), {})
    assert name == 'ci' and (ci['image_size'], ci['epochs'], ci['width']) == (64, 2, 4)
    paper, name = resolve_params(find_experiment('costfilter'), dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['epochs'], paper['width'], paper['templates']) == (256, 40, 8, 3)

def test_costfilter_experiment_tiny(tmp_path):
    "Rows anomalydino / costfilter / costfilter_fused per category on the same test images and templates; KDE and Table 6."
    out = run_experiment('costfilter', dict(category='brick,puck', n_gallery=2, threads=1, tsne_points=200), reports=tmp_path, progress=False)
    r = _results(out); rows = r['results']
    assert [(x['method'], x['category']) for x in rows] == [('anomalydino', 'brick'), ('anomalydino', 'puck'), ('costfilter', 'brick'),
                                                          ('costfilter_fused', 'brick'), ('costfilter', 'puck'), ('costfilter_fused', 'puck')]
    assert r['experiment'] == 'costfilter' and r['profile'] == 'ci'
    assert {x['n_test'] for x in rows if x['category'] == 'puck'} == {15}                   # every test image, every row
    assert all(0 <= x['pixel_auroc'] <= 1 and 0 <= x['aupro_30'] <= 1 for x in rows)
    assert rows[2]['epochs'] == 2 and rows[2]['train_s'] == rows[5]['train_s']             # one unified model for both categories
    assert len(r['templates']['puck']) == 3 and all('/train/good/' in p for p in r['templates']['puck'])
    assert set(r['kde_overlap']) == {'anomalydino', 'costfilter', 'costfilter_fused'} and all(0 <= v <= 1.01 for v in r['kde_overlap'].values())
    assert set(r['kde_overlap_per_category']['costfilter']) == {'brick', 'puck'}
    t6 = r['table6']; assert t6['added_ms_per_image'] == t6['volume_ms_per_image'] + t6['unet_ms_per_image'] > 0
    assert t6['added_mb_per_image'] == t6['volume_mb_per_image'] == 16 * 4 * 8 * 8 * 4 / 2**20         # increment, not a total
    assert {'base_total_ms_per_image', 'filter_total_ms_per_image'} <= set(t6) and 'added_ms' not in t6
    assert all(x['added_ms_per_image'] == t6['added_ms_per_image'] for x in rows if x['method'] != 'anomalydino')
    assert rows[3]['protocol'].startswith("authors' reported protocol") and rows[2]['filtered_sigma'] == 4.0
    # validation split from training images: 2 of 16 per category held out, history from epoch 0 (untrained) to 2
    assert rows[2]['n_train'] == 28 and rows[2]['n_val'] == 4 and len(r['validation']) == 4
    assert all('/train/good/' in p for p in r['validation'])
    h = r['history']['default']; assert h['epoch'] == [0, 1, 2] and h['loss'][0] is None and len(h['val_pixel_ap']) == 3
    nb = (out/'costfilter.ipynb').read_text()
    assert 'Pixel map values, normal vs anomalous' in nb and 'Pipeline check (profile ci)' in nb and 'CostFilter (after)' in nb
    assert 't-SNE of patch features' in nb and 'CostFilter training (default)' in nb and nb.count('adnb-caption') >= 4   # training curves, KDE, two galleries

@pytest.mark.slow   # five filters trained (~40 s); the default run keeps the one-filter experiment above
def test_costfilter_experiment_table4_tiny(tmp_path):
    "ablation table4: one filter per row (no guidance, SG, MG, both; both without the adaptor), one base row."
    out = run_experiment('costfilter', dict(category='puck', epochs=1, ablation='table4', n_gallery=1, threads=1, tsne_points=0), reports=tmp_path, progress=False)
    rows = [x for x in _results(out)['results'] if x['method'] == 'costfilter']
    assert [(x['guidance'], x['adaptor']) for x in rows] == [('none', True), ('spatial', True), ('matching', True), ('both', True), ('both', False)]
    assert len({x['config'] for x in rows}) == 5 and sum(x['method'] == 'anomalydino' for x in _results(out)['results']) == 1

@pytest.mark.parametrize('name,value,msg', [
    ('ablation', 'table5', "parameter ablation must be one of '' | table4 | loss (got 'table5')"),
    ('guidance', 'sg', "parameter guidance must be one of both | spatial | matching | none (got 'sg')"),
    ('templates', '0', 'parameter templates must be a positive integer (got 0)'),
    ('val_frac', '1.0', 'parameters break a rule: val_frac is the share of training images held out for validation: it must be below 1 (val_frac=1.0)'),
    ('select', 'best', "parameter select must be one of last | val_loss | val_pixel_ap (got 'best')")])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    with pytest.raises(SystemExit) as e: main(['run', 'costfilter', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert str(e.value) == f'adnb: {msg}' and not (tmp_path/'rep').exists()
