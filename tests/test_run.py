import json, subprocess, sys
import pytest
from adnb.run import *

def test_main_job_on_embedded(tmp_path):
    "The README's main job at tiny size: executes the experiment notebook on the embedded dataset and writes results."
    out = run_experiment('patchcore', dict(image_size=64, n_gallery=2, tsne_points=200), reports=tmp_path, progress=False)
    r = json.loads((out/'results.json').read_text())
    row = r['results'][0]
    assert row['category'] == 'puck' and 0 <= row['image_auroc'] <= 1 and 0 <= row['aupro_30'] <= 1
    assert (out/'patchcore.ipynb').stat().st_size < 2_000_000 and (out/'metrics.csv').exists()

def test_padim_through_same_experiment(tmp_path):
    out = run_experiment('patchcore', dict(method='padim', image_size=64, padim_d=50, layers=['blocks.1', 'blocks.2'],
                                           n_gallery=2, category='brick'), reports=tmp_path, progress=False)
    assert json.loads((out/'results.json').read_text())['params']['method'] == 'padim'

def test_unknown_parameter_and_experiment(tmp_path):
    with pytest.raises(ExperimentError, match=r"no parameter\(s\) \['categry'\]"): run_experiment('patchcore', dict(categry='x'), tmp_path)
    with pytest.raises(ExperimentError, match="unknown experiment 'nope'"): run_experiment('nope')

def test_failed_run_names_cell(tmp_path):
    with pytest.raises(ExperimentError, match="failed in cell .*unknown method 'x'"):
        run_experiment('patchcore', dict(method='x', image_size=64), reports=tmp_path, progress=False)

def test_cli_errors():
    p = subprocess.run([sys.executable, '-c', 'from adnb.run import main; main()', 'run', 'nope'], capture_output=True, text=True)
    assert p.returncode != 0 and "adnb: unknown experiment 'nope'" in p.stderr
