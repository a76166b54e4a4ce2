import os, pytest
from pathlib import Path
from adnb.config import *

def test_missing_settings_env_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv('ADNB_SETTINGS', str(tmp_path/'setings.ini'))
    with pytest.raises(SettingsError, match=rf"ADNB_SETTINGS='{tmp_path}/setings.ini' names {tmp_path}/setings.ini, which is not a file"):
        get_setting('seed')

def test_settings_env_directory_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv('ADNB_SETTINGS', str(tmp_path))
    with pytest.raises(SettingsError, match='which is not a file'): find_settings()

def test_empty_settings_env_is_unset(tmp_path, monkeypatch):
    monkeypatch.setenv('ADNB_SETTINGS', '')
    assert find_settings(tmp_path) == tmp_path/'settings.ini'        # the upward search runs (conftest's file)

def test_settings_env_is_read(tmp_path, monkeypatch):
    f = tmp_path/'s.ini'; f.write_text('[run]\nseed = 7\n[data]\nfolder = d\n'); monkeypatch.setenv('ADNB_SETTINGS', str(f))
    assert get_setting('seed') == '7' and get_setting('folder') == str(tmp_path/'d')

def test_explicit_path_must_exist(tmp_path):
    with pytest.raises(SettingsError, match=f'settings file {tmp_path}/x.ini'): get_setting('seed', tmp_path/'x.ini')

def test_folder_key_defaults_empty():
    assert get_setting('folder') == ''
