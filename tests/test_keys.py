"""Operators' SSH keys: `regtui operators key add|list|remove`, fingerprints as OpenSSH prints them."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from regtui.core.errors import NotAllowed, UsageError
from regtui.core.models import OperatorKey
from regtui.core.services import keys, operators

pytestmark = pytest.mark.storage


def keygen(tmp_path: Path, name: str, kind: str = "ed25519") -> Path:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@laptop", "-f", str(path)], check=True)
    return Path(f"{path}.pub")


def openssh_fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_fingerprints_are_the_ones_openssh_prints(admin, tmp_path, kind):
    pub = keygen(tmp_path, f"k-{kind}", kind)
    row = keys.add_key(admin, admin.name, pub.read_text())
    assert row.fingerprint == openssh_fingerprint(pub)
    assert row.comment == f"k-{kind}@laptop"


def test_add_list_remove_through_the_cli(cli, admin, tmp_path):
    pub = keygen(tmp_path, "ada")
    fp = openssh_fingerprint(pub)
    r = cli("operators", "add", "hana", "--role", "limited")
    assert r.returncode == 0, r.stderr
    r = cli("operators", "key", "add", "hana", str(pub), "--comment", "work laptop")
    assert r.returncode == 0 and fp in r.stdout, r.stderr
    listed = json.loads(cli("operators", "key", "list", "hana", "--json").stdout)
    assert [(k["operator"], k["fingerprint"], k["type"], k["comment"]) for k in listed] == [
        ("hana", fp, "ssh-ed25519", "work laptop")]
    # a key belongs to one operator
    again = cli("operators", "key", "add", admin.name, str(pub))
    assert again.returncode == 1 and "belongs to another operator" in again.stderr
    removed = cli("operators", "key", "remove", fp)
    assert removed.returncode == 0 and "no longer hana's key" in removed.stdout
    assert json.loads(cli("operators", "key", "list", "--json").stdout) == []
    assert cli("operators", "key", "remove", fp).returncode == 2
    events = json.loads(cli("audit", "--json").stdout)["rows"]
    assert {"key.add", "key.remove"} <= {e["action"] for e in events}


def test_removing_the_operator_removes_its_keys(admin, tmp_path):
    operators.set_operator(admin, "hana", "limited")
    keys.add_key(admin, "hana", keygen(tmp_path, "one").read_text())
    keys.add_key(admin, "hana", keygen(tmp_path, "two").read_text())
    operators.remove_operator(admin, "hana")
    assert OperatorKey.select().count() == 0


def test_only_admins_manage_keys(admin, tmp_path):
    operators.set_operator(admin, "lim", "limited")
    lim = operators.current("lim")
    with pytest.raises(NotAllowed):
        keys.add_key(lim, "lim", keygen(tmp_path, "lim").read_text())
    with pytest.raises(NotAllowed):
        keys.list_keys(lim)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hostile_key_files_are_refused_in_one_sentence(admin, tmp_path):
    pub = keygen(tmp_path, "x").read_text().split()
    blob = base64.b64decode(pub[1])
    rsa_blob = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + blob[19:]).decode()
    bad = {
        "private key": (tmp_path / "x").read_text(),
        "two keys": f"{pub[0]} {pub[1]}\n{pub[0]} {pub[1]}\n",
        "options in front": f'command="sh" {pub[0]} {pub[1]}',
        "not base64": f"{pub[0]} %%%%",
        "type and data differ": f"ssh-ed25519 {rsa_blob}",
        "ssh-dss": f"ssh-dss {pub[1]}",
        "empty": "",
        "huge comment": f"{pub[0]} {pub[1]} {'x' * 500}",
    }
    for what, text in bad.items():
        with pytest.raises(UsageError) as exc:
            keys.add_key(admin, admin.name, text)
        assert "\n" not in str(exc.value), what
    assert OperatorKey.select().count() == 0
    # control characters in a comment are dropped, not stored
    row = keys.add_key(admin, admin.name, f"{pub[0]} {pub[1]} evil\x1b[2Jcomment")
    assert row.comment == "evil[2Jcomment"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_key_signs_in_as_its_operator(admin, tmp_path):
    operators.set_operator(admin, "hana", "limited")
    row = keys.add_key(admin, "hana", keygen(tmp_path, "h").read_text())
    actor = keys.actor_for_key(row.fingerprint)
    assert (actor.name, actor.role, actor.via) == ("hana", "limited", f"ssh {row.fingerprint}")
    keys.remove_key(admin, row.fingerprint)
    with pytest.raises(NotAllowed):
        keys.actor_for_key(row.fingerprint)
    assert keys.find("SHA256:' OR 1=1 --") is None
