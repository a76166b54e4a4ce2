"The CostFilter-AD experiment (nbs/experiments/costfilter.ipynb) at tiny size on the embedded dataset."
import json
import pytest
from adnb.run import main, run_experiment, resolve_params, find_experiment

def _results(out): return json.loads((out/'results.json').read_text())

def test_profiles_resolve_before_the_kernel():
    ci, name = resolve_params(find_experiment('costfilter'), {})
    assert name == 'ci' and (ci['image_size'], ci['epochs'], ci['width']) == (64, 2, 4)
    paper, name = resolve_params(find_experiment('costfilter'), dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['epochs'], paper['width'], paper['templates']) == (256, 40, 8, 3)

def test_costfilter_experiment_tiny(tmp_path):
    "Rows anomalydino / costfilter / costfilter_fused per category on the same test images and templates; KDE and Table 6."
    out = run_experiment('costfilter', dict(category='brick,puck', n_gallery=2, threads=1), reports=tmp_path, progress=False)
    r = _results(out); rows = r['results']
    assert [(x['method'], x['category']) for x in rows] == [('anomalydino', 'brick'), ('anomalydino', 'puck'), ('costfilter', 'brick'),
                                                          ('costfilter_fused', 'brick'), ('costfilter', 'puck'), ('costfilter_fused', 'puck')]
    assert r['experiment'] == 'costfilter' and r['profile'] == 'ci'
    assert {x['n_test'] for x in rows if x['category'] == 'puck'} == {15}                   # every test image, every row
    assert all(0 <= x['pixel_auroc'] <= 1 and 0 <= x['aupro_30'] <= 1 for x in rows)
    assert rows[2]['epochs'] == 2 and rows[2]['train_s'] == rows[5]['train_s']             # one unified model for both categories
    assert len(r['templates']['puck']) == 3 and all('/train/good/' in p for p in r['templates']['puck'])
    assert set(r['kde_overlap']) == {'anomalydino', 'costfilter'} and all(0 <= v <= 1.01 for v in r['kde_overlap'].values())
    t6 = r['table6']; assert t6['added_ms'] > 0 and abs(t6['volume_mb_per_image'] - 16 * 4 * 8 * 8 * 4 / 2**20) < 1e-12
    nb = (out/'costfilter.ipynb').read_text()
    assert 'Pixel logits, normal vs anomalous' in nb and "{'anomalydino': " in nb and 'CostFilter (after)' in nb

def test_costfilter_experiment_table4_tiny(tmp_path):
    "ablation table4: one filter per row (no guidance, SG, MG, both; both without the adaptor), one base row."
    out = run_experiment('costfilter', dict(category='puck', epochs=1, ablation='table4', n_gallery=1, threads=1), reports=tmp_path, progress=False)
    rows = [x for x in _results(out)['results'] if x['method'] == 'costfilter']
    assert [(x['guidance'], x['adaptor']) for x in rows] == [('none', True), ('spatial', True), ('matching', True), ('both', True), ('both', False)]
    assert len({x['config'] for x in rows}) == 5 and sum(x['method'] == 'anomalydino' for x in _results(out)['results']) == 1

@pytest.mark.parametrize('name,value,msg', [
    ('ablation', 'table5', "parameter ablation must be one of '' | table4 | loss (got 'table5')"),
    ('guidance', 'sg', "parameter guidance must be one of both | spatial | matching | none (got 'sg')"),
    ('templates', '0', 'parameter templates must be a positive integer (got 0)')])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    with pytest.raises(SystemExit) as e: main(['run', 'costfilter', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert str(e.value) == f'adnb: {msg}' and not (tmp_path/'rep').exists()
