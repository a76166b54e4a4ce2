"""benchmarks/gpu_check.py cannot rot: its CPU dry run (`--device cpu --tiny`) goes through the same code paths as the
GPU run at toy sizes (the experiments' ci parameters are resolved, not executed)."""
import importlib.util, json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check', ROOT/'benchmarks'/'gpu_check.py')
    m = importlib.util.module_from_spec(spec); sys.modules['gpu_check'] = m; spec.loader.exec_module(m); return m

def test_dry_run_small(tmp_path):
    g = _gpu_check()
    rec = g.main(['--device', 'cpu', '--tiny', '--only', 'anomalydino', 'patchcore_coreset', 'patchcore', 'fapm', '--out', str(tmp_path/'r.json')])
    assert rec['failed'] == [] and rec['skipped'] == []
    assert rec['headlines']['anomalydino']['ms_per_image'] > 0 and rec['headlines']['anomalydino']['peak_mb'] is None   # CPU: no CUDA peak
    assert rec['headlines']['patchcore_coreset']['centres'] == 300
    assert rec['experiments']['patchcore']['profile'] == 'ci'
    assert json.loads((tmp_path/'r.json').read_text())['tiny'] is True

@pytest.mark.slow
def test_dry_run_everything():
    g = _gpu_check()
    rec = g.main(['--device', 'cpu', '--tiny', '--out', '-'])
    assert rec['failed'] == [], rec['failed']
    assert set(rec['headlines']) == set(g.HEADLINES) and set(rec['experiments']) == set(g.EXPERIMENTS)

def test_cuda_refused_without_gpu():
    import torch
    if torch.cuda.is_available(): pytest.skip('a GPU is present')
    with pytest.raises(SystemExit, match='no CUDA device'): _gpu_check().main(['--device', 'cuda', '--out', '-'])
