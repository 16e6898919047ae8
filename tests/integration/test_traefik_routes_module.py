# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.traefik_routes through ansible-playbook on localhost.

Every test runs ONE playbook whose single task loops over many cases (one module call per case),
so a whole family of cases costs one ansible-playbook start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = ("path", "routers", "services", "middlewares", "state", "prune", "validate", "static_config", "backup",
           "mode", "owner", "group", "routes_file")
PLAYBOOK = """
- name: traefik_routes cases
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    cases: "{{ lookup('ansible.builtin.file', cases_file) | from_json }}"
  tasks:
    - name: Run every case
      squaremcp.infra.traefik_routes:
%(options)s
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.id }}"
      register: outcome
      ignore_errors: true

    - name: Save the results for pytest
      ansible.builtin.copy:
        dest: "{{ results_file }}"
        content: "{{ outcome.results | to_json }}"
        mode: "0600"
      check_mode: false
      diff: false
""" % {"options": "\n".join('        %s: "{{ item.%s | default(omit) }}"' % (o, o) for o in OPTIONS)}

SERVICES = {"site": {"loadBalancer": {"servers": [{"url": "http://site:80"}]}},
            "hermes": {"loadBalancer": {"servers": [{"url": "http://hermes-mcp:3000"}]}}}
ROUTERS = {
    "site": {"rule": "Host(`squaremcp.com`) || Host(`www.squaremcp.com`)", "service": "site",
             "entryPoints": ["websecure"], "tls": {"certResolver": "letsencrypt"}},
    "hermes-pilot": {"rule": "Host(`squaremcp.com`) && Path(`/api/pilot-request`)", "service": "hermes",
                     "priority": 100, "entryPoints": ["websecure"], "tls": {"certResolver": "letsencrypt"}},
}
STATIC = ("entryPoints:\n  web: {address: ':80'}\n  websecure: {address: ':443'}\n"
          "certificatesResolvers:\n  letsencrypt:\n    acme: {email: a@b.c, storage: /x, dnsChallenge: {provider: godaddy}}\n")


def run_cases(tmp_path, cases, check=False, diff=False):
    """Run the cases (dicts of module options + id) in one playbook; return {id: registered result}."""
    cases_file, results_file = tmp_path / "cases.json", tmp_path / "results.json"
    (tmp_path / "cases.yml").write_text(PLAYBOOK)
    cases_file.write_text(json.dumps(cases))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
               str(tmp_path / "cases.yml"), "-e", "cases_file=%s results_file=%s" % (cases_file, results_file)]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_PIPELINING="true",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    proc = subprocess.run(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert results_file.exists(), proc.stdout
    return {r["item"]["id"]: r for r in json.loads(results_file.read_text())}


def snapshot(directory):
    """Every file under ``directory`` -> (bytes, mtime_ns); catches rewrites and leftover temp files."""
    found = {}
    for base, _dirs, files in os.walk(str(directory)):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(directory))] = (handle.read(), os.stat(path).st_mtime_ns)
    return found


def case_dir(tmp_path, name, files):
    directory = tmp_path / name
    directory.mkdir()
    for relative, text in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text)
    return directory


def test_apply_is_idempotent_and_prune_removes(tmp_path):
    dynamic = case_dir(tmp_path, "dynamic", {"dashboard.yml": "http:\n  middlewares:\n    auth:\n      basicAuth:\n"
                                                              "        users: ['admin:$2y$05$hash']\n"})
    path = str(dynamic / "routes.yml")
    base = {"path": path, "routers": ROUTERS, "services": SERVICES, "prune": True, "mode": "0644",
            "static_config": str(case_dir(tmp_path, "etc", {"traefik.yml": STATIC}) / "traefik.yml")}
    fewer = dict(base, id="pruned", routers={"site": ROUTERS["site"]}, services={"site": SERVICES["site"]})
    results = run_cases(tmp_path, [dict(base, id="first"), dict(base, id="again"), fewer,
                                   dict(fewer, id="pruned-again"),
                                   {"id": "absent", "path": path, "state": "absent", "routers": ["site", "gone"]}],
                        diff=True)
    assert results["first"]["changed"] and results["first"]["routers"]["added"] == ["hermes-pilot", "site"]
    assert "Path(`/api/pilot-request`)" in results["first"]["diff"]["after"]
    assert results["again"]["changed"] is False and "diff" not in results["again"]
    assert results["pruned"]["routers"] == {"added": [], "updated": [], "removed": ["hermes-pilot"]}
    assert results["pruned"]["services"]["removed"] == ["hermes"]
    assert results["pruned-again"]["changed"] is False
    assert results["absent"]["routers"]["removed"] == ["site"] and results["absent"]["changed"]
    with open(path) as handle:
        left = yaml.safe_load(handle)
    assert sorted(left["http"]) == ["services"] and sorted(left["http"]["services"]) == ["site"]
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_unchanged_run_keeps_the_file_and_check_mode_writes_nothing(tmp_path):
    existing = case_dir(tmp_path, "existing", {})
    new = case_dir(tmp_path, "new", {})
    case = {"id": "apply", "path": str(existing / "routes.yml"), "routers": ROUTERS, "services": SERVICES}
    assert run_cases(tmp_path, [case])["apply"]["changed"]
    os.utime(case["path"], (1_000_000_000, 1_000_000_000))
    before = snapshot(tmp_path / "existing")
    changed_router = dict(ROUTERS, site=dict(ROUTERS["site"], rule="Host(`squaremcp.com`)"))
    results = run_cases(tmp_path, [dict(case, id="same"), dict(case, id="check-change", routers=changed_router),
                                   {"id": "check-new", "path": str(new / "routes.yml"), "routers": ROUTERS,
                                    "services": SERVICES}], check=True, diff=True)
    assert results["same"]["changed"] is False
    assert results["check-change"]["changed"] and results["check-change"]["routers"]["updated"] == ["site"]
    diff = results["check-change"]["diff"]
    assert "Host(`www.squaremcp.com`)" in diff["before"] and "Host(`www.squaremcp.com`)" not in diff["after"]
    assert results["check-new"]["changed"] and results["check-new"]["diff"]["before"] == ""
    assert snapshot(tmp_path / "existing") == before, "check mode must not touch the file (bytes and mtime)"
    assert os.listdir(str(new)) == []
    results = run_cases(tmp_path, [dict(case, id="real-unchanged")])
    assert results["real-unchanged"]["changed"] is False
    assert snapshot(tmp_path / "existing") == before, "an unchanged run must not rewrite the file"


def test_basic_auth_hashes_never_reach_the_output(tmp_path):
    directory = case_dir(tmp_path, "auth", {})
    middlewares = {"auth": {"basicAuth": {"users": ["admin:$2y$05$verysecrethash"]}}}
    results = run_cases(tmp_path, [{"id": "auth", "path": str(directory / "routes.yml"), "middlewares": middlewares}],
                        diff=True)
    # What the module itself returns (diff, result): the task's own arguments (invocation, item) are the
    # caller's to protect, which is why the traefik role passes hashes through basicAuth.usersFile.
    shown = json.dumps({k: v for k, v in results["auth"].items() if k not in ("invocation", "item")})
    assert "admin:<redacted>" in shown and "verysecrethash" not in shown
    assert "verysecrethash" in (directory / "routes.yml").read_text()


@contextlib.contextmanager
def read_only(directory):
    """Make ``directory`` unwritable even for root: immutable flag, else a read-only bind mount."""
    attempts = ((["chattr", "+i"], ["chattr", "-i"]),
                (["sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0"'], ["umount"]))
    for on, off in attempts:
        try:
            if subprocess.run(on + [str(directory)], stderr=subprocess.DEVNULL, check=False).returncode == 0:
                break
        except OSError:
            continue
    else:
        pytest.skip("cannot make a directory read-only here (no chattr +i, no bind mount)")
    try:
        yield
    finally:
        subprocess.run(off + [str(directory)], check=True)


GOOD = "http:\n  routers:\n    site: {rule: 'Host(`squaremcp.com`)', service: site}\n" \
       "  services:\n    site: {loadBalancer: {servers: [{url: 'http://site:80'}]}}\n"
ROUTER = {"rule": "Host(`squaremcp.com`)", "service": "site"}
# routes.yml defines what other.yml uses: pruning or removing it must be refused.
SHARED = "http:\n  services:\n    shared: {loadBalancer: {servers: [{url: 'http://shared:80'}]}}\n" \
         "  middlewares:\n    hsts: {headers: {stsSeconds: 31536000}}\n"
USES_SHARED = "http:\n  routers:\n    app: {rule: 'Host(`app.squaremcp.com`)', service: shared, middlewares: [hsts]}\n"


def bad(rule=None, **options):
    """Module options for a case whose only router is ``rule`` (plus the usual service)."""
    options.setdefault("routers", {"site": dict(ROUTER, rule=rule) if rule else ROUTER})
    options.setdefault("services", {"site": SERVICES["site"]})
    return options


# id -> (extra files in the case directory, module options, expected message fragment). Options may
# name the file as "file" (relative to the case directory; default routes.yml).
BAD_INPUT = {
    "v2-host-list": ({}, bad("Host(`a.com`,`b.com`)"), "write (Host(`a.com`) || Host(`b.com`))"),
    "v2-hostregexp": ({}, bad("HostRegexp(`{sub:[a-z]+}.squaremcp.com`)"),
                      "write HostRegexp(`^[a-z]+\\.squaremcp\\.com$`)"),
    "v2-headers": ({}, bad("Headers(`X-A`, `1`)"), "use Header in v3"),
    "v2-query": ({}, bad("Query(`tab=1`)"), "write Query(`tab`, `1`)"),
    "wildcard-host": ({}, bad("Host(`*.squaremcp.com`)"), "write HostRegexp(`^[^.]+\\.squaremcp\\.com$`)"),
    "unknown-matcher": ({}, bad("Hots(`squaremcp.com`)"), "did you mean 'Host'"),
    "unbalanced": ({}, bad("(Host(`a.com`) || Host(`b.com`)"), "unbalanced parentheses"),
    "single-quotes": ({}, bad("Host('a.com')"), "single quotes"),
    "dangling-service": ({}, bad(routers={"site": dict(ROUTER, service="sit")}), "service 'sit' is not defined"),
    "dangling-middleware": ({}, bad(routers={"site": dict(ROUTER, middlewares=["hsts"])}),
                            "middleware 'hsts' is not defined"),
    "prune-breaks-other-file": ({"routes.yml": SHARED, "other.yml": USES_SHARED}, {"prune": True},
                                "http.services: removing service shared breaks router"),
    "absent-breaks-other-file": ({"routes.yml": SHARED, "other.yml": USES_SHARED},
                                 {"state": "absent", "middlewares": ["hsts"]},
                                 "http.middlewares: removing middleware hsts breaks router"),
    "duplicate-router": ({"certificates.yml": "http:\n  routers:\n    site: {rule: 'Host(`x`)', service: x@docker}\n"},
                         bad(), "http.routers.site is also defined in"),
    "duplicate-middleware": ({"dashboard.yml": "http:\n  middlewares:\n    hsts: {headers: {stsSeconds: 1}}\n"},
                             bad(middlewares={"hsts": {"headers": {"stsSeconds": 2}}}),
                             "http.middlewares.hsts is also defined in"),
    "unparsable-existing": ({"routes.yml": "http:\n  routers: {site: [\n"}, bad(),
                            "is not valid YAML and was left untouched"),
    "unparsable-neighbour": ({"certificates.yml": "tls:\n  certificates:\n  - certFile: [\n"}, bad(),
                             "certificates.yml does not parse as YAML"),
    "unknown-router-key": ({}, bad(routers={"site": dict(ROUTER, entrypoints=["websecure"])}),
                           "unknown key (did you mean 'entryPoints'?)"),
    "removed-middleware-kind": ({}, bad(middlewares={"office": {"ipWhiteList": {"sourceRange": ["10.0.0.0/8"]}}}),
                                "use ipAllowList"),
    "failover-without-service": ({}, bad(services={"site": {"failover": {"fallback": "site@docker"}}}),
                                 "http.services.site.failover.service: required"),
    "bad-url": ({}, bad(services={"site": {"loadBalancer": {"servers": [{"url": "site:80"}]}}}), "is not a URL"),
    "no-servers": ({}, bad(services={"site": {"loadBalancer": {"servers": []}}}), "list at least one server"),
    "dashboard-without-auth": ({}, bad(routers={"dash": {"rule": "Host(`t.squaremcp.com`)", "service": "api@internal",
                                                         "tls": {}}}), "without authentication"),
    "unknown-entrypoint": ({"traefik.yml": STATIC}, bad(routers={"site": dict(ROUTER, entryPoints=["https"])}),
                           "'https' is not an entry point of the static config"),
    "routers-as-list": ({}, bad(routers=["site"]), "a list of names is only accepted with state=absent"),
    "bad-priority": ({}, bad(routers={"site": dict(ROUTER, priority="high")}), "priority: must be an integer"),
    # the content would change, so these failed only after rewriting the file before the fix
    "bad-mode": ({}, bad(mode="u=rwx,g=qq"), "mode 'u=rwx,g=qq' for "),
    "unknown-owner": ({}, bad(owner="nosuchuser-squaremcp"), "owner (user) 'nosuchuser-squaremcp' does not exist"),
    "unknown-group": ({}, bad(group="nosuchgroup-squaremcp"), "group 'nosuchgroup-squaremcp' does not exist"),
    "parent-is-a-file": ({"plain.yml": GOOD}, bad(file="plain.yml/routes.yml"), "cannot read "),
    "missing-directory": ({}, bad(file="missing/routes.yml"), "does not exist: create it first"),
}


def bad_cases(tmp_path, names):
    """Case directories (routes.yml = GOOD unless overridden) and module options for ``names``."""
    cases, before = [], {}
    for name in names:
        files, options, _message = BAD_INPUT[name]
        directory = case_dir(tmp_path, name, dict({"routes.yml": GOOD}, **files))
        case = dict(options, id=name, path=str(directory / options.get("file", "routes.yml")))
        case.pop("file", None)
        if "traefik.yml" in files:
            case["static_config"] = str(directory / "traefik.yml")
        cases.append(case)
        before[name] = snapshot(directory)
    return cases, before


@pytest.mark.parametrize("check", [False, True], ids=["real-run", "check-mode"])
def test_bad_input_fails_clearly_and_leaves_every_file_byte_identical(tmp_path, check):
    cases, before = bad_cases(tmp_path, sorted(BAD_INPUT))
    results = run_cases(tmp_path, cases, check=check)
    wrong = {}
    for name, (_files, _options, message) in sorted(BAD_INPUT.items()):
        result = results[name]
        if not (result.get("failed") and result["changed"] is False and message in result.get("msg", "")):
            wrong[name] = "failed=%s changed=%s msg=%s" % (result.get("failed"), result["changed"], result.get("msg"))
        elif snapshot(tmp_path / name) != before[name]:
            wrong[name] = "files changed after a failed run"
    assert wrong == {}


def test_unwritable_directory_fails_in_check_mode_and_for_real(tmp_path):
    directory = case_dir(tmp_path, "unwritable", {"routes.yml": GOOD})
    case = bad(id="unwritable", path=str(directory / "routes.yml"),
               routers={"site": ROUTER, "www": dict(ROUTER, rule="Host(`www.squaremcp.com`)")})
    before = snapshot(directory)
    with read_only(directory):
        results = [run_cases(tmp_path, [case], check=check)["unwritable"] for check in (True, False)]
    for result in results:
        assert result.get("failed") and result["changed"] is False, result
        assert "directory %s is not writable" % directory in result["msg"], result["msg"]
    assert snapshot(directory) == before


def test_backup_owner_group_and_mode_through_the_module(tmp_path):
    directory = case_dir(tmp_path, "attrs", {"routes.yml": GOOD})
    path = str(directory / "routes.yml")
    os.chmod(path, 0o600)
    www = {"site": ROUTER, "www": dict(ROUTER, rule="Host(`www.squaremcp.com`)")}
    base = {"path": path, "services": {"site": SERVICES["site"]}, "routers": www}
    results = run_cases(tmp_path, [
        dict(base, id="write", backup=True, owner="1234", group="4321", mode="u=rw,g=r,o="),
        dict(base, id="again", backup=True, owner="1234", group="4321", mode="0640"),
        dict(base, id="owner-only", owner="4321"),
    ], diff=True)
    write, again, owner_only = results["write"], results["again"], results["owner-only"]
    assert write["changed"] and write["routers"]["added"] == ["www"]
    with open(write["backup_file"]) as handle:
        assert handle.read() == GOOD, "the backup holds the previous file"
    assert os.path.dirname(write["backup_file"]) == str(directory)
    assert again["changed"] is False and "backup_file" not in again
    assert owner_only["changed"] and owner_only["routers"] == {"added": [], "updated": [], "removed": []}
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (4321, 4321, 0o640)
    assert sorted(os.listdir(str(directory))) == sorted(["routes.yml", os.path.basename(write["backup_file"])])


def test_routes_file_is_read_on_the_controller(tmp_path):
    """routes_file (JSON or YAML, beside the play or absolute) gives the same file as the options; mixing, unknown keys
    and a missing file are refused with the file untouched."""
    for case in ("options", "json", "yaml", "refused"):
        (tmp_path / case).mkdir()  # one file provider directory each: the same routers twice would be duplicates
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "routes.json").write_text(json.dumps({"routers": ROUTERS, "services": SERVICES}))
    (tmp_path / "routes.yml").write_text(yaml.safe_dump({"routers": ROUTERS, "services": SERVICES}))
    (tmp_path / "bad.json").write_text(json.dumps({"routers": ROUTERS, "servces": SERVICES}))
    refused = tmp_path / "refused"
    results = run_cases(tmp_path, [
        {"id": "options", "path": str(tmp_path / "options" / "routes.yml"), "routers": ROUTERS, "services": SERVICES},
        {"id": "json", "path": str(tmp_path / "json" / "routes.yml"), "routes_file": "routes.json"},
        {"id": "yaml", "path": str(tmp_path / "yaml" / "routes.yml"), "routes_file": str(tmp_path / "routes.yml")},
        {"id": "both", "path": str(refused / "both.yml"), "routes_file": "routes.json", "routers": ROUTERS},
        {"id": "unknown", "path": str(refused / "unknown.yml"), "routes_file": str(tmp_path / "bad.json")},
        {"id": "missing", "path": str(refused / "missing.yml"), "routes_file": "nowhere.json"},
    ])
    for case in ("options", "json", "yaml"):
        assert results[case].get("changed") is True, results[case]
    written = (tmp_path / "options" / "routes.yml").read_text()
    assert (tmp_path / "json" / "routes.yml").read_text() == written
    assert (tmp_path / "yaml" / "routes.yml").read_text() == written
    assert "routers given both in routes_json (or routes_file) and in the task" in results["both"]["msg"]
    assert "unknown top-level key(s) servces" in results["unknown"]["msg"]
    assert "nowhere.json: not found on the controller" in results["missing"]["msg"]
    assert os.listdir(refused) == []


def test_routes_file_secrets_stay_out_of_the_output(tmp_path):
    """A basicAuth hash read from routes_file is written to the file but shown nowhere, even with -vvv --diff."""
    secret = "admin:$2y$05$" + "S3cretHashValue" * 3
    (tmp_path / "files").mkdir()
    (tmp_path / "dynamic").mkdir()
    (tmp_path / "files" / "routes.json").write_text(json.dumps({
        "routers": {"dash": dict(ROUTERS["site"], middlewares=["auth"])}, "services": {"site": SERVICES["site"]},
        "middlewares": {"auth": {"basicAuth": {"users": [secret]}}}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [{"squaremcp.infra.traefik_routes": {"path": str(tmp_path / "dynamic" / "routes.yml"),
                                                      "routes_file": "routes.json"}}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml"), "-vvv", "--diff"], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and "changed=1" in proc.stdout, proc.stdout[-3000:]
    assert "S3cretHashValue" not in proc.stdout
    assert secret in (tmp_path / "dynamic" / "routes.yml").read_text()
