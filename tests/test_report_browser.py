"The reproduction report in a real browser with the network off: every figure drawn, no request leaves the page, no script error."
import shutil
from pathlib import Path
import pytest
from test_report import _runs, _seeds, _tables, PAPER, PADIM, CLAIMS
from adnb.report import build_report

CHROMIUM = next((p for p in ('/usr/bin/chromium', '/usr/bin/chromium-browser', shutil.which('chromium') or '') if p and Path(p).exists()), None)
try: import playwright.sync_api as pw
except ImportError: pw = None
pytestmark = [pytest.mark.skipif(CHROMIUM is None or pw is None,
    reason='browser test needs Debian chromium (apt-get install -y chromium) and playwright (pip install playwright)'),
    pytest.mark.slow]          # a real browser (10-20 s each): CI's second step, `pytest -m slow`

def test_report_offline_in_chromium(tmp_path):
    html = build_report(_seeds(_runs(tmp_path/'runs')), tmp_path/'out', tables_dir=_tables(tmp_path/'tables', PAPER + [PADIM], CLAIMS))
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--disable-background-networking', '--no-sandbox'])
        page = b.new_context(offline=True, viewport=dict(width=1300, height=900)).new_page()
        errors, remote = [], []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.on('request', lambda r: remote.append(r.url) if not r.url.startswith(('file:', 'data:', 'blob:')) else None)
        page.goto(html.as_uri())
        page.wait_for_function('document.querySelectorAll(".adnb-fig").length > 0 && '
                               'document.querySelectorAll(".adnb-fig.js-plotly-plot").length == document.querySelectorAll(".adnb-fig").length', timeout=30_000)
        traces = page.eval_on_selector_all('.adnb-fig', 'es => es.map(e => e.data.length)')
        assert len(traces) >= 3 and all(n > 0 for n in traces), traces
        assert not errors and not remote, (errors, remote)
        # the claims open the page, tinted by verdict; every long table starts folded
        verdicts = page.eval_on_selector_all('td.k-inconclusive-here', 'es => es.map(e => getComputedStyle(e).backgroundColor)')
        assert verdicts and set(verdicts) == {'rgb(252, 243, 207)'}                      # #fcf3cf
        opened = page.eval_on_selector_all('details', 'ds => ds.map(d => [d.querySelector("summary").innerText, d.open])')
        assert ['patchcore · Table 1: 9 lines: 4 like for like, 1 different categories, 1 different hardware, 1 no run, 2 no counterpart', False] in opened
        assert not any(o for _, o in opened)
        h0 = page.evaluate('document.body.scrollHeight')
        page.screenshot(path=str(tmp_path/'front.png'), full_page=True)
        assert 'bottle (mvtec_ad) x 3 seeds' in page.inner_text('body')                  # what the verdict rests on is on the page
        page.eval_on_selector('details', 'd => d.open = true')
        assert page.evaluate('document.body.scrollHeight') > h0                          # opening a section shows its rows
        left = page.eval_on_selector('details td.wide', 'e => getComputedStyle(e).textAlign')
        assert left == 'left'                                                            # readable reason/notes columns
        b.close()
