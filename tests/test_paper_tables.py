"""Schema and range checks of the transcribed paper tables in reports/paper_tables/*.csv (issues 15, 20).

Each file holds one row per number printed in a paper's table; see reports/paper_tables/README.md. claims.csv beside
them is not a table (tests/test_report.py checks it)."""
import csv, importlib, math, re, sys
from collections import defaultdict
from pathlib import Path
import pytest

DIR = Path(__file__).resolve().parents[1] / 'reports' / 'paper_tables'
PAPERS = ('patchcore', 'padim', 'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain')
COLUMNS = ['paper', 'table', 'method', 'dataset', 'category', 'metric', 'value', 'sd', 'unit', 'backbone', 'resolution', 'shots',
           'protocol', 'ours', 'notes']
RATES = {'image_auroc', 'image_ap', 'pixel_auroc', 'pixel_ap', 'aupro_30', 'aupro_5', 'rho', 'rho_30', 'rho_5', 'image_f1max',
         'pixel_f1max', 'forgetting', 'routing_accuracy', *(f'aupro_{l}_{q}' for l in (30, 5) for q in ('q1', 'q2', 'q3', 'qmean'))}
UNITS = {**{m: {'fraction'} for m in RATES}, 'fps': {'fps'}, 'ms_per_image': {'ms', 's'}, 'peak_mem_mb': {'MB', 'GB'},
         'params_m': {'M'}, 'gflops': {'GFLOPs'}, 'train_s': {'s', 'h'}}
PAPERS_TXT = DIR.parents[1].parent / 'shared' / 'papers'
needs_papers = pytest.mark.skipif(not PAPERS_TXT.is_dir(), reason=f"papers' text not found at {PAPERS_TXT}")
DATASETS = {'mvtec_ad', 'visa', 'btad', 'mvtec_3d', 'mpdd', 'any'}
MVTEC = {'bottle', 'cable', 'capsule', 'carpet', 'grid', 'hazelnut', 'leather', 'metal_nut', 'pill', 'screw', 'tile', 'toothbrush',
         'transistor', 'wood', 'zipper'}
VISA = {'candle', 'capsules', 'cashew', 'chewinggum', 'fryum', 'macaroni1', 'macaroni2', 'pcb1', 'pcb2', 'pcb3', 'pcb4', 'pipe_fryum'}
EXPERIMENTS = {'patchcore', 'fapm', 'fbft', 'dfm', 'costfilter', 'adpretrain'}
FILTER_KEYS = {'experiment', 'method', 'category', 'setting', 'shots', 'task', 'seed', 'detector', 'features', 'row', 'profile',
               'backbone', 'image_size', 'config', 'train_dist', 'infer_dist', 'routing'}
KEY = ('paper', 'table', 'method', 'dataset', 'category', 'metric', 'backbone', 'resolution', 'shots', 'protocol')

def read(paper):
    with open(DIR / f'{paper}.csv', newline='', encoding='utf-8') as f:
        r = csv.reader(f); head = next(r)
        return head, [dict(zip(head, row)) for row in r]

def parse_ours(s):
    "'experiment=dfm;shots=1' -> {'experiment': 'dfm', 'shots': '1'}; raises ValueError on a malformed filter"
    out = {}
    for part in s.split(';'):
        k, eq, v = part.partition('=')
        if not eq or not k or not v: raise ValueError(f'filter {part!r} is not key=value')
        if k in out: raise ValueError(f'filter key {k!r} given twice')
        out[k] = v
    if next(iter(out)) != 'experiment': raise ValueError(f'{s!r} does not start with experiment=')
    return out

def test_parse_ours():
    assert parse_ours('experiment=dfm;method=dfm;setting=fewshot;shots=1') == dict(experiment='dfm', method='dfm', setting='fewshot', shots='1')
    assert parse_ours('experiment=fbft;config={"layers": [8, 12]}')['config'] == '{"layers": [8, 12]}'
    for bad, msg in (('method=dfm;experiment=dfm', 'does not start'), ('experiment=dfm;shots', 'not key=value'),
                     ('experiment=dfm;shots=1;shots=2', 'given twice'), ('experiment=dfm;', 'not key=value')):
        with pytest.raises(ValueError, match=msg): parse_ours(bad)

def test_every_paper_has_a_file_and_the_readme_names_it():
    readme = (DIR / 'README.md').read_text()
    assert sorted(p.stem for p in DIR.glob('*.csv') if p.name != 'claims.csv') == sorted(PAPERS)
    for p in PAPERS: assert f'{p}.csv' in readme

@pytest.mark.parametrize('paper', PAPERS)
def test_schema_and_ranges(paper):
    head, rows = read(paper)
    assert head == COLUMNS
    assert len(rows) > 0
    problems = []
    for i, r in enumerate(rows, start=2):
        bad = lambda msg: problems.append(f'{paper}.csv line {i}: {msg}')
        if r['paper'] != paper: bad(f"paper {r['paper']!r} in {paper}.csv")
        if not re.fullmatch(r'(FAPM|FBFT|DFM|CostFilter|ADPretrain) Table \d+', r['table']): bad(f"table {r['table']!r}")
        if not re.fullmatch(r'[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)?', r['method']): bad(f"method {r['method']!r}")
        if r['dataset'] not in DATASETS: bad(f"dataset {r['dataset']!r}")
        if r['metric'] not in UNITS: bad(f"metric {r['metric']!r}"); continue
        if r['unit'] not in UNITS[r['metric']]: bad(f"unit {r['unit']!r} for {r['metric']}")
        try: v = float(r['value'])
        except ValueError: bad(f"value {r['value']!r}"); continue
        if not math.isfinite(v): bad(f'value {v}')
        if r['unit'] == 'fraction' and not 0 <= v <= 1: bad(f'fraction {v} outside [0, 1]')
        if r['unit'] != 'fraction' and not v > 0: bad(f"{r['metric']} {v} is not > 0")
        if r['sd'] and not 0 <= float(r['sd']) < 1: bad(f"sd {r['sd']!r}")
        cats = {'mvtec_ad': MVTEC, 'visa': VISA}.get(r['dataset'], set()) | {'mean'}
        if r['dataset'] == 'any':
            if r['metric'] not in ('params_m', 'gflops') or r['category'] != 'any': bad('dataset any is for dataset-independent numbers only')
        elif r['category'] not in cats: bad(f"category {r['category']!r} for {r['dataset']}")
        if not re.fullmatch(r'|full|[1-9]\d*', r['shots']): bad(f"shots {r['shots']!r}")
        if r['resolution'] and not re.fullmatch(r'[1-9]\d*', r['resolution']): bad(f"resolution {r['resolution']!r}")
        if r['ours']:
            try: f = parse_ours(r['ours'])
            except ValueError as e: bad(f'ours: {e}'); continue
            if f['experiment'] not in EXPERIMENTS: bad(f"ours experiment {f['experiment']!r}")
            if set(f) - FILTER_KEYS: bad(f'ours keys {set(f) - FILTER_KEYS}')
        if (r['paper'] in ('patchcore', 'padim')) != ('quoted in' in r['notes']) and r['paper'] in ('patchcore', 'padim'):
            bad('PatchCore/PaDiM rows must say where they are quoted')
    assert not problems, '\n'.join(problems[:20])

@pytest.mark.parametrize('paper', PAPERS)
def test_no_duplicate_keys(paper):
    seen = defaultdict(int)
    for r in read(paper)[1]: seen[tuple(r[k] for k in KEY)] += 1
    assert [k for k, n in seen.items() if n > 1] == []

def all_rows():
    return [r for p in PAPERS for r in read(p)[1]]

def find(protocol_starts='', **kw):
    hit = [r for r in all_rows() if all(r[k] == v for k, v in kw.items()) and r['protocol'].startswith(protocol_starts)]
    assert len(hit) == 1, (kw, len(hit))
    return hit[0]

def test_known_numbers():
    "a few numbers read off the papers by hand (percent -> fraction)"
    assert find(table='FAPM Table 2', method='fapm', metric='fps', protocol_starts='row E')['value'] == '44.1'
    assert find(table='FAPM Table 2', method='patchcore', metric='image_auroc')['ours'] == 'experiment=fapm;row=A'
    assert find(table='FAPM Table 1', method='patchcore', category='screw', metric='pixel_auroc')['value'] == '0.994'
    assert find(table='FBFT Table 1', method='fbft', dataset='mvtec_ad', metric='image_auroc')['value'] == '0.988'
    assert find(table='DFM Table 2', method='dfm', shots='2', metric='image_auroc')['value'] == '0.95'
    assert find(table='DFM Table 7', method='dfm', metric='fps', protocol_starts='inference')['value'] == '49.9'
    fm = [r['value'] for r in all_rows() if r['table'] == 'DFM Table 1' and r['method'] == 'dfm' and r['metric'] == 'forgetting']
    assert sorted(fm) == ['0.013', '0.015']
    assert find(table='CostFilter Table 6', method='anomalydino+costfilter', metric='ms_per_image')['value'] == '0.32'
    assert find(table='CostFilter Table 8', method='anomalydino+costfilter', category='mean', metric='aupro_30')['value'] == '0.942'
    r = find(table='ADPretrain Table 1', method='patchcore+adpretrain', dataset='mvtec_ad', metric='image_auroc',
             backbone='dinov2_vitb14 (blocks 3,6,9,12)')
    assert r['value'] == '0.99' and r['ours'] == 'experiment=adpretrain;detector=patchcore;features=pretrained-paper|pretrained'
    assert find(table='ADPretrain Table 7', backbone='ImageBind (blocks 8,16,24,32)', metric='params_m')['value'] == '59'

def test_inconsistencies_are_noted_not_fixed():
    "FBFT eq. 5 makes rho <= mean AUPRO; the two rows that break it keep their printed value and say so"
    for meth, v in (('fbft', '0.986'), ('rdpp', '0.952')):
        r = find(table='FBFT Table 2', method=meth, dataset='mvtec_ad', metric='rho_30')
        assert r['value'] == v and 'eq. 5 forbids' in r['notes']
    r = find(table='CostFilter Table 1', method='anomalydino', category='bottle', metric='pixel_auroc')
    assert r['value'] == '0.873' and 'CostFilter Table 8 prints 0.993' in r['notes']

def test_means_that_differ_from_their_rows_are_noted():
    "every printed mean more than 0.001 away from the mean of its complete per-category rows carries a note"
    groups = defaultdict(list)
    for r in all_rows():
        if r['unit'] == 'fraction' and r['metric'] != 'forgetting':
            groups[tuple(r[k] for k in KEY if k != 'category')].append(r)
    checked, flagged = 0, 0
    for rs in groups.values():
        full = {'mvtec_ad': MVTEC, 'visa': VISA}.get(rs[0]['dataset'])
        cats = {r['category']: float(r['value']) for r in rs if r['category'] != 'mean'}
        mean = [r for r in rs if r['category'] == 'mean']
        if not mean or not full or set(cats) != full: continue
        checked += 1
        if abs(sum(cats.values()) / len(cats) - float(mean[0]['value'])) > 0.001 + 1e-9:
            flagged += 1; assert 'differs from the mean' in mean[0]['notes'], mean[0]
    assert checked > 100 and flagged >= 10

def test_loads_with_the_report_loader():
    "the report's loader (adnb.papers) accepts every file"
    papers = pytest.importorskip('adnb.papers')
    df = papers.load_paper_tables(DIR)
    assert len(df) == len(all_rows())

def test_new_tables_known_numbers():
    "numbers of the tables added in issue 20, read off the papers by hand (percent -> fraction)"
    assert find(table='CostFilter Table 2', method='anomalydino+costfilter', category='mean', metric='pixel_auroc')['value'] == '0.992'
    assert find(table='CostFilter Table 2', method='jnld', category='pipe_fryum', metric='image_auroc')['value'] == '0.875'
    assert find(table='CostFilter Table 3', method='glad+costfilter', dataset='visa', metric='aupro_30')['value'] == '0.945'
    assert find(table='CostFilter Table 10', method='simplenet', category='macaroni2', metric='pixel_ap')['value'] == '0.006'
    assert find(table='FBFT Table 3', method='fbft', resolution='1036', metric='ms_per_image')['value'] == '1.786'
    r = find(table='FBFT Table 3', method='rdpp', resolution='224', metric='aupro_5_q1')        # the merged RD++/FBFT row, RD++ first
    assert r['value'] == '0.411' and 'merged' in r['notes']
    assert find(table='FBFT Table 2', method='fbft', dataset='mvtec_ad', metric='aupro_30_q1')['value'] == '0.958'
    assert find(table='FBFT Table 12', method='patchcore', category='macaroni2', metric='aupro_5')['value'] == '0.133'
    r = find(table='FBFT Table 13', method='rdpp', metric='train_s')
    assert (r['value'], r['unit']) == ('28.767', 'h')
    r = find(table='ADPretrain Table 4', method='patchcore+adpretrain', dataset='mpdd', metric='image_auroc')
    assert (r['value'], r['sd']) == ('0.938', '0.0103')
    hits = [r for r in all_rows() if r['table'] == 'ADPretrain Table 2' and r['method'] == 'featurenorm+adpretrain' and 'ExpID 2.4:' in r['protocol']]
    assert [h['value'] for h in hits] == ['0.913', '0.868']
    assert [r['value'] for r in all_rows() if r['table'] == 'ADPretrain Table 12' and r['method'] == 'patchcore+adpretrain'
            and r['metric'] == 'aupro_30' and 'N_r=2048' in r['protocol']] == ['0.88']

def test_issue20_protocol_fixes():
    "values kept, words fixed: ADPretrain Table 1 baselines use the backbone's own features; DFM does not say where its few-shot"
    " baselines come from; DFM Table 5 frozen and FMN-only rows have no adapters; CostFilter 7/8 SimpleNet/DeSTSeg setting not stated"
    t1 = [r for r in all_rows() if r['table'] == 'ADPretrain Table 1']
    base = [r for r in t1 if '+' not in r['method']]
    assert len(base) == 300 and not any('pretrained on RealIAD' in r['protocol'] for r in base)
    assert all('pretrained on RealIAD' in r['protocol'] for r in t1 if '+' in r['method'])
    d2 = [r for r in all_rows() if r['table'] == 'DFM Table 2' and r['method'] not in ('dfm', 'dfm_cfa')]
    assert len(d2) == 37 and not any('UCAD' in r['protocol'] for r in d2)
    d5 = [r for r in all_rows() if r['table'] == 'DFM Table 5']
    assert [r['protocol'].endswith('no adapters') for r in d5] == [True] * 4 + [False] * 6
    report = pytest.importorskip('adnb.results')
    cf = [r for r in all_rows() if r['table'] in ('CostFilter Table 7', 'CostFilter Table 8') and r['method'] in ('simplenet', 'destseg')]
    assert len(cf) == 224 and {report.protocol_kind(r['protocol']) for r in cf} == {None}
    t10 = find(table='FBFT Table 10', resolution='224', metric='aupro_5')
    assert t10['value'] == '0.562' and '0.688' in t10['notes']

def test_issue29_counterparts():
    "CostFilter's AnomalDF is full-shot: its rows point at our full-shot base; ADPretrain's CFLOW, GLASS, UniAD have no counterpart here"
    ad = [r for r in all_rows() if r['table'] in ('CostFilter Table 1', 'CostFilter Table 8') and r['method'] == 'anomalydino' and r['ours']]
    assert ad and all('config=full-shot' in r['ours'] for r in ad)
    assert not any('config=default' in r['ours'] for r in all_rows() if r['method'] == 'anomalydino')
    t1 = [r for r in all_rows() if r['table'] == 'ADPretrain Table 1' and r['method'].split('+')[0] in ('cflow', 'glass', 'uniad')]
    assert len(t1) == 300 and not any(r['ours'] for r in t1)

@needs_papers
def test_every_value_is_printed_in_its_paper():
    "each value (as printed: percent for CostFilter/ADPretrain/DFM/FAPM, fractions for FBFT) occurs in its paper's text"
    sys.path.insert(0, str(DIR / 'build'))
    checks, common = importlib.import_module('checks'), importlib.import_module('common')
    texts = {p: (PAPERS_TXT / common.FILES[p]).read_text(encoding='utf-8') for p in common.FILES}
    of = {'FAPM': 'fapm', 'FBFT': 'fbft', 'DFM': 'dfm', 'CostFilter': 'costfilter', 'ADPretrain': 'adpretrain'}
    missing = [r for r in all_rows() if not checks.found(r, texts[of[r['table'].split()[0]]])]
    assert missing == []

@needs_papers
def test_build_regenerates_the_files():
    "the generated tables in the CSVs are exactly what the builders make from the text today"
    sys.path.insert(0, str(DIR / 'build'))
    build = importlib.import_module('build')
    rows = {f: [build.fixes.fix(dict(r)) for r in read(f)[1]] for f in PAPERS}
    every = [r for f in PAPERS for r in rows[f]]
    assert every == [r for f in PAPERS for r in read(f)[1]]                          # the fixes are applied already (idempotent)
    new = build.costfilter.build(rows['costfilter']) + build.fbft.build(every) + build.adpretrain.build(every)
    strip = lambda r: {k: v for k, v in r.items() if k != 'notes'}                   # notes carry the cross-checks added after generation
    have = {tuple(r[k] for k in KEY): strip(r) for r in every}
    assert len(new) > 1800 and all(have.get(tuple(r[k] for k in KEY)) == strip(r) for r in new)
