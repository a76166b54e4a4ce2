"""Report sizes (run under the heavy lock).

  python benchmarks/report_size.py bottle|screw [OUT_DIR]       PatchCore (Lite0 blocks 2+4, 256 px) -> report_sections -> HTML
  python benchmarks/report_size.py report [RUNS_DIR] [OUT_DIR]  the reproduction report (`adnb report`) of RUNS_DIR
                                                                (default reports/records): HTML bytes, lines, page height"""
import sys, json, time, os
from pathlib import Path

def reproduction_report(runs:str, out:Path)->dict:
    "Build `adnb report RUNS` into OUT; its HTML size, comparison and claim lines, and the page height in headless Chromium (folded)."
    import pandas as pd
    from adnb.report import build_report
    t0 = time.time(); html = build_report(runs, out); t1 = time.time()
    rec = dict(runs=runs, build_s=round(t1 - t0, 1), html_bytes=html.stat().st_size, comparison_lines=len(pd.read_csv(out/'comparisons.csv')),
               claim_lines=len(pd.read_csv(out/'claims.csv')))
    try:
        import playwright.sync_api as pw
        with pw.sync_playwright() as p:
            b = p.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox'])
            page = b.new_context(offline=True, viewport=dict(width=1400, height=1000)).new_page()
            page.goto(html.as_uri()); page.wait_for_timeout(3000)
            rec['page_height_px'] = page.evaluate('document.body.scrollHeight'); b.close()
    except Exception as e: rec['page_height_px'] = f'not measured ({type(e).__name__})'
    return rec

if sys.argv[1:2] == ['report']:
    runs = sys.argv[2] if len(sys.argv) > 2 else 'reports/records'
    out = Path(sys.argv[3] if len(sys.argv) > 3 else '/tmp/adnb_report_size/report')
    rec = reproduction_report(runs, out)
    print(json.dumps(rec, indent=1)); json.dump(rec, open(out/'size.json', 'w'), indent=1); sys.exit(0)
import nbformat
from nbformat.v4 import new_notebook, new_code_cell
from nbclient import NotebookClient
from adnb.viz import export_html
DATA = str(Path(__file__).resolve().parents[2]/'shared'/'data')   # shared real data beside the repo
cat = sys.argv[1]; out = Path(sys.argv[2] if len(sys.argv) > 2 else '/tmp/adnb_report_size')/cat; out.mkdir(parents=True, exist_ok=True)
CODE = f"""
from pathlib import Path
from adnb.datasets import mvtec_records, split, make_loader, Record
from adnb.patchcore import PatchCore, fit_patchcore
from adnb.scoring import score_split
from adnb.metrics import evaluate
from adnb.viz import report_sections
cat = {cat!r}
if cat == 'bottle': recs = mvtec_records('{DATA}/mvtec_ad_256', 'bottle')
else:
    R = Path('{DATA}/screw_256')
    recs = ([Record(str(p), 'screw', 'train', 0) for p in sorted((R/'train/good').glob('*.png'))] +
            [Record(str(p), 'screw', 'test', 0) for p in sorted((R/'test/good').glob('*.png'))] +
            [Record(str(p), 'screw', 'test', 1, 'defective') for p in sorted((R/'test/defective').glob('*.png'))])
pc = PatchCore('efficientnet_lite0', ['blocks.2', 'blocks.4'], coreset_ratio=.1, num_neighbors=9, sigma=4.)
fit = fit_patchcore(pc, make_loader(split(recs, 'train'), 256, batch_size=16), progress=False)
res = score_split(pc, split(recs, 'test'), 256, embeddings=True, progress=False)
row = dict(category=cat, **evaluate(res['scores'], res['labels'], *((res['maps'], res['masks']) if res['masks'] is not None else ())), fit_s=fit['fit_s'], **res['timings'])
print(row)
report_sections(res, [row], 'PatchCore', 'efficientnet_lite0', 256)
"""
nb = new_notebook(cells=[new_code_cell(CODE)])
t0 = time.time(); NotebookClient(nb, timeout=3000, kernel_name='python3').execute(); t1 = time.time()
nbformat.write(nb, out/'report.ipynb'); h = export_html(out/'report.ipynb')
sizes = {}
for o in nb.cells[0].outputs:
    for k, v in o.get('data', {}).items():
        if k == 'text/html' and len(v) > 1000: sizes.setdefault('html_outputs', []).append(len(v))
rec = dict(category=cat, run_s=round(t1 - t0, 1), ipynb_bytes=(out/'report.ipynb').stat().st_size, html_bytes=h.stat().st_size,
           html_outputs_bytes=sizes.get('html_outputs'), stdout=[o.get('text', '')[:2000] for o in nb.cells[0].outputs if o.output_type == 'stream'])
print(json.dumps(rec, indent=1)); json.dump(rec, open(out/'size.json', 'w'), indent=1)
