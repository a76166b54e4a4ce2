"The stage timer of benchmarks/stages.py (issue 24) on a tiny case, its ledger and counters, and PatchCore's bank-width guard."
import json, sys, time
from pathlib import Path
import pytest, torch
from adnb.datasets import write_layout_fixture
from adnb.patchcore import knn, search_index, PatchCore, fit_patchcore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'benchmarks'))
import stages as S

def test_ledger_time_is_exclusive():
    "A stage nested in another is subtracted from it: the stages add up to the outer wall time."
    L = S.Ledger(); t0 = time.perf_counter()
    with L.stage('other'):
        time.sleep(0.02)
        with L.stage('search'): time.sleep(0.03)
    wall = time.perf_counter() - t0
    assert L.t['search'] == pytest.approx(0.03, abs=0.02) and L.t['other'] == pytest.approx(0.02, abs=0.02)
    assert L.t['search'] + L.t['other'] == pytest.approx(wall, abs=1e-3)
    assert dict(L.calls) == {'other': 1, 'search': 1}

def test_counter_flops_and_bytes_are_hand_computable():
    "A 64x32 @ 32x16 matmul is 2*64*32*16 FLOPs and moves (64*32 + 32*16 + 64*16) float32 values; a view moves nothing."
    a, b = torch.randn(64, 32), torch.randn(32, 16)
    L = S.Ledger()
    with S.Counter() as c:
        L.counter = c
        with L.stage('embedding'): a @ b
        with L.stage('map'): a.view(32, 64)
    assert L.flops['embedding'] == 2 * 64 * 32 * 16
    assert L.bytes['embedding'] == 4 * (64 * 32 + 32 * 16 + 64 * 16)
    assert L.flops['map'] == 0 and L.bytes['map'] == 0

def test_analytic_probe_replaces_torch_counts():
    "A search counted analytically (faiss runs no torch op) reports 2*Q*N*D FLOPs, and its parent is not charged twice."
    bank, q = torch.randn(100, 8), torch.randn(10, 8)
    L = S.Ledger(); owner = type('O', (), {})(); owner.knn = lambda b, x, k=1: torch.cdist(x, b).topk(k, largest=False)
    with S.Counter() as c, S.Probes(L) as P:
        L.counter = c; P.function(owner, 'knn', 'search', S.knn_count)
        with L.stage('other'): owner.knn(bank, q, 1)
    assert L.flops['search'] == 2 * 10 * 100 * 8 and L.flops['other'] == 0 and L.bytes['other'] == 0

def test_probes_skip_missing_targets_and_restore():
    "A probe on a method that does not exist is listed, not an error; installed probes are removed afterwards."
    L = S.Ledger(); m = torch.nn.Linear(3, 3); o = type('O', (), {'f': lambda self: 1})()
    with S.Probes(L) as P:
        P.function(o, 'no_such_method', 'search'); P.function(o, 'f', 'map'); P.module(m, 'backbone')
        o.f(); m(torch.zeros(1, 3))
    assert P.missing == ['no_such_method'] and L.calls['map'] == 1 and L.calls['backbone'] == 1
    assert 'f' not in o.__dict__ and not m._forward_hooks and not m._forward_pre_hooks

@pytest.fixture(scope='module')
def tiny_record(tmp_path_factory):
    root = write_layout_fixture(tmp_path_factory.mktemp('toy'), 'mvtec_ad', size=64)
    out = tmp_path_factory.mktemp('rec')/'stages.json'
    rec = S.run(['patchcore', '--data', str(root), '--category', 'toy', '--image-size', '64', '--passes', '2', '--fit-passes', '1',
                 '--threads', '1', '--out', str(out)])
    return rec, out

def test_stage_timer_on_a_tiny_case(tiny_record):
    "The record: stage names from the fixed vocabulary, ms per image for every stage, the command, loads and threads."
    rec, out = tiny_record
    assert json.loads(out.read_text())['command'].startswith('python benchmarks/stages.py patchcore --data ')
    fit = [r['stage'] for r in rec['fit']['stages']]; inf = [r['stage'] for r in rec['infer']['stages']]
    assert set(fit) <= set(S.STAGES) and set(inf) <= set(S.STAGES)
    assert {'backbone', 'embedding', 'memory_build'} <= set(fit)
    assert ['decode', 'backbone', 'embedding', 'search', 'map', 'metrics'] == [s for s in inf if s != 'other']
    assert rec['fit']['n_images'] == 2 and rec['infer']['n_images'] == 3 and rec['infer']['passes'] == 2
    assert all(r['ms_per_image'] >= 0 and len(r['ms_per_image_passes']) == 2 for r in rec['infer']['stages'])
    assert sum(r['share'] for r in rec['infer']['stages']) == pytest.approx(1.0)
    assert rec['machine']['threads']['torch'] == 1 and len(rec['load_before']) == 3 and rec['machine']['peak_flops_per_s'] > 0
    assert not rec['infer']['probes']['missing'] and not rec['fit']['probes']['missing']

def test_fractions_of_the_limit(tiny_record):
    "Fractions are in [0, 1] where the stage's arithmetic is counted, and None where it is not (decode, coreset loop, metrics)."
    rec, _ = tiny_record
    for ph in ('fit', 'infer'):
        for r in rec[ph]['stages']:
            if r['counted'] == 'no': assert r['fraction'] is None
            else: assert 0 <= r['fraction'] <= 1, r
    by = {r['stage']: r for r in rec['infer']['stages']}
    assert by['decode']['fraction'] is None and by['metrics']['fraction'] is None and by['backbone']['flops_per_image'] > 0
    bank = rec['fit']['info']['bank_size']; D = rec['fit']['info']['dim']
    assert by['search']['flops_per_image'] >= 2 * 8 * 8 * bank * D     # each of the 8x8 patches against the whole bank

def test_arithmetic_counts_are_deterministic(tmp_path):
    "The counted FLOPs and bytes of a forward pass depend on the shapes only: two counts agree exactly."
    from adnb.backbones import set_engine
    pc = PatchCore(weights='random', coreset_ratio=0.5); set_engine(pc, 'torch')   # the counters see torch ops (stages.py counts on torch too)
    fit_patchcore(pc, [dict(image=torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))], progress=False)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)); counts = []
    with torch.no_grad(): pc(x)                       # warm-up: cached pieces (the map's Gaussian kernel) are built once, outside the counts
    for _ in range(2):
        L = S.Ledger()
        with S.Counter() as c, S.Probes(L) as P, torch.no_grad():
            L.counter = c; S.common_probes(P, [pc.features]); P.function(pc, 'embed', 'embedding')
            import adnb.patchcore as m; P.everywhere(m.knn, 'search', S.knn_count)
            with L.stage('other'): pc(x)
        counts.append((dict(L.flops), dict(L.bytes)))
    assert counts[0] == counts[1] and counts[0][0]['backbone'] > 0

def test_knn_refuses_a_memory_bank_of_the_wrong_width():
    "Issue 22: a memory bank of the wrong width is refused before faiss sees it, naming both widths (faiss and torch paths)."
    bank, q = torch.randn(50, 24), torch.randn(7, 16)
    for use_faiss in (True, False):
        with pytest.raises(ValueError, match=r'memory bank of width 24 .* queries of width 16'): knn(bank, q, 1, use_faiss)
    pc = PatchCore(weights='random'); pc.memory_bank = torch.randn(50, 24)
    with pytest.raises(ValueError, match='memory bank of width 24'): pc(torch.rand(1, 3, 64, 64))

def test_reused_index_gives_the_same_neighbours():
    "The bank laid out once (`search_index`) answers exactly as a fresh exact search; approximate indices are options."
    g = torch.Generator().manual_seed(0); bank, q = torch.randn(2000, 32, generator=g), torch.randn(100, 32, generator=g)
    d0, i0 = knn(bank, q, 3); d1, i1 = knn(bank, q, 3, index=search_index(bank))
    assert torch.equal(i0, i1) and torch.equal(d0, d1)
    for s in ('ivf', 'hnsw'):
        _, ia = knn(bank, q, 1, index=search_index(bank, s, nprobe=8)); assert (ia[:, 0] == i0[:, 0]).float().mean() > 0.5
    with pytest.raises(ValueError, match='search must be one of'): search_index(bank, 'lsh')
