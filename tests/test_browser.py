"Reports open in a real browser, offline: every figure is drawn and the kernel-free threshold explorer updates."
import json, shutil
from pathlib import Path
import pytest

CHROMIUM = next((p for p in ('/usr/bin/chromium', '/usr/bin/chromium-browser', shutil.which('chromium') or '') if p and Path(p).exists()), None)
try: import playwright.sync_api as pw
except ImportError: pw = None
pytestmark = [pytest.mark.skipif(CHROMIUM is None or pw is None,
    reason='browser test needs Debian chromium (apt-get install -y chromium) and playwright (pip install playwright)'),
    pytest.mark.slow]          # a real browser (10-20 s each): CI's second step, `pytest -m slow`

import os
SHOT = os.environ.get('ADNB_BROWSER_SCREENSHOT')        # keep a screenshot to look at

CODE = """
from adnb.datasets import load_records, split, make_loader
from adnb.patchcore import PatchCore, fit_patchcore
from adnb.scoring import score_split
from adnb.metrics import evaluate
from adnb.viz import report_sections
recs = load_records('embedded', 'puck')
pc = PatchCore(layers=['blocks.2'], coreset_ratio=.5, num_neighbors=1, sigma=1.)
_ = fit_patchcore(pc, make_loader(split(recs, 'train')[:4], 64, batch_size=4), progress=False)
res = score_split(pc, split(recs, 'test'), 64, embeddings=True, progress=False)
row = dict(category='puck', **evaluate(res['scores'], res['labels'], res['maps'], res['masks']), **res['timings'])
report_sections(res, [row], 'PatchCore', 'efficientnet_lite0', 64, tsne_points=300, n_thresholds=11)
"""

@pytest.fixture(scope='module')
def report(tmp_path_factory):
    import nbformat
    from nbformat.v4 import new_notebook, new_code_cell
    from nbclient import NotebookClient
    from adnb.viz import export_html
    d = tmp_path_factory.mktemp('report')
    nb = new_notebook(cells=[new_code_cell(CODE)])
    NotebookClient(nb, timeout=300, kernel_name='python3', resources=dict(metadata=dict(path=str(d)))).execute()
    nbformat.write(nb, d/'report.ipynb')
    return export_html(d/'report.ipynb')

def _texts(page, sel):
    return page.eval_on_selector(sel, 'e => [...e.querySelectorAll("tr")].slice(1).map(r => [...r.children].map(c => c.innerText))')

def test_report_offline_in_chromium(report, tmp_path):
    from adnb.viz import stats_row, pixel_counts
    html = report.read_text()
    assert 'cdn.plot.ly' not in html and report.stat().st_size < 2_000_000
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--disable-background-networking', '--no-sandbox'])
        page = b.new_context(offline=True, viewport=dict(width=1100, height=900)).new_page()
        errors = []; page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_function('document.querySelectorAll(".adnb-fig.js-plotly-plot").length == document.querySelectorAll(".adnb-fig").length'
                               ' && document.querySelector(".adnb-explorer").dataset.ready == "1"', timeout=30_000)
        figs = page.eval_on_selector_all('.adnb-fig', 'es => es.map(e => e.data.length)')
        assert len(figs) == 4 and all(n > 0 for n in figs)                  # gallery, 2 KDE, t-SNE drawn with data
        assert not errors, errors
        D = json.loads(page.eval_on_selector('.adnb-explorer script[type="application/json"]', 'e => e.textContent'))
        assert 'class="adnb-untrusted"' in html and page.locator('.adnb-untrusted').count() == 0   # said in the file, removed once the script ran
        assert int(page.eval_on_selector('.adnb-explorer .ti', 'e => e.value')) == D['image']['start']          # starts at the stated rule
        assert D['items'][0]['w'] == 128                                                                   # 128 px thumbnails
        n = len(D['items'])
        for i, j in ((0, 2), (n - 1, 7), (3, 10)):                           # move the static slider, pick an image
            page.eval_on_selector('.adnb-explorer .sel', f'e => {{e.value = "{i}"; e.dispatchEvent(new Event("change"))}}')
            page.eval_on_selector('.adnb-explorer .tp', f'e => {{e.value = "{j}"; e.dispatchEvent(new Event("input"))}}')
            page.wait_for_timeout(100)
            assert _texts(page, '.adnb-explorer .ptab') == [stats_row('this image', pixel_counts(D, i, j)),
                                                              stats_row(f'whole test set ({n} images)', pixel_counts(D, None, j))]
        page.eval_on_selector('.adnb-explorer .ti', 'e => {e.value = "0"; e.dispatchEvent(new Event("input"))}')
        assert _texts(page, '.adnb-explorer .itab') == [stats_row(f'whole test set ({n} images)', D['image']['counts'][0])]
        assert page.eval_on_selector('.adnb-explorer .itab', 'e => e.innerText').count('\t') > 5
        page.screenshot(path=str(tmp_path/'report.png'), full_page=True)
        if SHOT: page.screenshot(path=SHOT, full_page=True)
        b.close()

LIVE = """
import numpy as np
import plotly.graph_objects as go
from adnb.viz import threshold_explorer, show, kde_figure
yy = np.mgrid[:32, :32][0] / 32
gts = [np.zeros((32, 32), np.uint8) for _ in range(2)]; gts[1][4:12, 4:12] = 1
maps = [g * 1.5 + yy * .5 for g in gts]                     # values in [0, 2): slider min 0, max ~2
show(kde_figure([0., 1., 2., 3.], [0, 0, 1, 1], 'image scores'))
threshold_explorer([np.dstack([yy] * 3)] * 2, gts, maps, ['normal', 'defect'])
"""

@pytest.mark.skipif(shutil.which('voila') is None, reason='live explorer test needs voila (pip install voila)')
def test_live_explorer_in_voila(tmp_path):
    "The ipywidgets explorer under Voila: page renders the figure, typing a threshold updates the table from the kernel."
    import socket, subprocess, time, numpy as np, nbformat
    from nbformat.v4 import new_notebook, new_code_cell
    from adnb.viz import stats_row, counts_at
    nbformat.write(new_notebook(cells=[new_code_cell(LIVE)], metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}}),
                   tmp_path/'live.ipynb')
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    proc = subprocess.Popen(['voila', 'live.ipynb', '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1'], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try: socket.create_connection(('127.0.0.1', port), .2).close(); break
            except OSError: time.sleep(.2)
        with pw.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=['--disable-background-networking', '--no-sandbox'])
            ctx = b.new_context(viewport=dict(width=1100, height=900))
            ctx.route('**/*', lambda r: r.continue_() if r.request.url.startswith(f'http://127.0.0.1:{port}') else r.abort())
            page = ctx.new_page(); page.goto(f'http://127.0.0.1:{port}/', timeout=60_000)
            page.wait_for_selector('.js-plotly-plot', timeout=60_000)
            page.wait_for_selector('.adnb-stats', timeout=60_000)
            page.select_option('select', label='defect')
            ro = page.locator('.widget-readout').first
            ro.click(); page.keyboard.press('Control+A'); page.keyboard.type('0.25'); page.keyboard.press('Enter')
            page.wait_for_timeout(500); t = float(ro.inner_text())           # the slider snaps to its step
            yy = np.mgrid[:32, :32][0] / 32; g = np.zeros((32, 32), np.uint8); g[4:12, 4:12] = 1
            c = counts_at(g * 1.5 + yy * .5, g, [t])[0]; assert c[1] == 512  # rows 16..31 flagged: the table must change
            want = ''.join(stats_row('this image', c))
            page.wait_for_function('w => [...document.querySelectorAll(".adnb-stats tr")].some(r => r.innerText.replace(/\\s/g, "") == w)',
                                   arg=want.replace(' ', ''), timeout=30_000)
            if SHOT: page.screenshot(path=SHOT.replace('.png', '_voila.png'), full_page=True)
            b.close()
    finally:
        proc.terminate(); proc.wait(10)
