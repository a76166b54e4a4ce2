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

def _res(masks=True, embeddings=False):
    "A tiny score_split-like result: 4 images (2 good, 2 defective) with maps that find the defects."
    ims, gts, maps = _data(); ims, gts, maps = ims + ims[:1], gts + [gts[2]], maps + [maps[2]]
    S = np.array([.1, .2, .9, .8]); Y = np.array([0, 0, 1, 1]); D = ['good', 'good', 'hole', 'hole']
    gts = [np.zeros_like(gts[0]), np.zeros_like(gts[0]), gts[2], gts[2]]
    return dict(scores=S, labels=Y, maps=maps[:4], masks=gts if masks else None, defects=D, paths=ims[:4],
                embeddings=None, patch_labels=None, patch_index=None)

def _outputs(fn):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    InteractiveShell.instance()                                          # display() needs a shell to publish to
    with capture_output() as cap: fn()
    return [o.data.get('text/plain', '') for o in cap.outputs]

def test_report_sections_caption_every_figure_and_say_what_is_skipped():
    _sent['js'] = True
    row = [dict(category='toy', image_auroc=1., pixel_auroc=1.)]
    out = _outputs(lambda: report_sections(_res(), row, 'PatchCore', 'efficientnet_lite0', 128, tsne_points=0))
    figs = [i for i, t in enumerate(out) if t.startswith('<plotly figure')]
    assert len(figs) == 3                                                  # gallery, image KDE, pixel KDE
    assert all(out[i + 1].startswith('Figure. ') for i in figs)            # a caption right under each
    assert any(t.startswith('Table. PatchCore with efficientnet_lite0 at 128 px') for t in out)
    assert 'Skipped: the t-SNE of patch features: tsne_points = 0.' in out
    assert out[-1].startswith('Figure. Move a slider')                      # the explorer is captioned too
    out = _outputs(lambda: report_sections(_res(masks=False), [dict(category='toy', image_auroc=1.)], 'PaDiM', 'x', 64))
    assert any(t.startswith('Skipped: the pixel-score distribution: this test set has no pixel ground truth') for t in out)
    assert any(t.startswith('Skipped: the t-SNE of patch features: scoring collected no patch embeddings') for t in out)

def test_explorer_starts_at_the_f1max_threshold_and_says_so():
    r = _res(); D = explorer_data(r['paths'], r['masks'], r['maps'], r['scores'], r['labels'], n_thresholds=11)
    c = np.array(D['image']['counts']); f1 = 2 * c[:, 0] / np.maximum(2 * c[:, 0] + c[:, 1] + c[:, 2], 1)
    assert D['image']['start'] == int(np.argmax(f1)) and D['image']['start_rule'] == 'f1max'
    assert c[D['image']['start']].tolist() == [2, 0, 0, 2]                  # both defective images, no good one
    assert D['items'][0]['w'] == 128 and D['items'][0]['h'] == 128          # thumbnails at 128 px
    html = static_explorer(D)
    assert 'highest image-level F1' in html and 'no reported metric depends on them' in html
    assert 'class="adnb-untrusted"' in html and "querySelectorAll('.adnb-untrusted').forEach(e=>e.remove())" in html
    D0 = explorer_data(r['paths'], None, r['maps'], r['scores'], r['labels'], n_thresholds=11)
    assert D0['pixel']['start_rule'] == 'middle' and D0['pixel']['start'] == 5 and 'no pooled pixel ground truth' in start_sentence(D0)

def test_export_html_hides_code_by_default(tmp_path):
    import nbformat
    from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
    from nbclient import NotebookClient
    nb = new_notebook(cells=[new_markdown_cell('# Title'), new_code_cell('secret_variable_name = 6 * 7\nprint(secret_variable_name)')])
    NotebookClient(nb, timeout=120, kernel_name='python3').execute()
    p = tmp_path/'r.ipynb'; nbformat.write(nb, p)
    t = export_html(p).read_text()
    assert 'secret_variable_name' not in t and '42' in t and 'Title' in t
    assert 'secret_variable_name' in export_html(p, tmp_path/'code.html', exclude_input=False).read_text()

def test_see_maps_and_kde_are_small_pngs():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    import base64
    InteractiveShell.instance(); r = _res()
    f = see_maps(r); assert len(f.axes) == 2 * 3 + 1                      # good + hole columns, 3 rows, colour bar
    assert [a.get_ylabel() for a in f.axes[:6:2]] == ['image', 'ground truth', 'anomaly map']
    with capture_output() as cap: show(f, caption='maps'); show(see_kde(r['scores'], r['labels']), caption='kde')
    pngs = [base64.b64decode(o.data['image/png']) for o in cap.outputs if 'image/png' in o.data]
    assert len(pngs) == 2 and all(p[:4] == b'\x89PNG' and len(p) < 150_000 for p in pngs)
    assert see_kde([.1, .2, .9], [0, 0, 1]).axes[0].get_title() == 'image scores · AUROC 1.000'
