"""The claims engine (adnb.claims): each pre-registered rule refuses what it should, on fixture rows in the schema of the
records the experiments write (FAPM rows A..E, CostFilter with its full-shot and 3-template bases, DFM continual with
`base_protocol`, ADPretrain leave-one-category-out rows with `features` and `expid`), and the claims file of the
repository holds every headline claim of the five papers."""
import math
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from adnb.claims import (load_claims, evaluate_claim, evaluate_claims, paper_gain, bootstrap_ci, decide, chance_band, rule_base_level,
                         rule_below_resolution, rule_paper_base, rule_cross_dataset, rule_evidence, ClaimsError, CLAIM_COLUMNS, VERDICTS,
                         PAPER_SETTINGS, verdict_counts)
from adnb.papers import load_paper_tables
from adnb.results import collect

ROOT = Path(__file__).resolve().parents[1]
N = {'bottle': (63, 20), 'transistor': (40, 60), 'toothbrush': (30, 12), 'screw': (119, 41), 'tile': (392, 191)}
ROOTS = {'screw': '../shared/data/screw_256', 'tile': '../shared/data/magnetic_tile'}

def row(exp, cat, seed, source=None, **kw):
    "One result row as `collect` gives it: the run's parameters, the category's test-image counts."
    params = dict(dataset='folder' if cat == 'screw' else 'mvtec_ad', data_root=ROOTS.get(cat, '../shared/data/mvtec_ad_256'),
                  backbone='efficientnet_lite0', image_size=256, crop=224, profile='paper', seed=seed)
    counts = dict(n_test_anomalous=N[cat][0], n_test_normal=N[cat][1]) if cat in N else {}
    return dict(experiment=exp, category=cat, seed=seed, source=source or f'records/claims/{exp}_{cat}_{seed}.json', params=params,
                profile='paper', env=dict(device='cpu', threads=1), **counts, **kw)

def claim(**kw):
    c = dict(claim_id='c', paper='p', claim='method beats base', kind='paper', table='T1', metric='image_auroc', gain='difference', direction='higher',
             margin='0.01', test='gain', paper_method='method=m', paper_base='method=b', paper_filter='category=mean', ours_method='experiment=e;method=m',
             ours_base='experiment=e;method=b', ours_filter='', pairing='run', base_rule='', base_other='', random='yes', co_metric='', co_margin='',
             not_testable='', missing_reason='', notes='')
    return {**c, **kw}

def table(rows):
    H = dict(paper='p', table='T1', dataset='mvtec_ad', category='mean', unit='fraction', backbone='b', resolution='224', shots='full', protocol='',
             ours='', notes='', sd=np.nan, file='t.csv', line=2)
    return pd.DataFrame([{**H, **r} for r in rows])

PAPER = table([dict(method='m', metric='image_auroc', value=.95), dict(method='b', metric='image_auroc', value=.90)])

def pair(cats, base, gain, seeds=(0, 1, 2), **kw):
    "Method and base rows of experiment e on `cats` (one run per category and seed), the method `gain` above the base."
    out = []
    for c in cats:
        for s in seeds:
            g = gain[c] if isinstance(gain, dict) else gain
            b = base[c] if isinstance(base, dict) else base
            out += [row('e', c, s, method='m', image_auroc=min(1.0, b + g + .004 * (s - 1)), **kw), row('e', c, s, method='b', image_auroc=b, **kw)]
    return out

# ---------------------------------------------------------------- the statistics

def test_chance_band_from_test_counts():
    "Hanley-McNeil null sd of an AUROC: screw 119+41 -> 0.0524, band 0.105; unknown counts -> 0.05"
    assert chance_band(119, 41, .01) == pytest.approx(2 * math.sqrt(161 / (12 * 119 * 41)))
    assert chance_band(None, None, .01) == .05 and chance_band(10000, 10000, .01) == .01

def test_bootstrap_two_levels_fixed_generator():
    g = [[.05, .04, .06], [.02, .03, .01], [.04, .05, .03]]
    lo, hi = bootstrap_ci(g)
    assert lo < np.mean([np.mean(x) for x in g]) < hi and (lo, hi) == bootstrap_ci(g)
    assert bootstrap_ci([[.1]]) == (None, None)
    lo1, hi1 = bootstrap_ci([[.1, .2, .3]])                                   # one category: over seeds only
    assert .1 <= lo1 < hi1 <= .3

# ---------------------------------------------------------------- each rule on its own fixture

def test_rule_chance_base_is_refused():
    "screw's base at 0.47 (119+41 test images: chance band 0.5 ± 0.105) cannot show a gain: left out; alone -> not testable"
    assert rule_base_level('image_auroc', .47, N['screw'], .01).startswith('base 0.470 at chance (0.5 ± 0.105')
    assert rule_base_level('image_auroc', .62, N['screw'], .01) is None
    l = evaluate_claim(claim(), PAPER, pair(['screw'], .47, .10))
    assert [(x['label'], x['verdict']) for x in l] == [('paper claim', 'not testable here')]
    assert l[0]['reason'].startswith('every category excluded: screw: base 0.470 at chance')
    assert l[0]['our_gain'] == pytest.approx(.10)                              # our number is still shown

def test_rule_saturated_base_is_refused():
    l = evaluate_claim(claim(), PAPER, pair(['bottle'], 1.0, 0.0))[0]
    assert l['verdict'] == 'not testable here' and 'bottle: base 1.000 saturated (no room for +0.01)' in l['reason']

def test_rule_below_resolution_paper_gain():
    "a paper gain of +0.006 (CostFilter AU-PRO, ADPretrain PaDiM PRO) cannot be confirmed by any outcome here, whatever ours is"
    assert rule_below_resolution(claim(), dict(gain=.006)) == "the paper's gain +0.006 is below what we resolve (margin 0.01)"
    small = table([dict(method='m', metric='image_auroc', value=.906), dict(method='b', metric='image_auroc', value=.90)])
    l = evaluate_claim(claim(), small, pair(['transistor', 'toothbrush', 'tile'], .8, .05))[0]
    assert l['verdict'] == 'not testable here' and l['reason'].startswith("the paper's gain +0.006 is below what we resolve")
    other_way = table([dict(method='m', metric='image_auroc', value=.88), dict(method='b', metric='image_auroc', value=.90)])
    assert evaluate_claim(claim(), other_way, pair(['transistor'], .8, .05))[0]['reason'].startswith("the paper's gain -0.020 goes the other way")

def test_rule_routed_continual_base_is_refused():
    "DFM continual: our PatchCore rows with base_protocol=task-routed (a frozen memory per task, cannot forget) are not the"
    " paper's one-memory PatchCore; with both in the records only the one-memory base gives the paper-claim line"
    c = claim(metric='image_auroc', ours_method='experiment=dfm;method=dfm;routing=agnostic', ours_base='experiment=dfm;method=patchcore',
              ours_filter='setting=continual', base_rule='base_protocol=one-memory', base_other='task-routed PatchCore (cannot forget)')
    rows = []
    for cat, b in (('bottle', .95), ('transistor', .90), ('toothbrush', .95), ('tile', .90)):
        for s in range(3):
            src = f'records/dfm_continual_{s}.json'                              # one continual run per seed over every task
            rows += [row('dfm', cat, s, src, method='dfm', setting='continual', routing='agnostic', task=cat, image_auroc=b + .02),
                     row('dfm', cat, s, src, method='patchcore', setting='continual', base_protocol='task-routed', routing='oracle', task=cat, image_auroc=b + .03)]
    routed = evaluate_claim(c, PAPER, rows)
    assert [(x['label'], x['verdict']) for x in routed] == [('paper claim', 'not testable here'), ('different setting', 'not testable here')]
    assert routed[0]['reason'].startswith("no run of ours has the paper's base (base_protocol=one-memory)")
    assert routed[1]['reason'].startswith('different setting: task-routed PatchCore (cannot forget); ours: gain -0.010')
    forgets = [dict(r, base_protocol='one-memory', image_auroc=r['image_auroc'] - .10) for r in rows if r['method'] == 'patchcore']
    dfm_one = [dict(r, base_protocol='one-memory', image_auroc=r['image_auroc'] + .001) for r in rows if r['method'] == 'dfm']   # DFM in the same run
    for r in rows: r.setdefault('base_protocol', 'task-routed')                                       # every row says its protocol
    both = evaluate_claim(c, PAPER, rows + forgets + dfm_one)
    assert [(x['label'], x['verdict']) for x in both] == [('paper claim', 'holds here'), ('different setting', 'not testable here')]
    assert both[0]['our_gain'] == pytest.approx(.091) and both[0]['n_categories'] == 4     # the one-memory PatchCore forgets: 0.83-0.88
    assert both[1]['our_gain'] == pytest.approx(-.01)                                    # DFM paired with the base of its own protocol

def test_rule_three_templates_are_not_the_full_shot_base():
    "CostFilter: the paper's base (AnomalDF) is full-shot; our base on the filter's 3 templates is labelled 'different setting: 3 templates'"
    c = claim(table='CostFilter Table 8', metric='pixel_ap', ours_method='experiment=costfilter;method=costfilter;config=default',
              ours_base='experiment=costfilter;method=anomalydino', base_rule='config=full-shot',
              base_other='3 templates (the filter\'s own references; the paper\'s base is full-shot)')
    p = table([dict(table='CostFilter Table 8', method='m', metric='pixel_ap', value=.678), dict(table='CostFilter Table 8', method='b', metric='pixel_ap', value=.613)])
    c.update(paper_method='method=m', paper_base='method=b')
    rows = []
    for s in range(3):
        src = f'records/claims/costfilter_{s}.json'                              # one multi-class run per seed
        for cat, b in (('bottle', .55), ('transistor', .40), ('toothbrush', .35)):
            rows += [row('costfilter', cat, s, src, method='costfilter', config='default', templates=3, pixel_ap=b + .03 + .01 * s),
                     row('costfilter', cat, s, src, method='anomalydino', config='default', templates=3, pixel_ap=b - .10),
                     row('costfilter', cat, s, src, method='anomalydino', config='full-shot', templates=None, pixel_ap=b)]
    l = evaluate_claim(c, p, rows)
    assert [(x['label'], x['verdict']) for x in l] == [('paper claim', 'holds here'), ('different setting', 'not testable here')]
    assert l[0]['our_gain'] == pytest.approx(.04) and l[1]['our_gain'] == pytest.approx(.14)     # the 3-template base flatters the filter
    assert l[1]['reason'].startswith('different setting: 3 templates')
    only3 = evaluate_claim(c, p, [r for r in rows if r.get('config') != 'full-shot'])
    assert [(x['label'], x['verdict']) for x in only3] == [('paper claim', 'not testable here'), ('different setting', 'not testable here')]

def test_rule_cross_dataset_claim_is_refused():
    "ADPretrain's ablations (ExpID 2.7 vs 2.2) are printed for VisA; our leave-one-category-out rows are MVTec AD: cross-dataset"
    assert rule_cross_dataset(['visa'], ['mvtec_ad', 'magnetic_tile']) == "the paper's gain is on visa; ours on magnetic_tile, mvtec_ad"
    c = claim(table='ADPretrain Table 2', metric='aupro_30', paper_filter='', paper_method='method=m', paper_base='method=b',
              ours_method='experiment=adpretrain;detector=patchcore;expid=2.7', ours_base='experiment=adpretrain;detector=patchcore;expid=2.2',
              ours_filter='setting=full')
    p = table([dict(table='ADPretrain Table 2', dataset='visa', method='m', metric='aupro_30', value=.87),
               dict(table='ADPretrain Table 2', dataset='visa', method='b', metric='aupro_30', value=.851)])
    rows = []
    for cat in ('bottle', 'transistor', 'toothbrush'):
        for s in range(3):
            src = f'records/adpretrain_loco_{cat}_{s}.json'
            rows += [row('adpretrain', cat, s, src, detector='patchcore', features='pretrained-paper', arm='pretrained', expid='2.7', setting='full', aupro_30=.80),
                     row('adpretrain', cat, s, src, detector='patchcore', features='pretrained-ours', arm='pretrained', expid='2.2', setting='full', aupro_30=.75),
                     row('adpretrain', cat, s, src, detector='patchcore', features='original', arm='original', expid='2.1', setting='full', aupro_30=.70)]
    l = evaluate_claim(c, p, rows)
    assert [(x['label'], x['verdict']) for x in l] == [('cross-dataset', 'not testable here')]
    assert l[0]['reason'].startswith("the paper's gain is on visa; ours on mvtec_ad; ours: gain +0.050")
    same = evaluate_claim(c, p.assign(dataset='mvtec_ad'), rows)                 # the same rows against an MVTec table: a verdict
    assert [(x['label'], x['verdict']) for x in same] == [('paper claim', 'holds here')]

def test_invented_comparison_is_our_question_not_a_paper_claim():
    "ADPretrain 2.4 vs 2.1 (residual alone vs original) is a comparison the paper never makes: kind=ours, label 'our question'"
    c = claim(kind='ours', ours_method='experiment=e;method=m', ours_base='experiment=e;method=b')
    l = evaluate_claim(c, PAPER, pair(['transistor', 'toothbrush', 'tile'], {'transistor': .8, 'toothbrush': .85, 'tile': .75}, .04))[0]
    assert (l['label'], l['verdict']) == ('our question', 'holds here')
    res = pd.DataFrame([l, evaluate_claim(claim(), PAPER, pair(['transistor'], .8, .04))[0]])
    assert res.main.tolist() == [True, True]
    assert verdict_counts(res).loc['all papers', 'total'] == 1                   # only the paper claim is counted

def test_synthetic_data_never_decides():
    rows = [dict(r, category=c2, params=dict(r['params'], dataset='embedded', data_root=''))
            for c2 in ('brick', 'puck', 'grass') for r in pair(['transistor'], .8, .05)]
    l = evaluate_claim(claim(), PAPER, rows)
    assert [(x['label'], x.get('data'), x['verdict']) for x in l] == [('paper claim', None, 'not testable here'), ('synthetic data', 'synthetic', 'not testable here')]

def test_rule_thin_evidence_is_inconclusive():
    "fewer than 3 informative categories, or fewer than 3 seeds of a random method: inconclusive, saying why"
    assert rule_evidence(2, 3, True) == '2 informative categories (< 3)' and rule_evidence(3, 2, True) == '2 seeds of a random method (< 3)'
    assert rule_evidence(3, 1, False) is None                                     # a deterministic method needs no seeds
    bases = {'transistor': .8, 'toothbrush': .85, 'tile': .75, 'bottle': 1.0, 'screw': .47}
    l = evaluate_claim(claim(), PAPER, pair(list(bases), bases, .04))[0]
    assert (l['verdict'], l['n_categories'], l['n_seeds']) == ('holds here', 3, 3)   # bottle saturated and screw at chance: left out, named
    assert l['excluded'].startswith('bottle: base 1.000 saturated') and 'screw: base 0.470 at chance' in l['excluded']
    assert l['our_categories'] == 'transistor, toothbrush (mvtec_ad); tile (magnetic_tile)'
    assert l['n_test'] == 'transistor 40+60, toothbrush 30+12, tile 392+191'
    two = evaluate_claim(claim(), PAPER, pair(['transistor', 'toothbrush', 'bottle'], bases, .04))[0]
    assert two['verdict'] == 'inconclusive here' and two['reason'].endswith('too thin to decide: 2 informative categories (< 3)')
    one_seed = evaluate_claim(claim(), PAPER, pair(['transistor', 'toothbrush', 'tile'], bases, .04, seeds=(0,)))[0]
    assert one_seed['verdict'] == 'inconclusive here' and '1 seed of a random method (< 3)' in one_seed['reason']
    det = evaluate_claim(claim(random='no'), PAPER, pair(['transistor', 'toothbrush', 'tile'], bases, .04, seeds=(0,)))[0]
    assert det['verdict'] == 'holds here'

def test_verdicts_from_the_interval():
    c = claim()
    small = evaluate_claim(c, PAPER, pair(['transistor', 'toothbrush', 'tile'], .8, .002))[0]
    assert small['verdict'] == 'does not hold here' and small['ci_high'] < .01
    noisy = [r if r['method'] == 'b' else dict(r, image_auroc=r['image_auroc'] + (.06 if r['seed'] == 0 else -.05)) for r in pair(['transistor', 'toothbrush', 'tile'], .8, .01)]
    assert evaluate_claim(c, PAPER, noisy)[0]['verdict'] == 'inconclusive here'

def test_ratio_gain_with_a_second_condition():
    "FAPM: row E at least x1.1 the FPS of row A, and image AUROC at most 0.01 lower: fast but worse -> does not hold"
    c = claim(metric='fps', gain='ratio', margin='1.1', ours_method='experiment=fapm;row=E', ours_base='experiment=fapm;row=A', co_metric='image_auroc',
              co_margin='-0.01', paper_method='method=m', paper_base='method=b')
    p = table([dict(method='m', metric='fps', unit='fps', value=44.1), dict(method='b', metric='fps', unit='fps', value=23.4)])
    rows = []
    for cat, drop in (('transistor', .0), ('toothbrush', .005), ('tile', .0)):
        for s in range(3):
            src = f'records/claims/fapm_{cat}_{s}.json'
            rows += [row('fapm', cat, s, src, row='E', fps=30. + s, image_auroc=.85 - drop), row('fapm', cat, s, src, row='A', fps=10., image_auroc=.85)]
    l = evaluate_claim(c, p, rows)[0]
    assert l['verdict'] == 'holds here' and l['our_gain'] == pytest.approx(np.exp(np.mean(np.log([3.0, 3.1, 3.2]))), rel=1e-3)
    worse = [dict(r, image_auroc=r['image_auroc'] - .08) if r['row'] == 'E' else r for r in rows]
    assert evaluate_claim(c, p, worse)[0]['verdict'] == 'does not hold here'

def test_bound_test_for_an_overhead():
    "CostFilter Table 6: base 0.31 s + 0.32 s added -> x2.03; ours base 50 ms + 48 ms added -> x1.96 <= x2.03 x 1.1: holds"
    c = claim(table='CostFilter Table 6', metric='ms_per_image', gain='ratio', margin='1.1', test='bound', random='no', paper_filter='',
              ours_method='experiment=costfilter;method=costfilter', ours_base='experiment=costfilter;method=anomalydino;config=full-shot')
    p = table([dict(table='CostFilter Table 6', method='m', metric='ms_per_image', unit='s', value=.32, protocol='time ADDED by the filter'),
               dict(table='CostFilter Table 6', method='b', metric='ms_per_image', unit='s', value=.31, protocol='base')])
    assert paper_gain(c, p)['gain'] == pytest.approx(.63 / .31)
    rows = [r for cat in ('bottle', 'transistor', 'toothbrush') for s in range(3) for r in
            (row('costfilter', cat, s, f'cf{s}.json', method='costfilter', ms_per_image=200., added_ms_per_image=48.),
             row('costfilter', cat, s, f'cf{s}.json', method='anomalydino', config='full-shot', ms_per_image=50.))]
    l = evaluate_claim(c, p, rows)[0]
    assert l['verdict'] == 'holds here' and l['our_gain'] == pytest.approx(98 / 50)
    slow = [dict(r, added_ms_per_image=150.) if r['method'] == 'costfilter' else r for r in rows]
    assert evaluate_claim(c, p, slow)[0]['verdict'] == 'does not hold here'

def test_written_off_claims_and_missing_runs():
    l = evaluate_claim(claim(not_testable='VisA: no data here'), PAPER, [])[0]
    assert (l['verdict'], l['reason']) == ('not testable here', 'VisA: no data here')
    l = evaluate_claim(claim(missing_reason='a DFM run'), PAPER, pair(['transistor'], .8, .05)[1::2])[0]
    assert l['reason'] == 'method rows: no row with method=m among the 3 passing the earlier filters (a DFM run)'

def test_other_runs_are_named():
    "two settings of ours measured the claim (crop 224 and no crop): the one judged, the other in other_runs with its own gain"
    rows = pair(['transistor', 'toothbrush', 'tile'], .8, .04)
    nocrop = [dict(r, params=dict(r['params'], crop=0), source=r['source'].replace('.json', '_nocrop.json'),
                   image_auroc=r['image_auroc'] - (.06 if r['method'] == 'm' else 0)) for r in rows[:2]]
    l = evaluate_claim(claim(), PAPER, rows + nocrop)[0]
    assert l['verdict'] == 'holds here' and l['other_runs'].startswith('records/claims/e_transistor_0_nocrop.json: -0.024 on transistor'), l['other_runs']

# ---------------------------------------------------------------- the claims file of the repository

def test_claims_file_loads_and_old_files_still_load(tmp_path):
    c = load_claims(ROOT/'reports'/'paper_tables'/'claims.csv')
    assert c.claim_id.is_unique and set(c.kind) == {'paper', 'ours'} and set(c.test) == {'gain', 'bound'}
    old = tmp_path/'claims.csv'
    pd.DataFrame([{k: claim()[k] for k in CLAIM_COLUMNS}]).to_csv(old, index=False)       # the columns before issue 29
    assert load_claims(old)[['kind', 'test', 'random']].values.tolist() == [['paper', 'gain', 'yes']]
    pd.DataFrame([{**claim(), 'test': 'bound'}]).to_csv(old, index=False)
    with pytest.raises(ClaimsError, match='a bound test compares ratios'): load_claims(old)

def test_every_headline_claim_is_present():
    "the issue's list: DFM vs UCAD, few-shot pixel AUROC, supervised real vs CutPaste, speed (Table 7), Table 5 ablations; FBFT speed"
    " (Table 3) and VisA segmentation; FAPM E vs D and B/C/D vs A; CostFilter pixel AUROC, overhead (Table 6), Table 4; ADPretrain"
    " 2.7 vs 2.2, 2.7 vs 2.5/2.6, 2.2 vs 2.3, few-shot FeatureNorm (Table 5)"
    c = load_claims(ROOT/'reports'/'paper_tables'/'claims.csv')
    ids = set(c.claim_id)
    need = {'dfm-vs-ucad', 'dfm-fewshot-k1-pixel', 'dfm-supervised-real-vs-cutpaste-auroc', 'dfm-speed', 'dfm-ablation-iterative-vs-joint',
            'dfm-continual', 'fbft-speed', 'fbft-visa-seg', 'fapm-adaptive-image', 'fapm-memory-B', 'fapm-memory-C', 'fapm-memory-D', 'fapm-fps',
            'costfilter-pixel-auroc', 'costfilter-overhead', 'costfilter-table4', 'adpretrain-patchcore-2.7-vs-2.2-aupro_30',
            'adpretrain-padim-2.7-vs-2.5', 'adpretrain-featurenorm-2.7-vs-2.6', 'adpretrain-patchcore-2.2-vs-2.3', 'adpretrain-fewshot-featurenorm'}
    assert need <= ids, need - ids
    assert set(c.paper) - {'patchcore'} <= set(PAPER_SETTINGS)                   # the backbone/resolution string once per paper
    nt = c[c.not_testable != '']
    assert (nt.not_testable.str.len() <= 110).all(), nt.not_testable.str.len().max()   # short and specific
    invented = c[c.claim_id.str.endswith(('-residual', '-over-residual'))]
    assert (invented.kind == 'ours').all()                                        # comparisons the paper never makes: our questions
    assert (c[c.claim_id.str.startswith('costfilter-') & (c.kind == 'paper') & (c.not_testable == '')].base_rule == 'config=full-shot').all()
    assert c.set_index('claim_id').loc['dfm-continual', 'base_rule'] == 'base_protocol=one-memory'
    assert c.set_index('claim_id').loc['fapm-fps', 'co_metric'] == 'image_auroc'

def test_paper_gains_from_the_tables():
    "gains read off the transcribed tables by hand"
    c = load_claims(ROOT/'reports'/'paper_tables'/'claims.csv').set_index('claim_id')
    t = load_paper_tables(ROOT/'reports'/'paper_tables')
    g = lambda i: paper_gain(dict(c.loc[i], claim_id=i), t)['gain']
    assert g('fapm-fps') == pytest.approx(44.1 / 23.4) and g('fapm-memory-C') == pytest.approx(35.7 / 23.4)
    assert g('fapm-adaptive-image') == pytest.approx(.99 - .984)
    assert g('costfilter-aupro') == pytest.approx(.942 - .936) and g('costfilter-overhead') == pytest.approx(.63 / .31)
    assert g('dfm-continual') == pytest.approx(.969 - .669) and g('dfm-fewshot-k1-pixel') == pytest.approx(.963 - .901)
    assert g('adpretrain-featurenorm-2.7-vs-2.2-image_auroc') == pytest.approx(.942 - .829)
    assert g('dfm-speed') == pytest.approx(49.9 / 20.32)

@pytest.mark.slow
def test_committed_records_never_decide_on_chance_or_synthetic_data():
    "on the repository's records: a decisive verdict rests on real data, the paper's base, >= 3 informative categories, >= 3 seeds where random"
    c = load_claims(ROOT/'reports'/'paper_tables'/'claims.csv')
    res = evaluate_claims(c, load_paper_tables(ROOT/'reports'/'paper_tables'), collect(ROOT/'reports'/'records'))
    d = res[res.verdict.isin(['holds here', 'does not hold here'])]
    rnd = dict(zip(c.claim_id, c.random))
    assert (d.data == 'real').all() and d.label.isin(['paper claim', 'our question']).all()
    assert (d.n_categories >= 3).all() and (d.n_seeds[d.claim_id.map(rnd) == 'yes'] >= 3).all()
    assert set(res.verdict) <= set(VERDICTS) and set(res.paper) == {'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain', 'patchcore'}
    assert res.groupby('claim_id').main.sum().eq(1).all() and set(res.claim_id) == set(c.claim_id)     # one line of its own per claim
    no_gain = set(res[res.main & res.paper_gain.isna()].claim_id)                     # every claim finds its gain in the transcribed table,
    assert no_gain <= {'costfilter-table4'} | {i for i in c.claim_id if i.startswith('dfm-supervised')}, no_gain   # but a figure / an unreadable table

def test_rule_aupro_base_at_chance_is_not_testable():
    "A map without signal has PRO(FPR) = FPR, so normalised AUPRO@30 % sits at 0.15: a base there cannot show a gain."
    assert rule_base_level('aupro_30', .124, None, .01) == 'base 0.124 at chance (0.15 + 0.05 for a map without signal)'
    assert rule_base_level('aupro_5', .05, None, .01).startswith('base 0.050 at chance (0.025')
    assert rule_base_level('aupro_30', .80, None, .01) is None
