import json, re
import numpy as np, pytest
from adnb.viz import *
from adnb.viz import _sent

def _data():
    yy, xx = np.mgrid[:128, :128] / 128                                  # smooth, photo-like content (JPEG/PNG compress)
    ims = [np.dstack([yy, xx, (yy + xx) / 2]) * (.5 + .2 * i) for i in range(3)]
    gts = [np.zeros((128, 128), np.uint8) for _ in range(3)]; gts[2][5:40, 5:40] = 1
    return ims, gts, [g + .2 * yy for g in gts]

def test_figures_build_and_stay_small():
    rng = np.random.default_rng(0); ims, gts, maps = _data()
    assert len(gallery(ims, gts, maps).to_json()) < 100_000
    f = kde_figure(np.r_[rng.normal(size=50), rng.normal(3, size=20)], np.r_[np.zeros(50), np.ones(20)], threshold=1.)
    assert [d.name for d in f.data] == ['normal (n=50)', 'anomalous (n=20)'] and 'AUROC' in f.layout.title.text
    assert len(tsne_figure(rng.normal(size=(40, 5)), np.r_[np.zeros(30), np.ones(10)]).data) == 2

def test_kde_counts_tails_and_auroc():
    f = kde_figure(np.r_[np.arange(6.), np.arange(6.) + 4], np.r_[np.zeros(6), np.ones(6)], 'x')
    assert f.data[0].x[0] < 0 and f.data[0].x[-1] > 9                    # evaluated beyond the data range
    assert f.layout.title.text == 'x · AUROC 0.944'                     # 36 pairs: 33 ordered, 2 ties count half, 1 reversed
    assert count_str(5125104) == '5,125,104'

def test_rates_degenerate_cases():
    assert rates(0, 0, 0, 100) == dict(precision=None, recall=None, fpr=0., f1=None)   # clean image, nothing predicted
    assert rates(0, 100, 0, 0) == dict(precision=0., recall=None, fpr=1., f1=0.)       # normal image fully flagged
    assert rates(10, 90, 0, 0) == dict(precision=.1, recall=1., fpr=1., f1=2*10/110)     # defect image fully flagged
    assert stats_row('x', (0, 0, 0, 16)) == ['x', '0', '0', '0', '16', '—', '—', '0.000', '—']

def test_prf_hand_case():
    r = prf_at([np.array([[0., 1., 1., 0.]])], [np.array([[0, 1, 0, 1]])], .5)
    assert (r['tp'], r['fp'], r['fn'], r['tn'], r['precision'], r['recall'], r['f1']) == (1, 1, 1, 1, .5, .5, .5)

def test_metrics_table_headers_and_precision():
    t = metrics_table([dict(category='bottle', image_auroc=.99871, aupro_30=.91234, ms_per_image=12.345)], 'PatchCore', 'efficientnet_lite0', 256)
    assert list(t.data.columns) == ['Method', 'Backbone', 'Image size', 'Image AUROC', 'AUPRO@30%', 'ms / image']
    h = t.to_html(); assert '0.999' in h and '0.912' in h and '12.3' in h and '256 px' in h

def test_stratified_pick_covers_every_type():
    d = ['good'] * 5 + ['crack'] * 3 + ['hole'] * 2
    p = stratified_pick(d, 2, seed=1)
    assert [d[i] for i in p] == ['good', 'good', 'crack', 'crack', 'hole', 'hole'] and p == stratified_pick(d, 2, seed=1)

def test_static_and_live_explorers_agree():
    ims, gts, maps = _data()
    D = explorer_data(ims, gts, maps, [.1, .2, .9], [0, 0, 1], n_thresholds=7)
    w = threshold_explorer(ims, gts, maps)
    for j in (1, 4):
        w.children[0].children[1].value = D['pixel']['thr'][j]
        for i in range(3):
            w.children[0].children[0].value = i
            for name, c in (('this image', pixel_counts(D, i, j)), ('whole test set (3 images)', pixel_counts(D, None, j))):
                assert ''.join(f'<td>{v}</td>' for v in stats_row(name, c)) in w.children[1].value
    assert D['image']['counts'][-1] == [1, 0, 0, 2]                    # top threshold: only the highest score flagged

def test_mimebundle_embeds_plotlyjs_once():
    _sent['js'] = False
    import plotly.graph_objects as go
    a, b = mimebundle(go.Figure(go.Bar(y=[1]))), mimebundle(go.Figure(go.Bar(y=[2])))
    assert 'DecompressionStream' in a['text/html'] and 'DecompressionStream' not in b['text/html']
    assert 'application/vnd.plotly.v1+json' in b and 'cdn.plot.ly' not in a['text/html']

def test_export_html_has_no_plotly_cdn(tmp_path):
    import nbformat
    from nbformat.v4 import new_notebook, new_code_cell
    from nbclient import NotebookClient
    nb = new_notebook(cells=[new_code_cell('import plotly.graph_objects as go\nfrom adnb.viz import show, init_report\n'
                                           'init_report()\nshow(go.Figure(go.Scatter(y=[1, 3, 2])))')])
    NotebookClient(nb, timeout=120, kernel_name='python3').execute()
    p = tmp_path/'r.ipynb'; nbformat.write(nb, p)
    t = export_html(p).read_text()
    assert 'cdn.plot.ly' not in t and t.count('DecompressionStream("gzip")') == 1 and 'class="adnb-fig"' in t
    import re
    assert not re.search(r'<script[^>]+src\s*=\s*["\']?(?:https?:)?//', t)      # offline: no require.js/MathJax/mermaid from a CDN
    assert re.search(r'<script[^>]+src\s*=\s*["\']?https://', export_html(p, tmp_path/'online.html', offline=False).read_text())
    with pytest.raises(FileNotFoundError, match='no notebook'): export_html(tmp_path/'missing.ipynb')

def test_gallery_without_masks_has_no_ground_truth_column():
    "Image-level data (no masks): image | anomaly map, no empty ground-truth panels."
    import numpy as np
    from adnb.viz import gallery, stratified_gallery
    ims, maps = [np.zeros((16, 16, 3)), np.ones((16, 16, 3))], [np.zeros((16, 16)), np.ones((16, 16))]
    titles = lambda f: [a.text for a in f.layout.annotations]
    f2 = gallery(ims, None, maps, ['a', 'b'])
    assert titles(f2) == ['a', 'anomaly map', 'b', 'anomaly map'] and sum(t.type == 'image' for t in f2.data) == 4
    f3 = gallery(ims, [np.zeros((16, 16)), np.ones((16, 16))], maps, ['a', 'b'])
    assert titles(f3) == ['a', 'ground truth', 'anomaly map', 'b', 'ground truth', 'anomaly map'] and sum(t.type == 'image' for t in f3.data) == 6
    f = stratified_gallery(ims, None, maps, [0.1, 0.9], ['good', 'bad'])
    assert 'ground truth' not in titles(f) and len(titles(f)) == 4
