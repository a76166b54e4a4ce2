"The PatchCore/PaDiM experiment notebook (nbs/experiments/patchcore.ipynb): profiles, parameter checks, folder data."
import json
import numpy as np
import pytest
from conftest import squares_folder
from PIL import Image
from adnb.cli import main
from adnb.run import run_experiment, resolve_params, find_experiment, ExperimentError

NB = find_experiment('patchcore')

def test_profiles_resolve_before_the_kernel():
    "auto: ci on the embedded dataset, paper (resize 256, centre crop 224) on real data; an explicit value wins."
    ci, name = resolve_params(NB, {})
    assert name == 'ci' and (ci['image_size'], ci['crop'], ci['coreset_ratio'], ci['num_neighbors'], ci['sigma']) == (128, 0, 0.1, 9, 4.0)
    paper, name = resolve_params(NB, dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['crop'], paper['coreset_ratio'], paper['num_neighbors'], paper['sigma']) == (256, 224, 0.1, 9, 4.0)
    assert resolve_params(NB, dict(dataset='folder', crop=0))[0]['crop'] == 0

@pytest.mark.parametrize('name,value,msg', [
    ('image_size', '-5', 'parameter image_size must be a positive multiple of 8 (got -5)'),
    ('crop', '-8', 'parameter crop must be a non-negative multiple of 8 (got -8)'),
    ('method', 'spade', 'parameter method must be one of patchcore | padim (got \'spade\')'),
    ('coreset_ratio', '0', 'parameter coreset_ratio must be a number in (0, 1] (got 0)'),
    ('dataset', 'mvtec', 'parameter dataset must be one of embedded | mvtec_ad | mpdd | btad | mvtec_loco | visa | real_iad | folder (got \'mvtec\')'),
])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    "One `adnb:` line naming the parameter; no report folder is created."
    with pytest.raises(SystemExit) as e: main(['run', 'patchcore', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert e.value.code == f'adnb: {msg}'
    assert not (tmp_path/'rep').exists()

def test_folder_without_masks_gives_image_metrics_only(tmp_path):
    "dataset folder: checked, fitted and scored; rows carry image metrics and no pixel keys; the report says so."
    d = squares_folder(tmp_path/'data')
    out = run_experiment('patchcore', dict(dataset='folder', category='squares', normal_dir=str(d/'normal'), test_normal_dir=str(d/'good'),
                                           abnormal_dir=str(d/'bad'), profile='ci', image_size=64, n_gallery=2, tsne_points=100),
                         reports=tmp_path/'rep', progress=False)
    r = json.loads((out/'results.json').read_text())
    row = r['results'][0]
    assert r['profile'] == 'ci' and r['params']['dataset'] == 'folder'
    assert (row['category'], row['method'], row['image_size'], row['crop'], row['profile']) == ('squares', 'patchcore', 64, 0, 'ci')
    assert (row['n_train'], row['n_test']) == (8, 6)
    assert row['image_auroc'] == 1.0                           # a white square on grey noise is found in every image
    assert not [k for k in row if k.startswith(('pixel_', 'aupro'))]
    assert 'pixel metrics and pixel figures are skipped' in (out/'patchcore.ipynb').read_text()

def test_folder_parameters_need_datasetsquares_folder(tmp_path):
    with pytest.raises(ExperimentError, match=r"\['normal_dir'\] apply to dataset folder only \(dataset is 'embedded'\)"):
        run_experiment('patchcore', dict(normal_dir=str(tmp_path), image_size=64), reports=tmp_path/'rep', progress=False)
