"adnb.experiment: parameter specs, profiles, results records."
import json
import pytest
from adnb.experiment import *

SPECS = {'image_size': 'int>0 %8', 'layers': 'list[str|int] nonempty', 'seed': 'int>=0', 'rows': 'chars ABCDE',
         'epochs': 'int>=1', 'k': 'int>=1', 'coreset_ratio': 'float in (0,1]', 'square': 'bool',
         'dataset': 'one of embedded|mvtec_ad|folder', 'ablation': "one of ''|layers|shots"}

@pytest.mark.parametrize('name,value,msg', [
    ('image_size', 'abc', "parameter image_size must be a positive multiple of 8 (got 'abc')"),
    ('image_size', -5, 'parameter image_size must be a positive multiple of 8 (got -5)'),
    ('image_size', 0, 'parameter image_size must be a positive multiple of 8 (got 0)'),
    ('image_size', 12, 'parameter image_size must be a positive multiple of 8 (got 12)'),
    ('image_size', 128.0, 'parameter image_size must be a positive multiple of 8 (got 128.0, a float)'),
    ('layers', 'blocks.2', "parameter layers must be a non-empty list of strings or integers (got 'blocks.2', a str; write ['blocks.2'])"),
    ('layers', [], 'parameter layers must be a non-empty list of strings or integers (got [])'),
    ('seed', 'abc', "parameter seed must be a non-negative integer (got 'abc')"),
    ('rows', 'XZ', "parameter rows must be letters from ABCDE, each at most once (got 'XZ')"),
    ('epochs', 0, 'parameter epochs must be a positive integer (got 0)'),
    ('k', 2.5, 'parameter k must be a positive integer (got 2.5, a float)'),
    ('coreset_ratio', 0, 'parameter coreset_ratio must be a number in (0, 1] (got 0)'),
    ('coreset_ratio', 1.5, 'parameter coreset_ratio must be a number in (0, 1] (got 1.5)'),
    ('square', 'false', "parameter square must be True or False (got 'false')"),
    ('dataset', 'mvtec', "parameter dataset must be one of embedded | mvtec_ad | folder (got 'mvtec')"),
])
def test_bad_values_one_line(name, value, msg):
    with pytest.raises(ParameterError) as e: check_params({name: value}, SPECS)
    assert str(e.value) == msg and '\n' not in str(e.value)

def test_good_values_normalised():
    got = check_params(dict(image_size=256, layers=('blocks.2', 8), seed=0, rows='ACE', epochs=1, k=4, coreset_ratio=1,
                            square=True, dataset='folder', ablation='', free=object), SPECS)
    assert got['layers'] == ['blocks.2', 8] and got['coreset_ratio'] == 1.0 and isinstance(got['coreset_ratio'], float)
    assert got['ablation'] == '' and got['free'] is object

def test_bad_spec_is_a_developer_error():
    with pytest.raises(ValueError, match=r"bad spec 'int>0 %x': cannot read '%x'"): check_params(dict(a=1), dict(a='int>0 %x'))
    with pytest.raises(ValueError, match=r"SPECS\['a'\]: bad spec"): check_declared(dict(a=1), dict(a='number'), {})

PROF = {'ci': dict(image_size=128, epochs=5), 'paper': dict(image_size=256, epochs=50)}
DEF = dict(dataset='embedded', profile='auto', image_size=None, epochs=None, seed=0)

def test_profiles_fill_only_what_was_not_given():
    assert resolve_profile({}, DEF, PROF) == (dict(dataset='embedded', profile='ci', image_size=128, epochs=5, seed=0), 'ci')
    r, name = resolve_profile(dict(dataset='mvtec_ad', epochs=2), DEF, PROF)
    assert name == 'paper' and (r['image_size'], r['epochs'], r['profile']) == (256, 2, 'paper')
    r, name = resolve_profile(dict(profile='paper', image_size=64), DEF, PROF)   # explicit profile on embedded data
    assert name == 'paper' and (r['image_size'], r['epochs']) == (64, 50)
    with pytest.raises(ParameterError, match=r"^parameter profile must be one of auto \| ci \| paper \(got 'big'\)$"):
        resolve_profile(dict(profile='big'), DEF, PROF)

def test_declarations_checked():
    specs = dict(dataset='one of embedded|mvtec_ad', profile='one of auto|ci|paper', image_size='int>0 %8', epochs='int>=1', seed='int>=0')
    check_declared(DEF, specs, PROF)
    with pytest.raises(ValueError, match=r"PROFILES\['ci'\] sets \['seed'\], so the parameters cell must say None"):
        check_declared(DEF, specs, {'ci': dict(seed=1), 'paper': dict(seed=2)})
    with pytest.raises(ValueError, match=r"parameters without a spec in SPECS: \['seed'\]"):
        check_declared(DEF, {k: v for k, v in specs.items() if k != 'seed'}, PROF)

def test_use_params_in_a_plain_notebook_namespace():
    "JupyterLab: None parameters come from the profile, edited values stay, globals are updated."
    specs = dict(dataset='one of embedded|mvtec_ad', profile='one of auto|ci|paper', image_size='int>0 %8', epochs='int>=1', seed='int>=0')
    ns = dict(DEF, dataset='mvtec_ad', epochs=3)
    assert use_params(ns, specs, PROF) == dict(dataset='mvtec_ad', profile='paper', image_size=256, epochs=3, seed=0)
    assert ns['image_size'] == 256 and ns['profile'] == 'paper'
    assert use_params(dict(ns), specs, PROF) == dict(ns)    # already resolved (as under adnb run): unchanged
    with pytest.raises(ParameterError, match=r'^parameter image_size must be a positive multiple of 8 \(got -5\)$'):
        use_params(dict(DEF, image_size=-5), specs, PROF)

def test_write_results_never_overwrites(tmp_path, capsys):
    p = dict(profile='ci', image_size=128, device='cpu')
    r1 = write_results('demo', p, [dict(category='puck', image_auroc=0.75)], tmp_path)
    r2 = write_results('demo', p, [dict(category='puck', image_auroc=0.5)], tmp_path)
    assert (r1.name, r2.name) == ('results.json', 'results-2.json')
    assert f"{tmp_path/'results.json'} exists (a finished run): wrote {r2} and {tmp_path/'metrics-2.csv'} beside it" in capsys.readouterr().out
    first, second = json.loads(r1.read_text()), json.loads(r2.read_text())
    assert first['results'][0]['image_auroc'] == 0.75 and second['results'][0]['image_auroc'] == 0.5
    assert first['profile'] == 'ci' and first['params']['image_size'] == 128 and first['experiment'] == 'demo'
    assert (tmp_path/'metrics.csv').read_text().splitlines() == ['category,image_auroc', 'puck,0.75']
    assert write_results('demo', p, [], tmp_path).name == 'results-3.json'

def test_write_results_numpy_and_dataframe(tmp_path):
    np, pd = pytest.importorskip('numpy'), pytest.importorskip('pandas')
    df = pd.DataFrame([dict(category='a', auroc=np.float32(0.25), n=np.int64(3))])
    r = json.loads(write_results('demo', dict(device='cpu'), df, tmp_path, table=np.arange(3)).read_text())
    assert r['results'] == [dict(category='a', auroc=0.25, n=3)] and r['table'] == [0, 1, 2] and r['profile'] is None

def test_env_info():
    import torch, adnb, platform
    e = env_info('cpu')
    assert e['torch'] == torch.__version__ and e['adnb'] == adnb.__version__ and e['python'] == platform.python_version()
    assert e['device'] == 'cpu' and e['threads'] == torch.get_num_threads() and e['device_name']
