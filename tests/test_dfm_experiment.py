"The DFM experiment notebook (nbs/experiments/dfm.ipynb) at tiny size on the embedded dataset, in each setting."
import json
import pytest
from adnb.cli import main
from adnb.run import run_experiment, resolve_params, find_experiment

NB = find_experiment('dfm')
TINY = dict(image_size=32, epochs=1, steps=1, batch_size=2, memory_size=32, n_gallery=1)

def _run(tmp_path, **p):
    out = run_experiment('dfm', {**TINY, **p}, reports=tmp_path/'rep', progress=False)
    return json.loads((out/'results.json').read_text()), out

def test_profiles_resolve_before_the_kernel():
    ci, name = resolve_params(NB, {})
    assert name == 'ci' and (ci['image_size'], ci['epochs'], ci['steps'], ci['setting']) == (128, 2, 2, 'fewshot')
    paper, name = resolve_params(NB, dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['epochs'], paper['steps'], paper['memory_size']) == (256, 6, 5, 196)

@pytest.mark.parametrize('name,value,msg', [
    ('setting', 'zeroshot', "parameter setting must be one of fewshot | continual | supervised (got 'zeroshot')"),
    ('shots', '3', 'parameter shots must be a non-empty list of integers (got 3, a int; write [3])'),
    ('beta', '1.5', 'parameter beta must be a number in (0, 1] (got 1.5)'),
])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    with pytest.raises(SystemExit) as e: main(['run', 'dfm', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert e.value.code == f'adnb: {msg}'
    assert not (tmp_path/'rep').exists()

@pytest.mark.slow   # ~12 s on one core
def test_fewshot_rows_per_shot_and_method(tmp_path):
    r, out = _run(tmp_path, setting='fewshot', category='puck', shots=[1, 2], seeds=[0])
    rows = r['results']
    assert [(x['method'], x['shots']) for x in rows] == [('patchcore', 1), ('dfm', 1), ('patchcore', 2), ('dfm', 2)]
    assert all(x['setting'] == 'fewshot' and x['category'] == 'puck' and 0 <= x['image_auroc'] <= 1 and 0 <= x['pixel_ap'] <= 1 for x in rows)
    assert all(x['train_s'] > 0 for x in rows if x['method'] == 'dfm')
    assert 'image scores, patchcore' in (out/'dfm.ipynb').read_text()     # the KDE of both methods is in the report

@pytest.mark.slow   # ~12 s on one core
def test_continual_routing_and_forgetting(tmp_path):
    r, _ = _run(tmp_path, setting='continual', category='brick,puck')
    rows = r['results']; per_task = [x for x in rows if x['task'] != 'mean']
    assert {(x['method'], x['routing'], x['task']) for x in per_task} == {(m, g, t) for m in ('dfm', 'patchcore') for g in ('agnostic', 'oracle') for t in (0, 1)}
    assert all(x['routing_accuracy'] == 1.0 for x in per_task if x['routing'] == 'oracle')
    assert all(0 <= x['routing_accuracy'] <= 1 for x in per_task)
    mean = next(x for x in rows if x['task'] == 'mean' and x['method'] == 'dfm' and x['routing'] == 'agnostic')
    fm = r['forgetting']['dfm']
    assert mean['forgetting_image_auroc'] == fm['image_auroc'] and len(r['forgetting']['matrix']['image_auroc']) == 2
    M = r['forgetting']['matrix']['image_auroc']
    assert M[1][0] != M[1][0]                                            # task 1 not seen at step 0: NaN
    assert fm['image_auroc'] == pytest.approx(M[0][0] - M[0][1])         # FM over one earlier task, by hand

@pytest.mark.slow   # ~12 s on one core
def test_supervised_curves_per_epoch(tmp_path):
    r, _ = _run(tmp_path, setting='supervised', category='puck', n_anomalies=3, epochs=2)
    rows = r['results']
    assert [(x['method'], x['anomalies']) for x in rows] == [('patchcore', 'none'), ('dfm', 'real'), ('dfm', 'cutpaste')]
    assert [(c['anomalies'], c['epoch']) for c in r['curves']] == [(a, e) for a in ('real', 'cutpaste') for e in (0, 1, 2)]
    assert rows[1]['image_auroc'] == r['curves'][rows[1]['epoch']]['image_auroc']   # the reported model is the validation-selected epoch's
    assert r['data_checks']['embedded:puck']['n_test_anomalous'] == 9 and rows[0]['n_test'] == 6 + 9 - 3   # 3 anomalies moved to training

@pytest.mark.slow
def test_components_ablation_rows(tmp_path):
    r, _ = _run(tmp_path, setting='fewshot', category='puck', shots=[2], ablation='components')
    assert [x['variant'] for x in r['results']] == ['frozen', 'iterative', 'fmn', 'adapters', 'joint', 'iterative_memory_frozen']
