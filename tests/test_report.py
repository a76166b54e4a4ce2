"The reproduction report: collect results rows, check paper tables, match paper vs ours, and build one offline HTML page."
import json, re
from pathlib import Path
import pandas as pd
import pytest
from adnb.experiment import write_results
from adnb.report import (TABLE_COLUMNS, CDN, PaperTableError, collect, load_paper_tables, match, leaderboard, build_report,
                         read_runs, save_runs, setting_diff)

HEAD = ','.join(TABLE_COLUMNS)
# hand-made paper rows: PatchCore on bottle (our counterpart differs in backbone and resolution), its mean over MVTec AD,
# FPS on a GPU, a carpet number we have no run for, and a baseline with no counterpart among our experiments
PAPER = [
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,image_auroc,1.0,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,pixel_auroc,0.986,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,mean,image_auroc,0.991,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,bottle,fps,20,fps,wide_resnet50_2,256->224,full,one NVIDIA RTX-3090,experiment=patchcore;method=patchcore,',
    'patchcore,Table 1,patchcore,mvtec_ad,carpet,image_auroc,0.987,fraction,wide_resnet50_2,256->224,full,one model per category,experiment=patchcore;method=patchcore,',
    'fapm,Table 1,spade,mvtec_ad,bottle,image_auroc,0.97,fraction,,,full,"quoted, ""as printed""",,FAPM Table 1',
]

def _tables(d:Path, rows=PAPER)->Path:
    d.mkdir(parents=True, exist_ok=True); (d/'t.csv').write_text('\n'.join([HEAD, *rows]) + '\n'); return d

def _params(**kw): return dict(dataset='mvtec_ad', data_root='/data/mvtec_ad_256', backbone='efficientnet_lite0', image_size=256, crop=0, device='cpu') | kw

def _runs(root:Path)->Path:
    "Two tiny runs in the results.json schema (written by the experiments' own writer), one of them also as a record."
    rows = [dict(category='bottle', method='patchcore', image_auroc=0.99, pixel_auroc=0.97, aupro_30=0.9, ms_per_image=50.0),
            dict(category='screw', method='patchcore', image_auroc=0.70, ms_per_image=40.0)]            # screw: no masks, no pixel keys
    (root/'patchcore'/'r1').mkdir(parents=True)
    p = write_results('patchcore', _params(method='patchcore'), rows, root/'patchcore'/'r1')
    (root/'dfm'/'r1').mkdir(parents=True)
    write_results('dfm', _params(method='dfm'), [dict(category='bottle', method='dfm', shots=1, image_auroc=0.95)], root/'dfm'/'r1')
    (root/'records').mkdir()
    (root/'records'/'pc.json').write_text(json.dumps({**json.loads(p.read_text()), 'command': 'adnb run patchcore', 'note': 'tiny'}))
    (root/'records'/'speed.txt').write_text('not json')
    (root/'records'/'bench.json').write_text(json.dumps(dict(benchmark='aupro', seconds=[1, 2])))
    (root/'patchcore'/'r2').mkdir(); (root/'patchcore'/'r2'/'results.json').write_text('{"experiment": "patchcore", "resu')  # killed mid-write
    return root

def test_collect_rows_sources_duplicates_and_skips(tmp_path):
    df = collect(_runs(tmp_path))
    assert list(zip(df.experiment, df.category, df.source)) == [('patchcore', 'bottle', 'records/pc.json'), ('patchcore', 'screw', 'records/pc.json'),
                                                                ('dfm', 'bottle', 'dfm/r1/results.json')]
    assert df.also_in.tolist() == ['patchcore/r1/results.json'] * 2 + ['']        # the record and its run: one row, both places named
    assert df.command[0] == 'adnb run patchcore' and df.params[2]['method'] == 'dfm' and df.profile.isna().all()
    assert pd.isna(df.pixel_auroc[1])                                               # absent stays absent, never 0
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
    t = load_paper_tables(_tables(tmp_path/'ok'))
    assert len(t) == 6 and t.value.dtype == float and t.notes[5] == 'FAPM Table 1' and t.protocol[5] == 'quoted, "as printed"'

def test_match_delta_and_setting_diff(tmp_path):
    m = match(load_paper_tables(_tables(tmp_path/'t')), collect(_runs(tmp_path/'r')))
    got = m[['category', 'metric', 'status', 'paper_value', 'ours', 'delta', 'n_ours']]
    assert got.status.tolist() == ['different setting', 'different setting', 'different setting', 'different setting', 'missing', 'no counterpart']
    assert m.ours[:4].round(6).tolist() == [0.99, 0.97, 0.845, 20.0]          # mean row: (0.99 + 0.70) / 2 over bottle and screw; fps = 1000 / 50
    assert m.delta[:4].round(6).tolist() == [-0.01, -0.016, -0.146, 0.0]
    assert m.setting_diff[0] == 'backbone: paper wide_resnet50_2, ours efficientnet_lite0; resolution: paper 256->224, ours 256'
    assert m.setting_diff[2].startswith('categories: paper mean over mvtec_ad, ours bottle, screw only; backbone:')
    assert 'hardware: ours cpu ' in m.setting_diff[3] and m.setting_diff[3].endswith('threads), paper NVIDIA RTX-3090')   # this machine, the paper's GPU
    assert m.why[4] == 'no row with category=carpet among the 2 passing the earlier filters' and pd.isna(m.ours[4]) and pd.isna(m.ours[5])
    assert m.sources[0] == 'records/pc.json' and m.ours_key[3] == '1000/ms_per_image'

def test_setting_diff_same_setting_and_data():
    p = dict(metric='image_auroc', backbone='EfficientNet-Lite0', resolution='256x256', dataset='mvtec_ad', shots='', protocol='one-class', notes='')
    r = dict(category='bottle', params=_params())
    assert setting_diff(p, r) == []
    assert setting_diff({**p, 'shots': '1', 'protocol': ''}, {**r, 'params': _params(dataset='folder') | {'data_root': '/d/screw_256'}}) == [
        'data: paper mvtec_ad, ours folder (screw_256)', 'shots: paper 1, ours full', 'protocol: paper few-shot, ours one-class']

def test_leaderboard_rows(tmp_path):
    b = leaderboard(collect(_runs(tmp_path)))
    assert b[['category', 'method', 'image_auroc']].values.tolist() == [['bottle', 'patchcore', 0.99], ['bottle', 'dfm', 0.95], ['screw', 'patchcore', 0.70]]
    assert b.fps.tolist()[::2] == [20.0, 25.0] and pd.isna(b.fps[1]) and pd.isna(b.pixel_auroc[2])   # fps = 1000 / ms_per_image; none when not measured

def _page_checks(html:Path):
    h = html.read_text()
    assert not CDN.search(h), CDN.search(h)
    assert not re.search(r'<script[^>]+src\s*=\s*["\']?https?:', h) and 'cdn.plot.ly' not in h
    assert h.count('window.adnbPlotly=') <= 1                       # plotly.js embedded once at most (none without figures)
    return h

@pytest.fixture(scope='module')
def tiny_report(tmp_path_factory):
    d = tmp_path_factory.mktemp('rep')
    return build_report(_runs(d/'runs'), d/'out', tables_dir=_tables(d/'tables'))

def test_report_on_tiny_results(tiny_report):
    h = _page_checks(tiny_report)
    out = tiny_report.parent
    assert (out/'index.ipynb').is_file() and len(pd.read_csv(out/'runs.csv')) == 3
    assert '3 result rows' in h and '6 paper numbers' in h and 'patchcore · Table 1' in h
    assert 'backbone: paper wide_resnet50_2, ours efficientnet_lite0' in h and 'no row with category=carpet' in h
    assert h.count('window.adnbPlotly=') == 1 and h.count('class="adnb-fig"') >= 3                          # summary scatter, bars per category, score vs speed
    import nbformat
    nb = nbformat.read(out/'index.ipynb', as_version=4)
    assert not [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if o.output_type == 'error']

def test_report_on_no_runs_and_no_tables(tmp_path):
    (tmp_path/'runs').mkdir(); (tmp_path/'tables').mkdir()
    h = _page_checks(build_report(tmp_path/'runs', tmp_path/'out', tables_dir=tmp_path/'tables'))
    assert '0 result rows' in h and 'No results under' in h and 'No paper numbers to compare' in h

def test_report_bad_input_before_kernel(tmp_path):
    with pytest.raises(FileNotFoundError, match='no runs folder'): build_report(tmp_path/'nope', tmp_path/'out')
    (tmp_path/'runs').mkdir()
    with pytest.raises(PaperTableError, match=r't.csv row 1 \(line 2\): value 99.2'):
        build_report(tmp_path/'runs', tmp_path/'out', tables_dir=_tables(tmp_path/'t', [PAPER[0].replace(',1.0,', ',99.2,')]))
    assert not (tmp_path/'out').exists()                             # nothing executed, nothing written
