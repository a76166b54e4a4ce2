"The DFM experiment notebook (nbs/experiments/dfm.ipynb) at tiny size on the embedded dataset, in each setting."
import json
import pytest
from adnb.cli import main
from adnb.run import run_experiment, resolve_params, find_experiment

NB = find_experiment('dfm')
TINY = dict(image_size=32, epochs=1, steps=1, batch_size=2, memory_size=32, n_gallery=1)
TERMS = ('eq9', 'eq6', 'eq7', 'eq8', 'anchor_s1', 'anchor_s2', 'fixed_before_s2', 'fixed_after_s2', 'fixed_fell_s2', 'probe_auroc_s1', 'probe_auroc_s2')

def _run(tmp_path, **p):
    out = run_experiment('dfm', {**TINY, **p}, reports=tmp_path/'rep', progress=False)
    return json.loads((out/'results.json').read_text()), out

def test_profiles_resolve_before_the_kernel():
    ci, name = resolve_params(NB, {})
    assert name == 'ci' and (ci['image_size'], ci['epochs'], ci['steps'], ci['setting'], ci['gain']) == (128, 2, 2, 'fewshot', 'unit')
    paper, name = resolve_params(NB, dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['epochs'], paper['steps'], paper['memory_size']) == (256, 6, 5, 196)

@pytest.mark.parametrize('name,value,msg', [
    ('setting', 'zeroshot', "parameter setting must be one of fewshot | continual | supervised (got 'zeroshot')"),
    ('shots', '3', 'parameter shots must be a non-empty list of integers (got 3, a int; write [3])'),
    ('beta', '1.5', 'parameter beta must be a number in (0, 1] (got 1.5)'),
    ('gain', 'double', "parameter gain must be one of unit | normal_mean | free (got 'double')"),
])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    with pytest.raises(SystemExit) as e: main(['run', 'dfm', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert e.value.code == f'adnb: {msg}'
    assert not (tmp_path/'rep').exists()

@pytest.mark.parametrize('args,msg', [
    (['-p', 'seeds', '[0, 0]'], "seeds must be distinct non-negative integers: a repeated seed is one run counted twice, and its spread would read +- 0 (seeds=[0, 0])"),
    (['-p', 'shots', '[2, 2]'], "shots must not repeat a K (each K is one set of runs) (shots=[2, 2])"),
    (['-p', 'setting', 'supervised', '-p', 'n_val_anomalies', '0'], "selector real needs n_val_anomalies >= 1"),
])
def test_conflicting_parameters_refused_before_the_kernel(tmp_path, args, msg):
    "`-p seeds '[0, 0]'` once reported '+- 0.0' from one seed: a RULE now refuses it before any kernel starts."
    with pytest.raises(SystemExit) as e: main(['run', 'dfm', *args, '--reports', str(tmp_path/'rep')])
    assert e.value.code.startswith('adnb: parameters break a rule: ') and msg in e.value.code, e.value.code
    assert not (tmp_path/'rep').exists()

@pytest.mark.slow   # ~15 s on one core
def test_fewshot_rows_per_shot_and_method(tmp_path):
    r, out = _run(tmp_path, setting='fewshot', category='puck', shots=[1, 2], seeds=[0])
    rows = r['results']
    assert [(x['method'], x['shots']) for x in rows] == [('patchcore', 1), ('dfm', 1), ('patchcore', 2), ('dfm', 2)]
    assert all(x['setting'] == 'fewshot' and x['category'] == 'puck' and 0 <= x['image_auroc'] <= 1 and 0 <= x['pixel_ap'] <= 1 for x in rows)
    assert all(0 <= x['pixel_auroc'] <= 1 and x['selector'] == 'perlin' for x in rows)          # few-shot rows carry pixel AUROC (paper Table 2)
    assert all(x['train_s'] > 0 and x['train_cpu_s'] > 0 and x['gain'] == 'unit' for x in rows if x['method'] == 'dfm')
    t = r['training'][0]
    assert all(len(t[k]) == 1 for k in TERMS) and 0 <= t['probe_auroc_0'] <= 1               # per epoch, per stage: terms, anchor, fixed-target loss, statistic
    assert r['cost']['cpu_s'] > 0 and r['cost']['wall_s'] > 0
    assert 'image scores, patchcore' in (out/'dfm.ipynb').read_text()     # the KDE of both methods is in the report

@pytest.mark.slow   # ~20 s on one core
def test_continual_bases_routing_and_forgetting(tmp_path):
    r, _ = _run(tmp_path, setting='continual', category='brick,puck')
    rows = r['results']; per_task = [x for x in rows if x['task'] != 'mean']
    want = {('dfm', 'task-routed', g, t) for g in ('agnostic', 'oracle') for t in (0, 1)} | {('patchcore', 'task-routed', g, t) for g in ('agnostic', 'oracle') for t in (0, 1)} \
         | {('patchcore', 'one-memory', 'agnostic', t) for t in (0, 1)}
    assert {(x['method'], x['base_protocol'], x['routing'], x['task']) for x in per_task} == want
    assert all(x['routing_accuracy'] == 1.0 for x in per_task if x['routing'] == 'oracle')
    assert all(0 <= x['routing_accuracy'] <= 1 for x in per_task if x['base_protocol'] == 'task-routed')
    assert all(x['routing_accuracy'] is None for x in per_task if x['base_protocol'] == 'one-memory')   # one memory: nothing is routed
    fg = r['forgetting'][0]; assert fg['seed'] == 0
    for name, proto, key in (('dfm', 'task-routed', 'dfm'), ('patchcore', 'task-routed', 'task-routed'), ('patchcore', 'one-memory', 'one-memory')):
        mean = next(x for x in rows if x['task'] == 'mean' and x['method'] == name and x['base_protocol'] == proto and x['routing'] == 'agnostic')
        M = fg['matrix'][key]['image_auroc']
        assert mean['forgetting_image_auroc'] == fg[key]['image_auroc'] == pytest.approx(M[0][0] - M[0][1])   # FM over one earlier task, by hand
        assert M[1][0] is None or M[1][0] != M[1][0]                                                      # task 1 not seen at step 0 (NaN)

@pytest.mark.slow   # ~20 s on one core
def test_supervised_arms_in_one_run_with_a_real_selector(tmp_path):
    r, _ = _run(tmp_path, setting='supervised', category='puck', n_anomalies=3, n_val_anomalies=2, epochs=2)
    rows = r['results']
    assert [(x['method'], x['anomalies']) for x in rows] == [('patchcore', 'none'), ('dfm', 'real'), ('dfm', 'cutpaste')]   # real vs CutPaste, one run
    assert all(x['selector'] == 'real-anomalies' and x['n_anomalies'] == 3 and x['n_val_anomalies'] == 2 for x in rows)
    assert [(c['anomalies'], c['epoch']) for c in r['curves']] == [(a, e) for a in ('real', 'cutpaste') for e in (0, 1, 2)]
    assert rows[1]['image_auroc'] == r['curves'][rows[1]['epoch']]['image_auroc']   # the reported model is the validation-selected epoch's
    assert r['data_checks']['embedded:puck']['n_test_anomalous'] == 9 and rows[0]['n_test'] == 6 + 9 - 3 - 2   # 3 to training, 2 to validation

@pytest.mark.slow
def test_supervised_perlin_selector_and_seeds(tmp_path):
    r, _ = _run(tmp_path, setting='supervised', category='puck', n_anomalies=3, selector='perlin', seeds=[0, 1])
    rows = r['results']
    assert [(x['seed'], x['anomalies']) for x in rows] == [(s, a) for s in (0, 1) for a in ('none', 'real', 'cutpaste')]
    assert all(x['selector'] == 'perlin' and x['n_val_anomalies'] == 0 and x['n_test'] == 6 + 9 - 3 for x in rows)

@pytest.mark.slow
def test_components_ablation_rows(tmp_path):
    r, _ = _run(tmp_path, setting='fewshot', category='puck', shots=[2], ablation='components')
    assert [x['variant'] for x in r['results']] == ['frozen', 'iterative', 'fmn', 'adapters', 'joint', 'iterative_memory_frozen']
