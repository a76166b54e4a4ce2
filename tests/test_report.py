"""The reproduction report: collect results rows, check paper tables and claims, compare like for like only, judge the
claims by the pre-registered rule, and build one offline HTML page with comparisons.csv and claims.csv beside it."""
import json, re
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from adnb.experiment import write_results
from adnb.results import collect, read_runs, save_runs, sanitize_command
from adnb.papers import TABLE_COLUMNS, PaperTableError, load_paper_tables, match, class_counts, paper_categories, paper_increment
from adnb.claims import CLAIM_COLUMNS, ClaimsError, VERDICTS, load_claims, evaluate_claims
from adnb.report import CDN, leaderboard, build_report

ROOT = Path(__file__).resolve().parents[1]
HEAD = ','.join(TABLE_COLUMNS)
# hand-made paper rows: PatchCore on bottle and screw (our counterparts differ in backbone and resolution), its mean over
# MVTec AD, a VisA mean, FPS on a GPU, a 2-shot number, a carpet number we have no run for, a time increment (CostFilter
# Table 6 style) and a baseline with no counterpart among our experiments
PAPER = [
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,image_auroc,1.0,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,pixel_auroc,0.986,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,mean,image_auroc,0.991,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,fps,20,fps,wide_resnet50_2,256->224,full,one NVIDIA RTX-3090,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,carpet,image_auroc,0.987,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'fapm,Table 1,spade,mvtec_ad,bottle,image_auroc,0.97,fraction,,,full,"quoted, ""as printed""",,FAPM Table 1',
    'patchcore,Table 1,patchcore,mvtec_ad,screw,image_auroc,0.981,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 2,patchcore,visa,mean,image_auroc,0.95,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 3,patchcore,mvtec_ad,bottle,image_auroc,0.9,fraction,wide_resnet50_2,256->224,2,2-shot,experiment=patchcore;method=patchcore,',
    'costfilter,Table 6,anomalydino+costfilter,mvtec_ad,bottle,ms_per_image,0.32,s,,256,full,time ADDED by the filter per image; one NVIDIA RTX-3090,experiment=patchcore;method=patchcore,',
]
CLAIMS = [dict(claim_id='pc-padim', paper='patchcore', claim='PatchCore beats PaDiM', table='Table 1', metric='image_auroc', gain='difference',
               direction='higher', margin='0.01', paper_method='method=patchcore', paper_base='method=padim', paper_filter='category=mean',
               ours_method='experiment=patchcore;method=patchcore', ours_base='experiment=patchcore;method=padim', ours_filter='', pairing='data',
               co_metric='', co_margin='', missing_reason='needs both on the same data', notes=''),
          dict(claim_id='dfm-k1', paper='dfm', claim='DFM beats frozen PatchCore, K = 1', table='Table 1', metric='image_auroc', gain='difference',
               direction='higher', margin='0.01', paper_method='method=patchcore', paper_base='method=padim', paper_filter='category=mean',
               ours_method='experiment=dfm;method=dfm', ours_base='experiment=dfm;method=patchcore', ours_filter='shots=1', pairing='run',
               co_metric='', co_margin='', missing_reason='the DFM few-shot run writes both', notes='')]
PADIM = 'patchcore,Table 1,padim,mvtec_ad,mean,image_auroc,0.95,fraction,wide_resnet50_2,256->224,full,one model per category,,quoted'

def _tables(d:Path, rows=PAPER, claims=None)->Path:
    d.mkdir(parents=True, exist_ok=True); (d/'t.csv').write_text('\n'.join([HEAD, *rows]) + '\n')
    if claims is not None: pd.DataFrame(claims, columns=list(CLAIM_COLUMNS)).to_csv(d/'claims.csv', index=False)
    return d

def _params(**kw): return dict(dataset='mvtec_ad', data_root='/data/mvtec_ad_256', backbone='efficientnet_lite0', image_size=256, crop=0, device='cpu') | kw

def _runs(root:Path)->Path:
    "Tiny runs in the results.json schema (written by the experiments' own writer), one of them also as a record."
    rows = [dict(category='bottle', method='patchcore', image_auroc=0.99, pixel_auroc=0.97, aupro_30=0.9, ms_per_image=50.0),
            dict(category='screw', method='patchcore', image_auroc=0.70, ms_per_image=40.0)]            # screw: no masks, no pixel keys
    (root/'patchcore'/'r1').mkdir(parents=True)
    p = write_results('patchcore', _params(method='patchcore'), rows, root/'patchcore'/'r1')
    (root/'dfm'/'r1').mkdir(parents=True)
    write_results('dfm', _params(method='dfm'), [dict(category='bottle', method='dfm', shots=1, image_auroc=0.95)], root/'dfm'/'r1')
    (root/'records').mkdir()
    (root/'records'/'pc.json').write_text(json.dumps({**json.loads(p.read_text()), 'note': 'tiny',
                                                       'command': 'flock /tmp/adnb_heavy.lock adnb run patchcore -p data_root /work/shared/data/mvtec_ad_256 --reports /tmp/r'}))
    (root/'records'/'speed.txt').write_text('not json')
    (root/'records'/'bench.json').write_text(json.dumps(dict(benchmark='aupro', seconds=[1, 2])))
    (root/'patchcore'/'r2').mkdir(); (root/'patchcore'/'r2'/'results.json').write_text('{"experiment": "patchcore", "resu')  # killed mid-write
    (root/'patchcore'/'r3').mkdir(); (root/'patchcore'/'r3'/'results.json').write_text(p.read_text())                   # a failed batch run
    (root/'patchcore'/'r3'/'run.json').write_text('{"status": "failed"}')
    return root

def _seeds(root:Path)->Path:
    "Fixture records for the claims: PaDiM beside PatchCore on bottle; a DFM few-shot run with three seeds; an embedded run."
    (root/'records').mkdir(parents=True, exist_ok=True)
    rec = lambda exp, rows, **kw: dict(experiment=exp, profile='paper', params=_params(**kw), env=dict(device='cpu'), results=rows,
                                       command=f'adnb run {exp}', note='fixture')
    (root/'records'/'padim.json').write_text(json.dumps(rec('patchcore', [dict(category='bottle', method='padim', image_auroc=0.93)], method='padim')))
    few = [dict(category='bottle', method=m, setting='fewshot', shots=1, seed=s, image_auroc=v)
           for s, (d, p) in enumerate(((0.90, 0.80), (0.92, 0.86), (0.88, 0.78))) for m, v in (('dfm', d), ('patchcore', p))]
    (root/'records'/'dfm_few.json').write_text(json.dumps(rec('dfm', few, setting='fewshot', shots=[1])))
    emb = [dict(category=c, method=m, setting='fewshot', shots=1, seed=0, image_auroc=v) for c in ('brick', 'puck') for m, v in (('dfm', 1.0), ('patchcore', 1.0))]
    (root/'records'/'dfm_more.json').write_text(json.dumps(rec('dfm', emb, dataset='embedded', data_root='', setting='fewshot', shots=[1])))
    return root

def test_collect_rows_sources_duplicates_and_skips(tmp_path):
    df = collect(_runs(tmp_path))
    assert list(zip(df.experiment, df.category, df.source)) == [('patchcore', 'bottle', 'records/pc.json'), ('patchcore', 'screw', 'records/pc.json'),
                                                                ('dfm', 'bottle', 'dfm/r1/results.json')]
    assert df.also_in.tolist() == ['patchcore/r1/results.json'] * 2 + ['']        # the record and its run: one row, both places named
    assert df.params[2]['method'] == 'dfm' and df.profile.isna().all()
    assert pd.isna(df.pixel_auroc[1])                                               # absent stays absent, never 0
    assert df.attrs['incomplete'] == [('patchcore/r3', "run.json says status 'failed', not done")]   # never read, said so
    sk = dict(df.attrs['skipped'])
    assert sk['records/bench.json'].startswith('not a results record') and sk['patchcore/r2/results.json'].startswith('not readable as JSON')
    back = read_runs(save_runs(df, tmp_path/'runs'))
    assert back.params.tolist() == df.params.tolist() and back.image_auroc.tolist() == df.image_auroc.tolist()

def test_collect_empty_and_missing(tmp_path):
    df = collect(tmp_path)
    assert len(df) == 0 and {'experiment', 'source', 'params'} <= set(df.columns) and df.attrs['skipped'] == []
    with pytest.raises(FileNotFoundError, match='no runs folder'): collect(tmp_path/'nope')

@pytest.mark.parametrize('bad, msg', [
    (PAPER[0].replace(',1.0,', ',99.2,'), 'value 99.2 is outside [0, 1]'),
    (PAPER[0].replace(',fraction,', ',percent,'), "unit 'percent' does not fit metric image_auroc"),
    (PAPER[0].replace('image_auroc', 'auroc'), "metric 'auroc' is not one of"),
    (PAPER[0].replace('experiment=patchcore;method=patchcore', 'method=patchcore'), 'ours: filters must start with experiment=<name>'),
    (PAPER[0].replace(',full,', ',few,'), "shots 'few' is not a count or 'full'"),
    (PAPER[0].replace('patchcore,Table 1', 'patchcore2,Table 1'), "paper 'patchcore2' is not one of"),
    (PAPER[3].replace(',20,', ',-1,'), 'value -1 is negative'),
])
def test_paper_table_errors_name_file_and_line(tmp_path, bad, msg):
    d = _tables(tmp_path/'t', [PAPER[1], bad])
    with pytest.raises(PaperTableError) as e: load_paper_tables(d)
    assert f"{d/'t.csv'} row 2 (line 3): {msg}" in str(e.value)

def test_paper_table_missing_columns_and_folder(tmp_path):
    d = tmp_path/'t'; d.mkdir(); (d/'x.csv').write_text('paper,table,method\nfapm,T2,fapm\n')
    with pytest.raises(PaperTableError, match=r'x.csv: missing column\(s\) dataset, category, metric'): load_paper_tables(d)
    with pytest.raises(PaperTableError, match='no paper tables folder'): load_paper_tables(tmp_path/'nope')
    t = load_paper_tables(_tables(tmp_path/'ok', claims=CLAIMS))                   # claims.csv beside the tables is not read as a table
    assert len(t) == len(PAPER) and t.value.dtype == float and t.notes[5] == 'FAPM Table 1' and t.protocol[5] == 'quoted, "as printed"'

def test_claims_file_errors(tmp_path):
    d = _tables(tmp_path/'t', claims=[CLAIMS[0], dict(CLAIMS[1], gain='percent', pairing='any', ours_base='method=x')])
    with pytest.raises(ClaimsError) as e: load_claims(d/'claims.csv')
    m = str(e.value)
    assert "line 3 (dfm-k1): gain 'percent' is not difference|ratio" in m and "pairing 'any' is not run|data" in m
    assert 'ours_base: filters must start with experiment=<name>' in m
    pd.DataFrame([CLAIMS[0]] * 2).to_csv(d/'claims.csv', index=False)
    with pytest.raises(ClaimsError, match="claim_id given twice: \\['pc-padim'\\]"): load_claims(d/'claims.csv')

def _no_unlike_delta(m:pd.DataFrame):
    "The issue's rule on every line that shows a delta: same dataset, same categories, an increment only against an increment."
    shown = m[m.delta.notna()]
    assert (shown['class'] == 'like for like').all()
    assert (shown.paper_dataset == shown.our_dataset).all(), shown[shown.paper_dataset != shown.our_dataset]
    for r in shown.itertuples():
        ours = sorted(r.our_categories.split(', '))
        if r.paper_category == 'mean': assert ours == sorted(paper_categories(r.paper_dataset)), r
        elif r.paper_category.startswith('mean of '): assert ours == sorted(r.paper_category[8:].split(', ')), r
        else: assert ours == [r.paper_category], r
        assert paper_increment(dict(protocol=r.protocol)) == str(r.ours_key).startswith('added_'), r

def test_match_like_for_like_only(tmp_path):
    m = match(load_paper_tables(_tables(tmp_path/'t')), collect(_runs(tmp_path/'r')))
    _no_unlike_delta(m)
    got = dict(zip(zip(m.table, m.method, m.paper_category, m.metric), m['class']))
    assert got == {('Table 1', 'patchcore', 'bottle', 'image_auroc'): 'like for like', ('Table 1', 'patchcore', 'bottle', 'pixel_auroc'): 'like for like',
                   ('Table 1', 'patchcore', 'mean', 'image_auroc'): 'different categories',           # the paper's mean over 15 vs our two
                   ('Table 1', 'patchcore', 'mean of bottle, screw', 'image_auroc'): 'like for like',  # the paper's mean over our two
                   ('Table 1', 'patchcore', 'bottle', 'fps'): 'different hardware', ('Table 1', 'patchcore', 'carpet', 'image_auroc'): 'no run',
                   ('Table 1', 'spade', 'bottle', 'image_auroc'): 'no counterpart', ('Table 1', 'patchcore', 'screw', 'image_auroc'): 'like for like',
                   ('Table 2', 'patchcore', 'mean', 'image_auroc'): 'different dataset', ('Table 3', 'patchcore', 'bottle', 'image_auroc'): 'different setting',
                   ('Table 6', 'anomalydino+costfilter', 'bottle', 'ms_per_image'): 'different metric kind'}
    line = lambda t, c, k: m[(m.table == t) & (m.paper_category == c) & (m.metric == k)].iloc[0]
    assert line('Table 1', 'bottle', 'image_auroc').delta == pytest.approx(-0.01)
    d = line('Table 1', 'mean of bottle, screw', 'image_auroc')
    assert (d.paper_value, d.ours, d.delta) == pytest.approx(((1.0 + 0.981) / 2, (0.99 + 0.70) / 2, 0.845 - 0.9905))
    assert pd.isna(line('Table 1', 'mean', 'image_auroc').ours) and pd.isna(line('Table 2', 'mean', 'image_auroc').ours)   # no value of ours across
    inc = line('Table 6', 'bottle', 'ms_per_image')
    assert pd.isna(inc.delta) and inc.ours == 50.0 and inc.reason.startswith('metric kind: paper the increment the filter adds, ours a total')
    assert line('Table 2', 'mean', 'image_auroc').reason.startswith('dataset: paper visa, ours mvtec_ad (mvtec_ad_256)')
    assert line('Table 1', 'bottle', 'image_auroc').differences == 'backbone: paper wide_resnet50_2, ours efficientnet_lite0; resolution: paper 256->224, ours 256'
    assert m.delta.notna().sum() == 4 and class_counts(m).loc['all papers', 'total'] == len(m) == len(PAPER) + 1
    # with an increment of ours on the paper's hardware the time line is like for like
    runs = collect(_runs(tmp_path/'r2'))
    runs = runs.assign(added_ms_per_image=30.0, env=[dict(device='cuda', device_name='NVIDIA RTX-3090', threads=8)] * len(runs))
    t6 = match(load_paper_tables(_tables(tmp_path/'t6', [PAPER[9]])), runs)
    assert t6[['class', 'ours', 'delta']].values.tolist() == [['like for like', 30.0, pytest.approx(30.0 - 320.0)]]
    _no_unlike_delta(t6)

def test_claims_verdicts_hand_checked(tmp_path):
    "PatchCore over PaDiM on bottle: +0.06 on one category and one seed -> inconclusive (thin evidence, said why); DFM over PatchCore,"
    " three seeds of bottle: gains +.10 +.06 +.10 -> mean +0.0867, sd 0.0231, still one category -> inconclusive; on the embedded set"
    " both score 1.0 -> shown apart as synthetic data, not testable. The rules themselves are in test_claims.py."
    root = _seeds(_runs(tmp_path/'r'))
    res = evaluate_claims(load_claims(_tables(tmp_path/'t', PAPER + [PADIM], CLAIMS)/'claims.csv'), load_paper_tables(tmp_path/'t'), collect(root))
    got = res[['claim_id', 'label', 'our_dataset', 'our_categories', 'verdict']].values.tolist()
    assert got == [['pc-padim', 'paper claim', 'mvtec_ad', 'bottle (mvtec_ad)', 'inconclusive here'],
                   ['dfm-k1', 'paper claim', 'mvtec_ad', 'bottle (mvtec_ad)', 'inconclusive here'],
                   ['dfm-k1', 'synthetic data', 'embedded', 'brick, puck (embedded)', 'not testable here']]
    assert res.main.tolist() == [True, True, False]                                 # one line of its own per claim
    assert res.paper_gain[0] == pytest.approx(0.991 - 0.95) and res.our_gain[0] == pytest.approx(0.06)
    assert (res.base_value[0], res.method_value[0]) == pytest.approx((0.93, 0.99))
    assert res.our_gain[1] == pytest.approx((0.10 + 0.06 + 0.10) / 3) and res.our_gain_sd[1] == pytest.approx(np.std([.10, .06, .10], ddof=1))
    assert res.n_seeds[1] == 3 and res.n_categories[1] == 1
    assert res.reason[0].endswith('too thin to decide: 1 informative category (< 3); 1 seed of a random method (< 3)'), res.reason[0]
    assert res.reason[1].endswith('too thin to decide: 1 informative category (< 3)'), res.reason[1]
    assert res.reason[2].startswith('synthetic data (the embedded set)')
    assert 'base and method from two runs on the same data' in res.differences[0]         # pairing=data: PaDiM and PatchCore records
    # no DFM run at all: one 'not testable here' line that says what is missing
    r3 = evaluate_claims(load_claims(tmp_path/'t'/'claims.csv'), load_paper_tables(tmp_path/'t'), collect(_runs(tmp_path/'bare')))
    assert r3[r3.claim_id == 'dfm-k1'][['verdict', 'reason']].values.tolist() == [
        ['not testable here', 'base rows: no row with method=patchcore among the 1 passing the earlier filters (the DFM few-shot run writes both)']]

def test_records_like_for_like():
    "On the repository's own records and paper tables: no delta across datasets, means and single categories, increments and totals."
    runs, tables = collect(ROOT/'reports'/'records'), load_paper_tables(ROOT/'reports'/'paper_tables')
    m = match(tables, runs)
    _no_unlike_delta(m)
    assert class_counts(m).loc['all papers', 'total'] == len(m) >= len(tables)
    cf = m[(m.table == 'CostFilter Table 6') & m.method.str.endswith('+costfilter')]
    assert cf.delta.isna().all()                                                      # the paper's increments never against our totals
    nc = m[(m.table == 'ADPretrain Table 1') & m.method.str.split('+').str[0].isin(['cflow', 'glass', 'uniad'])]
    assert len(nc) == 300 and (nc['class'] == 'no counterpart').all()                # never "no run": no run of ours can fill them

def test_leaderboard_one_line_per_setting(tmp_path):
    b = leaderboard(collect(_seeds(_runs(tmp_path))))
    assert sorted(b[['dataset', 'category', 'method', 'seeds']].values.tolist()[:4]) == [
        ['embedded', 'brick', 'dfm · fewshot · 1-shot', 1], ['embedded', 'brick', 'patchcore · fewshot · 1-shot', 1],
        ['embedded', 'puck', 'dfm · fewshot · 1-shot', 1], ['embedded', 'puck', 'patchcore · fewshot · 1-shot', 1]]
    few = b[(b.dataset == 'mvtec_ad') & (b.method == 'dfm · fewshot · 1-shot')]
    assert few.seeds.tolist() == [3] and few.image_auroc.tolist() == pytest.approx([0.90]) and few.image_auroc_sd.tolist() == pytest.approx([0.02])
    assert not b.duplicated(['dataset', 'category', 'method', 'data', 'resolution']).any() and 'bottle' not in set(b[b.dataset == 'embedded'].category)

def test_sanitize_commands():
    assert sanitize_command('flock /tmp/adnb_heavy.lock adnb run dfm -p task_root /work/shared/data/mvtec_ad_256 --reports /tmp/x') == \
        'adnb run dfm -p task_root ../shared/data/mvtec_ad_256'
    assert sanitize_command('/work/bin/heavy --name cf -- adnb run costfilter -p epochs 4   (PYTHONPATH=/work/main)') == 'adnb run costfilter -p epochs 4'

def _page_checks(html:Path):
    h = html.read_text()
    assert not CDN.search(h), CDN.search(h)
    assert not re.search(r'<script[^>]+src\s*=\s*["\']?https?:', h) and 'cdn.plot.ly' not in h
    assert h.count('window.adnbPlotly=') <= 1                       # plotly.js embedded once at most (none without figures)
    return h

@pytest.fixture(scope='module')
def tiny_report(tmp_path_factory):
    d = tmp_path_factory.mktemp('rep')
    return build_report(_seeds(_runs(d/'runs')), d/'out', tables_dir=_tables(d/'tables', PAPER + [PADIM], CLAIMS))

def test_report_on_tiny_results(tiny_report):
    h = _page_checks(tiny_report)
    out = tiny_report.parent
    assert (out/'index.ipynb').is_file() and len(pd.read_csv(out/'runs.csv')) == 14
    comp, cl = pd.read_csv(out/'comparisons.csv'), pd.read_csv(out/'claims.csv')
    _no_unlike_delta(comp.assign(our_categories=comp.our_categories.fillna(''), paper_category=comp.paper_category.astype(str)))
    assert {'paper', 'table', 'metric', 'paper_dataset', 'paper_category', 'our_dataset', 'our_categories', 'paper_value', 'ours', 'delta',
            'class', 'reason'} <= set(comp.columns) and len(comp) == len(PAPER) + 2
    assert cl[['claim_id', 'label', 'verdict']].values.tolist() == [['pc-padim', 'paper claim', 'inconclusive here'], ['dfm-k1', 'paper claim', 'inconclusive here'],
                                                                    ['dfm-k1', 'synthetic data', 'not testable here']]
    assert {'our_categories', 'n_categories', 'n_seeds', 'n_test', 'base_value', 'method_value', 'our_gain', 'ci_low', 'ci_high', 'excluded',
            'caveats', 'other_runs'} <= set(cl.columns)                                 # what each verdict rests on, in the CSV too
    assert '14 result rows' in h and '11 paper numbers' in h and '12 comparison lines' in h and '2 claims' in h
    assert 'PatchCore beats PaDiM' in h and 'inconclusive here' in h and 'patchcore · Table 1' in h
    assert 'rests on' in h and 'bottle (mvtec_ad) x 3 seeds' in h and 'too thin to decide' in h and 'synthetic data: pipeline checks' in h
    assert not [f.name for f in out.iterdir() if f.name.startswith('.')]                 # no temporary file left: every file written whole
    assert 'adnb run patchcore -p data_root ../shared/data/mvtec_ad_256' in h and '/tmp/adnb_heavy.lock' not in h   # sources a user can rerun
    assert h.count('window.adnbPlotly=') == 1 and h.count('class="adnb-fig"') >= 3       # like-for-like scatter, bars per dataset, score vs speed
    import nbformat
    nb = nbformat.read(out/'index.ipynb', as_version=4)
    assert not [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if o.output_type == 'error']

def test_report_on_no_runs_and_no_tables(tmp_path):
    (tmp_path/'runs').mkdir(); (tmp_path/'tables').mkdir()
    h = _page_checks(build_report(tmp_path/'runs', tmp_path/'out', tables_dir=tmp_path/'tables'))
    assert '0 result rows' in h and 'No results under' in h and 'No paper numbers to compare' in h and 'No claims file' in h
    assert (tmp_path/'out'/'comparisons.csv').is_file() and (tmp_path/'out'/'claims.csv').is_file()

def test_report_bad_input_before_kernel(tmp_path):
    with pytest.raises(FileNotFoundError, match='no runs folder'): build_report(tmp_path/'nope', tmp_path/'out')
    (tmp_path/'runs').mkdir()
    with pytest.raises(PaperTableError, match=r't.csv row 1 \(line 2\): value 99.2'):
        build_report(tmp_path/'runs', tmp_path/'out', tables_dir=_tables(tmp_path/'t', [PAPER[0].replace(',1.0,', ',99.2,')]))
    with pytest.raises(ClaimsError, match="direction 'up' is not higher|lower"):
        build_report(tmp_path/'runs', tmp_path/'out', tables_dir=_tables(tmp_path/'t2', claims=[dict(CLAIMS[0], direction='up')]))
    assert not (tmp_path/'out').exists()                             # nothing executed, nothing written

def test_continual_task_list_and_forgetting(tmp_path):
    "A continual run on 2 embedded tasks then MVTec bottle against the paper's 15 MVTec tasks: its bottle task and its"
    " forgetting are shown for reference (a different task list), never with a delta; the bottle task is MVTec AD, not embedded"
    prot = 'continual, UCAD protocol: 15 MVTec AD tasks learned in sequence, evaluated after the last task'
    rows = [f'dfm,Table 1,dfm,mvtec_ad,bottle,image_auroc,0.997,fraction,,,full,"{prot}",experiment=dfm;method=dfm;setting=continual,',
            f'dfm,Table 1,dfm,mvtec_ad,mean,forgetting,0.015,fraction,,,full,"{prot}; forgetting measure (FM) of image_auroc",experiment=dfm;method=dfm;setting=continual,']
    tasks = [dict(category=c, task=i, method='dfm', setting='continual', image_auroc=v) for i, (c, v) in enumerate((('brick', .9), ('puck', .8), ('bottle', .98)))]
    mean = dict(category='mean', task='mean', method='dfm', setting='continual', image_auroc=.893, forgetting_image_auroc=0.0)
    (tmp_path/'r'/'records').mkdir(parents=True)
    (tmp_path/'r'/'records'/'c.json').write_text(json.dumps(dict(experiment='dfm', params=dict(dataset='embedded', category='brick,puck,mvtec_ad:bottle',
                                                                                              task_root='x/mvtec_ad_256', setting='continual'), results=tasks + [mean])))
    m = match(load_paper_tables(_tables(tmp_path/'t', rows)), collect(tmp_path/'r'))
    assert m['class'].tolist() == ['different setting'] * 2 and m.delta.isna().all()
    assert m.ours.tolist() == pytest.approx([0.98, 0.0]) and m.ours_key[1] == 'forgetting_image_auroc'
    assert m.our_dataset.tolist() == ['mvtec_ad', 'embedded + mvtec_ad']
    assert m.reason[0] == 'continual task list: paper 15 MVTec AD tasks (bottle first), ours 3 tasks: brick (embedded), puck (embedded), bottle'
    b = leaderboard(collect(tmp_path/'r'))
    assert dict(zip(b.category, b.dataset)) == {'bottle': 'mvtec_ad', 'brick': 'embedded', 'puck': 'embedded'}   # no MVTec bottle among embedded

@pytest.mark.slow   # the whole report over this checkout's records (~50 s); nbs/reports/.notest keeps it out of the default nbdev-test
def test_report_on_the_checkout_records(tmp_path):
    "The report notebook over every committed record and the checkout's paper tables and claims builds without an error cell."
    root = Path(__file__).resolve().parents[1]
    h = _page_checks(build_report(root/'reports'/'records', tmp_path/'out', tables_dir=root/'reports'/'paper_tables'))
    import nbformat
    nb = nbformat.read(tmp_path/'out'/'index.ipynb', as_version=4)
    assert not [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if o.output_type == 'error']
    cl = pd.read_csv(tmp_path/'out'/'claims.csv')
    assert len(cl) and set(cl.verdict) <= set(VERDICTS) and 'claims' in h
